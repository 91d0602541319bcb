"""Simulated callers press keys into the real hotline flow on the sandbox Asterisk, through the real FastAGI
server and the real prompts. Calls of one kind run together (each takes as long as its prompts), and each
test checks its own call: caller dials 1022, presses 4 then 2, and is queued for health advice."""

from __future__ import annotations

import asyncio
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from agi_scripts.case_desk import DatabaseCaseDesk
from agi_scripts.fastagi import FastAGIServer
from agi_scripts.ivr_app import build_server
from casework import workflow as wf
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import Case, Role, Status
from hotline.db.numbers import is_valid
from hotline.settings import Settings
from ivr.channel import CallInfo
from shell.callsim import CallRequest, CallResult, place_call
from shell.sandbox.runner import Sandbox
from tests.conftest import ROOT, TEST_SETTINGS
from tests.helpers.ivr import agi_commands, failed_media

pytestmark = pytest.mark.asterisk

GAP = "wwww"  # 2 s between keys: the next prompt has started when the next key arrives


def queue_joined(result: CallResult) -> str:
    return result.queue.removeprefix("q-")


@pytest.fixture(scope="module")
async def ivr(site: Settings, sandbox: Sandbox) -> AsyncIterator[FastAGIServer]:
    await upgrade_async(site.database_url)
    server = build_server(site)
    await server.start(site.agi.host, site.agi.port)
    yield server
    await server.close()


@pytest.fixture(scope="module")
async def reserved_number(site: Settings, ivr: FastAGIServer) -> str:
    """An earlier call's case, as the AMI bridge writes it, being handled by an agent."""
    engine = make_engine(site.database_url)
    desk = DatabaseCaseDesk(sessions(engine))
    call = CallInfo("t.1", f"earlier-{time.time_ns()}", "0900000000", "1022")
    number = await desk.reserve_case_number(call)
    async with sessions(engine)() as session, session.begin():
        session.add(
            Case(
                number=number,
                linkedid=call.linkedid,
                caller=call.caller,
                did=call.did,
                started_at=datetime.now(UTC),
                status=Status.IN_PROGRESS.value,
            )
        )
    await engine.dispose()
    return number


@pytest.fixture(scope="module")
async def requested_number(site: Settings, ivr: FastAGIServer) -> str:
    """An earlier call whose citizen's request the center forwarded to an agency."""
    engine = make_engine(site.database_url)
    desk = DatabaseCaseDesk(sessions(engine))
    call = CallInfo("t.2", f"earlier-{time.time_ns()}", "0900000001", "1022")
    number = await desk.reserve_case_number(call)
    now = datetime.now(UTC)
    agent = wf.Actor("an", Role.AGENT)
    request = wf.open_request(number, agent, now, topic="violation", words="Lấn chiếm vỉa hè")
    wf.forward(site, request, agent, "quan_1", now)
    async with sessions(engine)() as session, session.begin():
        session.add(
            Case(number=number, linkedid=call.linkedid, caller=call.caller, did=call.did, started_at=now)
        )
        session.add(request)
    await engine.dispose()
    return number


SCENARIOS: dict[str, dict[str, object]] = {
    "1": {"keys": "1", "hangup_after": 25},
    "2": {"keys": "2", "hangup_after": 25},
    "3": {"keys": "3", "hangup_after": 25},
    "4-1": {"keys": f"4{GAP}1", "hangup_after": 25},
    "4-2": {"keys": f"4{GAP}2", "hangup_after": 25},
    "4-3": {"keys": f"4{GAP}3", "hangup_after": 25},
    "0": {"keys": "0", "hangup_after": 8},
    "silence": {"keys": "", "hangup_after": 50},
    "invalid": {"keys": f"7{GAP}8{GAP}5", "hangup_after": 10},
    "repeat": {"keys": f"*{GAP}2", "hangup_after": 25},
    "hangup": {"keys": "4", "hangup_after": 3},
    "readback": {"keys": "1" + "w" * 20 + "1", "hangup_after": 30},
    "mobile": {"number": "02371022", "keys": "0", "hangup_after": 8},
    "unknown-case": {"keys": f"9{GAP}12345678#", "hangup_after": 6},
}


@pytest.fixture(scope="module")
async def calls(
    site: Settings, ivr: FastAGIServer, reserved_number: str, requested_number: str
) -> AsyncIterator[dict[str, asyncio.Task[CallResult]]]:
    scenarios = {
        **SCENARIOS,
        "known-case": {"keys": f"9{GAP}{reserved_number}#", "hangup_after": 8},
        "known-request": {"keys": f"9{GAP}{requested_number}#", "hangup_after": 10},
    }
    tasks = {}
    for name, spec in scenarios.items():
        options = {k: v for k, v in spec.items() if k != "number"}
        request = CallRequest(str(spec.get("number", "1022")), first_wait=2.0, **options)  # type: ignore[arg-type]
        tasks[name] = asyncio.create_task(place_call(site, request), name=f"call-{name}")
        await asyncio.sleep(0.2)  # Asterisk takes calls one after another anyway
    yield tasks
    for task in tasks.values():
        task.cancel()


@pytest.mark.parametrize(
    ("scenario", "queue", "topic"),
    [
        ("1", "violation", "violation"),
        ("2", "suggestion", "suggestion"),
        ("3", "welfare", "welfare"),
        ("4-1", "health", "health.symptoms"),
        ("4-2", "health", "health.vaccination"),
        ("4-3", "health", "health.testing"),
        ("0", "operator", "operator"),
    ],
)
async def test_every_main_menu_option_reaches_its_queue(
    calls: dict[str, asyncio.Task[CallResult]], scenario: str, queue: str, topic: str
) -> None:
    result = await calls[scenario]
    found = result.variables
    assert found["HOTLINE_DEST"] == f"queue-{queue}", found
    assert found["HOTLINE_TOPIC"] == topic
    assert found["HOTLINE_PATH"] == scenario
    assert found["HOTLINE_IVR_RESULT"] == "chosen"
    assert queue_joined(result) == queue
    assert failed_media(result) == []  # every prompt and digit was found and played
    if scenario != "0":
        assert is_valid(found["HOTLINE_CASE_NO"])
        assert f'SAY DIGITS {found["HOTLINE_CASE_NO"]} ""' in agi_commands(result)


async def test_a_silent_caller_joins_the_operator_queue_within_45_seconds(
    calls: dict[str, asyncio.Task[CallResult]],
) -> None:
    result = await calls["silence"]
    assert result.variables["HOTLINE_DEST"] == "queue-operator"
    assert result.variables["HOTLINE_IVR_RESULT"] == "menu_failed"
    assert queue_joined(result) == "operator"
    commands = agi_commands(result)
    assert sum(c.startswith("GET DATA hotline/main_menu") for c in commands) == 1
    assert not any(c.startswith("STREAM FILE hotline/no_input") for c in commands)
    seconds = result.seconds_to_queue
    assert seconds is not None and seconds < 45, result.describe()


async def test_a_key_pressed_during_the_welcome_acts_at_once(
    calls: dict[str, asyncio.Task[CallResult]],
) -> None:
    """The caller who knows the menu presses 0 two seconds into the welcome: the menu is never played."""
    result = await calls["0"]
    commands = agi_commands(result)
    assert not any("hotline/main_menu" in c for c in commands), commands
    assert queue_joined(result) == "operator"


async def test_three_wrong_keys_send_the_caller_to_an_operator(
    calls: dict[str, asyncio.Task[CallResult]],
) -> None:
    result = await calls["invalid"]
    assert (result.variables["HOTLINE_DEST"], result.variables["HOTLINE_IVR_RESULT"]) == (
        "queue-operator",
        "menu_failed",
    )
    assert result.as_dict()["dtmf"] == "785"
    assert sum(c.startswith("STREAM FILE hotline/invalid") for c in agi_commands(result)) == 2
    assert queue_joined(result) == "operator"


async def test_star_repeats_the_menu(calls: dict[str, asyncio.Task[CallResult]]) -> None:
    result = await calls["repeat"]
    assert result.variables["HOTLINE_DEST"] == "queue-suggestion"
    assert result.variables["HOTLINE_PATH"] == "2"
    assert any(c.startswith("GET DATA hotline/main_menu") for c in agi_commands(result))


async def test_hanging_up_mid_menu_leaves_the_path_so_far(calls: dict[str, asyncio.Task[CallResult]]) -> None:
    result = await calls["hangup"]
    assert result.variables["HOTLINE_PATH"] == "4"
    assert result.variables["HOTLINE_IVR_NODE"] == "health_menu"
    assert "HOTLINE_DEST" not in result.variables
    assert not result.named("QueueCallerJoin")


async def test_case_number_is_read_again_on_request(calls: dict[str, asyncio.Task[CallResult]]) -> None:
    result = await calls["readback"]
    number = result.variables["HOTLINE_CASE_NO"]
    assert sum(c == f'SAY DIGITS {number} ""' for c in agi_commands(result)) == 2
    assert result.variables["HOTLINE_DEST"] == "queue-violation"


async def test_the_mobile_number_has_its_own_greeting(calls: dict[str, asyncio.Task[CallResult]]) -> None:
    result = await calls["mobile"]
    assert result.variables["HOTLINE_DID"] == "02371022"
    commands = agi_commands(result)
    assert any(c.startswith("STREAM FILE hotline/welcome_mobile") for c in commands), commands
    assert result.variables["HOTLINE_DEST"] == "queue-operator"


async def test_case_status_by_number(calls: dict[str, asyncio.Task[CallResult]]) -> None:
    known = agi_commands(await calls["known-case"])
    assert any(c.startswith("STREAM FILE hotline/case_status_in_progress") for c in known), known
    unknown = agi_commands(await calls["unknown-case"])
    assert any(c.startswith("STREAM FILE hotline/case_not_found") for c in unknown), unknown


async def test_key_9_reads_the_status_of_the_request_under_the_number(
    calls: dict[str, asyncio.Task[CallResult]],
) -> None:
    heard = agi_commands(await calls["known-request"])
    assert any(c.startswith("STREAM FILE hotline/case_status_request_forwarded") for c in heard), heard


# -- one at a time: these need the FastAGI port for themselves --------------------------------------------
@pytest.fixture
async def agi_port_free(calls: dict[str, asyncio.Task[CallResult]], ivr: FastAGIServer) -> None:
    """Wait for the concurrent calls, then stop the module's FastAGI server (restarted after)."""
    await asyncio.gather(*calls.values(), return_exceptions=True)
    await ivr.close()


async def test_after_hours_caller_leaves_a_voice_message(site: Settings, agi_port_free: None) -> None:
    closed = site_settings.load(
        TEST_SETTINGS, overrides={"hours.always_open": False, "hours.clock": "2026-11-22T23:30:00"}
    )
    server = build_server(closed)
    await server.start(closed.agi.host, closed.agi.port)
    try:
        result = await place_call(
            site, CallRequest("1022", keys="ww1", first_wait=1.0, say="hotline/main_menu", hangup_after=8)
        )
    finally:
        await server.close()
    assert result.variables["HOTLINE_DEST"] == "voicemail-operator"
    assert result.variables["HOTLINE_TOPIC"] == "after_hours"
    message = Path(result.variables["HOTLINE_VOICEMAIL"])
    assert message.is_file()
    assert message.stat().st_size > 44 + 8000 * 2 * 3  # more than 3 s of what the caller said


async def test_without_a_fastagi_server_the_caller_reaches_an_operator(
    site: Settings, agi_port_free: None
) -> None:
    result = await place_call(site, CallRequest("1022", hangup_after=3))
    assert result.variables["HOTLINE_FALLBACK"] == "FAILURE"
    assert queue_joined(result) == "operator"
    assert result.named("AgentConnect")


class _ClassicAGI(socketserver.ThreadingTCPServer):
    """Starts the classic script once per call with the AGI connection as its stdin and stdout: the script
    reads and writes AGI exactly as under AGI(hotline-agi), without Asterisk having to spawn a host
    program from inside the sandbox's chroot."""

    allow_reuse_address = True
    daemon_threads = True


class _SpawnScript(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock: socket.socket = self.request
        subprocess.run(
            [str(ROOT / ".venv" / "bin" / "hotline-agi")],
            stdin=sock.fileno(),
            stdout=sock.fileno(),
            env={"HOTLINE_SETTINGS": str(TEST_SETTINGS), "PATH": "/usr/bin:/bin"},
            timeout=120,
            check=False,
        )


@pytest.fixture
def classic_agi(site: Settings, agi_port_free: None) -> Iterator[None]:
    server = _ClassicAGI((site.agi.host, site.agi.port), _SpawnScript)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield
    server.shutdown()
    server.server_close()


async def test_the_classic_agi_script_runs_the_same_flow(site: Settings, classic_agi: None) -> None:
    result = await place_call(site, CallRequest("1022", keys=f"4{GAP}2", hangup_after=22))
    assert result.variables["HOTLINE_DEST"] == "queue-health"
    assert result.variables["HOTLINE_TOPIC"] == "health.vaccination"
    assert is_valid(result.variables["HOTLINE_CASE_NO"])
    assert queue_joined(result) == "health"
