"""The FastAGI server against a scripted Asterisk peer over real TCP: the hotline flow end to end, and the
panoramisk 1.4 defects it must not have (ASTERISK.md §4)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from agi_scripts.agi_channel import AGIChannel
from agi_scripts.fastagi import AGISession, FastAGIServer
from agi_scripts.ivr_app import build_server
from agi_scripts.protocol import AGIHangup, quote
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import CaseNumberCounter
from hotline.db.numbers import is_valid
from tests.agi_peer import KeyScript, environment, run_session, variables
from tests.conftest import TEST_SETTINGS


@pytest.fixture
async def hotline_agi(tmp_path: Path) -> AsyncIterator[tuple[FastAGIServer, int, str]]:
    db = f"sqlite+aiosqlite:///{tmp_path}/hotline.db"
    site = site_settings.load(TEST_SETTINGS, overrides={"state_dir": str(tmp_path), "database.url": db})
    await upgrade_async(db)
    server = build_server(site)
    listener = await server.start("127.0.0.1", 0)
    yield server, listener.sockets[0].getsockname()[1], db
    await server.close()


@pytest.fixture
async def probe() -> AsyncIterator[tuple[FastAGIServer, int, list[object]]]:
    """A server with a 'probe' route that records what it saw."""
    seen: list[object] = []
    server = FastAGIServer(env_timeout=0.5)

    async def route(session: AGISession) -> None:
        seen.append(dict(session.env))
        channel = AGIChannel(session.stream)
        seen.append(await channel.get_variable("CALLERID(name)"))
        await channel.read_digits(["main_menu"], 5, 1)
        seen.append("after GET DATA")

    server.route("probe", route)
    listener = await server.start("127.0.0.1", 0)
    yield server, listener.sockets[0].getsockname()[1], seen
    await server.close()


async def test_a_call_walks_the_hotline_flow_and_gets_a_case_number(
    hotline_agi: tuple[FastAGIServer, int, str],
) -> None:
    _, port, db = hotline_agi
    result = await run_session(
        "127.0.0.1", port, environment(linkedid="1700000000.7"), KeyScript(["1", None])
    )
    assert result.closed_by_server
    found = variables(result.commands)
    assert found["HOTLINE_DEST"] == "queue-violation"
    assert (found["HOTLINE_TOPIC"], found["HOTLINE_PATH"], found["HOTLINE_IVR_RESULT"]) == (
        "violation",
        "1",
        "chosen",
    )
    assert is_valid(found["HOTLINE_CASE_NO"])
    assert f'SAY DIGITS {found["HOTLINE_CASE_NO"]} ""' in result.commands
    assert found["HOTLINE_CASE_NO"] == "10000016"  # the first number of a new database
    again = await run_session("127.0.0.1", port, environment(linkedid="1700000000.8"), KeyScript(["2", None]))
    assert variables(again.commands)["HOTLINE_CASE_NO"] == "10000024"
    engine = make_engine(db)
    async with sessions(engine)() as session:
        counter = await session.scalar(select(CaseNumberCounter.next_value))
    await engine.dispose()
    assert counter == 1 + 100  # one block taken for both calls


async def test_a_peer_that_leaves_inside_its_environment_stops_nothing_else(
    hotline_agi: tuple[FastAGIServer, int, str],
) -> None:
    server, port, _ = hotline_agi
    for _ in range(3):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"agi_network: yes\nagi_network_script: iv")
        await writer.drain()
        writer.close()
    result = await asyncio.wait_for(
        run_session("127.0.0.1", port, environment(), KeyScript(["0"])), timeout=5
    )
    assert variables(result.commands)["HOTLINE_DEST"] == "queue-operator"
    await asyncio.sleep(0.05)
    assert server.refused == 3


async def test_a_silent_peer_times_out_without_holding_up_others(
    probe: tuple[FastAGIServer, int, list[object]],
) -> None:
    server, port, _ = probe
    _, silent = await asyncio.open_connection("127.0.0.1", port)
    silent.write(b"agi_network: yes\n")  # then nothing, and the socket stays open
    await silent.drain()
    result = await asyncio.wait_for(run_session("127.0.0.1", port, environment("probe"), KeyScript([])), 2)
    assert result.closed_by_server
    await asyncio.sleep(1.0)
    assert server.refused == 1
    silent.close()


async def test_utf8_split_across_reads_arrives_whole(probe: tuple[FastAGIServer, int, list[object]]) -> None:
    _, port, seen = probe
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    env = environment("probe")
    cut = env.index("ễ".encode()) + 1
    writer.write(env[:cut])
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(env[cut:])
    command = await reader.readline()
    assert command.startswith(b"GET VARIABLE")
    answer = "200 result=1 (Trần Thị Bình)\n".encode()
    cut = answer.index("ầ".encode()) + 2
    writer.write(answer[:cut])
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.write(answer[cut:])
    await reader.readline()
    writer.write(b"200 result=1\n")
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.close()
    assert seen[0]["agi_calleridname"] == "Nguyễn Văn An"  # type: ignore[index]
    assert seen[1] == "Trần Thị Bình"


@pytest.mark.parametrize("answer", ["HANGUP\n200 result=-1", "511 Command Not Permitted on a dead channel"])
async def test_a_hangup_raises_and_ends_the_session_cleanly(
    hotline_agi: tuple[FastAGIServer, int, str], caplog: pytest.LogCaptureFixture, answer: str
) -> None:
    _, port, _ = hotline_agi

    def respond(command: str) -> str:
        return answer if command.startswith("GET DATA") else KeyScript([])(command)

    with caplog.at_level(logging.INFO):
        result = await run_session("127.0.0.1", port, environment(), respond)
    assert result.closed_by_server
    assert not any(r.levelno >= logging.ERROR for r in caplog.records), caplog.text
    assert "HOTLINE_DEST" not in variables(result.commands)
    assert "hangup ->" in caplog.text


async def test_unknown_route_and_failing_route_close_only_their_session(
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = FastAGIServer()

    async def broken(session: AGISession) -> None:
        raise RuntimeError("bug in a route")

    server.route("broken", broken)
    port = (await server.start("127.0.0.1", 0)).sockets[0].getsockname()[1]
    try:
        with caplog.at_level(logging.INFO):
            unknown = await run_session("127.0.0.1", port, environment("nope"), KeyScript([]))
            failing = await run_session("127.0.0.1", port, environment("broken"), KeyScript([]))
        assert unknown.closed_by_server and unknown.commands == []
        assert failing.closed_by_server and failing.commands == []
        assert "no route 'nope'" in caplog.text
        assert "RuntimeError: bug in a route" in caplog.text
    finally:
        await server.close()


def test_routes_must_be_async_and_unique() -> None:
    server = FastAGIServer()

    def plain(session: AGISession) -> None: ...

    with pytest.raises(TypeError, match="must be an async function"):
        server.route("plain", plain)  # type: ignore[arg-type]

    async def ok(session: AGISession) -> None: ...

    server.route("ok", ok)
    with pytest.raises(ValueError, match="already taken"):
        server.route("ok", ok)


def test_arguments_are_quoted_with_escapes() -> None:
    assert quote('nói "xin chào" \\ ok') == '"nói \\"xin chào\\" \\\\ ok"'
    with pytest.raises(ValueError, match="line break"):
        quote("a\nb")
    assert issubclass(AGIHangup, Exception)


async def test_a_peer_outside_the_allow_list_mints_no_case_number(tmp_path: Path) -> None:
    """Any local process (or, with a wide listen address, any machine) could otherwise open sessions and
    take case numbers: only Asterisk's address may."""
    db = f"sqlite+aiosqlite:///{tmp_path}/hotline.db"
    site = site_settings.load(
        TEST_SETTINGS,
        overrides={"state_dir": str(tmp_path), "database.url": db, "agi.allow": ["127.0.0.1/32"]},
    )
    await upgrade_async(db)
    server = build_server(site)
    listener = await server.start("0.0.0.0", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        # 127.0.0.2 is this machine too, but not the address the site allows.
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
        writer.write(environment(linkedid="1700000000.9"))
        try:
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 2)
        except ConnectionResetError:  # closed on before it had read what was sent
            answer = b""
        assert answer == b""  # nothing answered: no command, no case number
        writer.close()
        result = await run_session(
            "127.0.0.1", port, environment(linkedid="1700000001.1"), KeyScript(["1", None])
        )
        assert is_valid(variables(result.commands)["HOTLINE_CASE_NO"])
        assert (server.foreign, server.served) == (1, 1)
    finally:
        await server.close()
