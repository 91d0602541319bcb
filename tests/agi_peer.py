"""Asterisk's side of a FastAGI session, for unit tests and the benchmark: sends an AGI environment,
answers each command with a scripted result, records the commands it received."""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agi_scripts.fastagi import FastAGIServer, Route
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.settings import Settings
from tests.conftest import TEST_SETTINGS

Responder = Callable[[str], str]


def free_port() -> int:
    """A TCP port on the loopback nobody listens on now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` different TCP ports on the loopback nobody listens on now: each is held until all are
    chosen (ports taken one after another may come back the same)."""
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            s = held.enter_context(socket.socket())
            s.bind(("127.0.0.1", 0))
            ports.append(int(s.getsockname()[1]))
        return ports


def environment(
    script: str = "ivr", did: str = "1022", linkedid: str = "1700000000.1", **extra: str
) -> bytes:
    env = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1/{script}",
        "agi_channel": "PJSIP/trunk-00000001",
        "agi_language": "vi",
        "agi_uniqueid": linkedid,
        "agi_callerid": "0912345678",
        "agi_calleridname": "Nguyễn Văn An",
        "agi_context": "hotline-entry",
        "agi_extension": "s",
        "agi_arg_1": did,
        "agi_arg_2": linkedid,
        **extra,
    }
    return "".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n"


class KeyScript:
    """Answers like a caller who presses the given keys, one per GET DATA / interrupting STREAM FILE
    (None = silence), and for everything else like a live channel."""

    def __init__(self, keys: list[str | None], interrupt_streams: bool = False) -> None:
        self.keys = list(keys)
        self.interrupt_streams = interrupt_streams

    def __call__(self, command: str) -> str:
        if command.startswith("GET DATA"):
            key = self.keys.pop(0) if self.keys else None
            return f"200 result={key}" if key else "200 result= (timeout)"
        if command.startswith("STREAM FILE") and self.interrupt_streams and self.keys:
            key = self.keys.pop(0)
            return f"200 result={ord(key) if key else 0} endpos=8000"
        if command.startswith(("STREAM FILE", "SAY DIGITS")):
            return "200 result=0 endpos=8000"
        if command.startswith("GET VARIABLE"):
            return "200 result=1 (x)"
        return "200 result=1"


@dataclass
class PeerResult:
    commands: list[str] = field(default_factory=list)
    closed_by_server: bool = False
    latencies: list[float] = field(default_factory=list)  # seconds from our answer to its next command


MEDIA = ("STREAM FILE", "GET DATA", "SAY DIGITS", "EXEC")


async def run_session(
    host: str, port: int, env: bytes, respond: Responder, max_commands: int = 500, media_seconds: float = 0.0
) -> PeerResult:
    """media_seconds: how long Asterisk takes to answer a command that plays sound (the prompt's length),
    so that many calls are in progress at once as on a real hotline, not all typing at once."""
    reader, writer = await asyncio.open_connection(host, port)
    result = PeerResult()
    loop = asyncio.get_running_loop()
    writer.write(env)
    await writer.drain()
    answered_at = loop.time()
    try:
        for _ in range(max_commands):
            line = await reader.readline()
            if not line:
                result.closed_by_server = True
                break
            result.latencies.append(loop.time() - answered_at)
            command = line.decode().rstrip("\n")
            result.commands.append(command)
            if media_seconds and command.startswith(MEDIA):
                await asyncio.sleep(media_seconds)
            writer.write(respond(command).encode() + b"\n")
            await writer.drain()
            answered_at = loop.time()
    finally:
        writer.close()
    return result


def variables(commands: list[str]) -> dict[str, str]:
    out = {}
    for c in commands:
        m = re.match(r'SET VARIABLE (\S+) "(.*)"$', c)
        if m:
            out[m[1]] = m[2]
    return out


@contextlib.asynccontextmanager
async def route_server(
    tmp_path: Path, name: str, route: Callable[[Settings, async_sessionmaker[AsyncSession]], Route]
) -> AsyncIterator[tuple[Settings, int]]:
    """One FastAGI route of the hotline's, served on a free loopback port over a real SQLite database of
    its own: (the settings, the port)."""
    url = f"sqlite+aiosqlite:///{tmp_path}/hotline.db"
    settings = site_settings.load(TEST_SETTINGS, overrides={"database.url": url, "state_dir": str(tmp_path)})
    await upgrade_async(url)
    engine = make_engine(url)
    agi = FastAGIServer(allow=settings.agi_peers)
    agi.route(name, route(settings, sessions(engine)))
    port = free_port()
    await agi.start("127.0.0.1", port)
    try:
        yield settings, port
    finally:
        await agi.close(grace=1.0)
        await engine.dispose()
