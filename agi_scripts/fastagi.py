"""The FastAGI server: Asterisk's AGI(agi://host:port/<script>) connects here, one TCP session per call.

Built on asyncio streams rather than panoramisk's Application, whose defects would hurt every caller at
once: a peer that disconnects inside its environment spins the event loop forever, a UTF-8 character split
across reads is dropped, a hangup comes back as a dict, and plain functions cannot be routes. Here each
session reads whole lines with deadlines, a broken peer ends only its own session, and a hangup raises.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from agi_scripts.protocol import (
    AGIHangup,
    AGIProtocolError,
    AGIResult,
    AGIUsageError,
    parse_result,
    read_environment,
)

log = logging.getLogger(__name__)

ENV_TIMEOUT = 5.0
# A command may legitimately take long (a 40 s prompt, then the caller's time to press a key), but a peer
# that never answers must not hold a session for ever.
COMMAND_TIMEOUT = 300.0


class AGIStream:
    """Commands and results over one AGI connection.

    Waiting is bounded without a timer per command (timers on every command cost more CPU than the rest
    of the server): a stream notes until when it waits in `deadline`, and the server's watchdog aborts the
    connections that overstay it.
    """

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float = COMMAND_TIMEOUT
    ) -> None:
        self.reader, self.writer, self.timeout = reader, writer, timeout
        self.hungup = False
        self.deadline = math.inf
        self.timed_out = ""
        self._clock = asyncio.get_running_loop().time

    def expire(self, reason: str) -> None:
        """Called by the watchdog: end the wait by closing the connection."""
        self.timed_out = reason
        self.writer.transport.abort()

    async def command(self, line: str) -> AGIResult:
        if self.hungup:
            raise AGIHangup("channel already hung up")
        self.writer.write(line.encode("utf-8") + b"\n")
        await self.writer.drain()
        while True:
            text = await self._line()
            if text == "HANGUP":
                # Asterisk announces the hangup out of band; the command's own result still follows.
                self.hungup = True
                continue
            if text.startswith("100"):
                continue  # "Trying...": the real result comes next
            if text.startswith("520-"):
                usage = [text]
                while not (text := await self._line()).startswith("520 "):
                    usage.append(text)
                raise AGIUsageError(f"{line}: " + " ".join(usage))
            result = parse_result(text)
            if self.hungup and result.result == "-1":
                raise AGIHangup(text)
            return result

    async def _line(self) -> str:
        self.deadline = self._clock() + self.timeout
        try:
            raw = await self.reader.readline()
        except (ValueError, asyncio.LimitOverrunError):
            raise AGIProtocolError("AGI result line too long") from None
        except ConnectionError:
            raw = b""
        finally:
            self.deadline = math.inf
        if not raw:
            self.hungup = True
            raise AGIHangup(self.timed_out or "AGI connection closed")
        return raw.decode("utf-8", "replace").rstrip("\r\n")


@dataclass
class AGISession:
    env: dict[str, str]
    stream: AGIStream
    args: list[str] = field(default_factory=list)

    @property
    def script(self) -> str:
        return self.env.get("agi_network_script", "")


Route = Callable[[AGISession], Awaitable[None]]


class FastAGIServer:
    """`allow`: the networks whose peers may start a session (Asterisk's address); anyone else is closed on
    before a byte is read. FastAGI has no authentication of its own, and a session mints case numbers."""

    def __init__(
        self,
        *,
        env_timeout: float = ENV_TIMEOUT,
        command_timeout: float = COMMAND_TIMEOUT,
        allow: Sequence[str] = ("127.0.0.1/32", "::1/128"),
    ) -> None:
        self.allow = [ipaddress.ip_network(net, strict=False) for net in allow]
        self.routes: dict[str, Route] = {}
        self.env_timeout = env_timeout
        self.command_timeout = command_timeout
        self.server: asyncio.Server | None = None
        self.sessions: set[asyncio.Task[None]] = set()
        self.streams: set[AGIStream] = set()
        # Called once the server listens (e.g. to reserve case numbers before the first caller).
        self.on_start: list[Callable[[], object]] = []
        self._watchdog: asyncio.Task[None] | None = None
        self.served = 0
        self.refused = 0
        self.foreign = 0  # connections from peers outside `allow`

    def route(self, script: str, handler: Route) -> None:
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"FastAGI route {script!r}: {handler!r} must be an async function")
        if script in self.routes:
            raise ValueError(f"FastAGI route {script!r} is already taken")
        self.routes[script] = handler

    async def start(self, host: str, port: int) -> asyncio.Server:
        self.server = await asyncio.start_server(
            self._client, host, port, limit=64 * 1024, reuse_address=True
        )
        self._watchdog = asyncio.create_task(self._watch(), name="fastagi-watchdog")
        for hook in self.on_start:
            hook()
        log.info("FastAGI listening on %s:%s (%s)", host, port, ", ".join(sorted(self.routes)))
        return self.server

    async def close(self, grace: float = 5.0) -> None:
        if self.server is not None:
            self.server.close()
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.sessions:
            _, pending = await asyncio.wait(self.sessions, timeout=grace)
            for task in pending:
                task.cancel()
        if self.server is not None:
            await self.server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self.sessions.add(task)
        peer = writer.get_extra_info("peername")
        if not self._allowed(peer):
            self.foreign += 1
            log.warning("FastAGI: connection from %s refused: not in [agi] allow", peer)
            writer.close()
            if task is not None:
                self.sessions.discard(task)
            return
        stream = AGIStream(reader, writer, self.command_timeout)
        self.streams.add(stream)
        try:
            stream.deadline = asyncio.get_running_loop().time() + self.env_timeout
            try:
                env = await read_environment(reader)
            except AGIProtocolError as exc:
                self.refused += 1
                log.warning("FastAGI peer %s refused: %s", peer, stream.timed_out or exc)
                return
            finally:
                stream.deadline = math.inf
            session = AGISession(env, stream, _args(env))
            handler = self.routes.get(session.script)
            if handler is None:
                self.refused += 1
                log.error(
                    "FastAGI: no route %r (from %s); the dialplan sends the caller on", session.script, peer
                )
                return
            self.served += 1
            try:
                await handler(session)
            except AGIHangup:
                pass  # the caller hung up: a normal end
            except Exception:
                # The caller is not lost: with no HOTLINE_DEST the dialplan queues them for an operator.
                log.exception("FastAGI route %r failed on %s", session.script, env.get("agi_channel"))
        finally:
            self.streams.discard(stream)
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
            if task is not None:
                self.sessions.discard(task)

    def _allowed(self, peer: object) -> bool:
        try:
            address = ipaddress.ip_address(str(peer[0]) if isinstance(peer, tuple | list) else "")
        except (TypeError, IndexError, ValueError):
            return False  # not an IP peer (a UNIX socket is never configured)
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in net for net in self.allow)

    async def _watch(self) -> None:
        interval = max(0.05, min(1.0, self.env_timeout / 4, self.command_timeout / 4))
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            for stream in [s for s in self.streams if s.deadline < now]:
                stream.expire(f"no answer from the AGI peer in time (limit {stream.timeout:g} s or less)")


def _args(env: dict[str, str]) -> list[str]:
    args = []
    for i in range(1, 64):
        key = f"agi_arg_{i}"
        if key not in env:
            break
        args.append(env[key])
    return args
