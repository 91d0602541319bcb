"""Nothing is lost when the bridge or Asterisk goes away: killing the bridge mid-call, a call that ends
while no bridge runs, and a restart of Asterisk each still end as exactly one correct case."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from agi_scripts.ivr_app import build_server
from ami_bridge import agents
from ami_bridge.connection import AMIConnection
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import Case
from hotline.db.numbers import is_valid
from hotline.settings import Settings
from shell.callsim import CallRequest, connect_ami, place_call
from shell.sandbox.runner import Sandbox
from shell.service import Hotline
from tests.conftest import ROOT, TEST_SETTINGS
from tests.helpers.cases import final_case, kinds, until_answered
from tests.services import start_hotline

pytestmark = pytest.mark.asterisk


@pytest.fixture(scope="module")
async def ivr(site: Settings, sandbox: Sandbox) -> AsyncIterator[None]:
    await upgrade_async(site.database_url)
    server = build_server(site)
    await server.start(site.agi.host, site.agi.port)
    yield
    await server.close()


async def all_cases(site: Settings, linkedids: list[str]) -> dict[str, tuple[object, ...]]:
    from sqlalchemy import select

    engine = make_engine(site.database_url)
    try:
        async with sessions(engine)() as session:
            rows = await session.execute(
                select(Case.linkedid, Case.updated_at, Case.outcome).where(Case.linkedid.in_(linkedids))
            )
            return {row[0]: tuple(row) for row in rows}
    finally:
        await engine.dispose()


async def start_bridge_process() -> asyncio.subprocess.Process:
    return await start_hotline("bridge", ready=b"AMI bridge connected", timeout=30)


def kill(proc: asyncio.subprocess.Process) -> None:
    os.kill(proc.pid, signal.SIGKILL)


async def test_bridge_killed_mid_call_and_restarted_still_closes_the_case(site: Settings, ivr: None) -> None:
    first = await start_bridge_process()
    second = None
    call = asyncio.create_task(place_call(site, CallRequest("1022", keys="0", hangup_after=14)))
    try:
        open_case = await until_answered(site, call)
        kill(first)
        await first.wait()
        second = await start_bridge_process()
        result = await call
        assert result.linkedid == open_case.linkedid
        case = await final_case(site, result.linkedid)
    finally:
        for proc in (first, second):
            if proc is not None and proc.returncode is None:
                proc.terminate()
                await proc.wait()
    assert case.outcome == "answered"
    assert (case.number, case.agent, case.caller) == (open_case.number, open_case.agent, open_case.caller)
    # From the call's own HOTLINE_START (microseconds), not from the time of the restart.
    assert abs((case.started_at - open_case.started_at).total_seconds()) < 0.5
    assert case.recording and case.recording_seconds and case.recording_seconds > 5
    timeline = kinds(case)
    assert timeline.index("answered") < timeline.index("resynchronised") < timeline.index("ended"), timeline


async def until_case(site: Settings, where: Any, what: str, timeout: float = 30) -> Case:
    from sqlalchemy import select

    engine = make_engine(site.database_url)
    try:
        for _ in range(int(timeout * 5)):
            async with sessions(engine)() as session:
                case = await session.scalar(select(Case).where(*where).order_by(Case.id.desc()))
            if case is not None:
                return case
            await asyncio.sleep(0.2)
        raise AssertionError(f"no case {what} after {timeout} s")
    finally:
        await engine.dispose()


@pytest.fixture
async def own_ami(site: Settings, sandbox: Sandbox) -> AsyncIterator[AMIConnection]:
    """A connection of the test's own: the session's does not survive the Asterisk restart test."""
    conn = await connect_ami(site)
    yield conn
    await conn.close()


async def test_a_caller_answered_while_the_bridge_was_away_keeps_queue_and_wait(
    site: Settings, ivr: None, own_ami: AMIConnection
) -> None:
    ami = own_ami
    """Caller presses 0 and waits (every operator paused); the bridge is killed; an agent comes back and
    answers; the bridge starts 5 s later: the case keeps the queue, the wait and the answer."""
    operators = [a.extension for a in site.agents if "operator" in a.queues]
    for extension in operators:
        await agents.pause(ami, site, extension, True, "kiểm thử")
    first = await start_bridge_process()
    second = None
    call = asyncio.create_task(place_call(site, CallRequest("1022", keys="0", hangup_after=22)))
    try:
        queued = await until_case(
            site, (Case.queued_at.is_not(None), Case.ended_at.is_(None)), "waiting in the queue"
        )
        kill(first)
        await first.wait()
        await asyncio.sleep(3)  # the caller waits on while no bridge runs
        await agents.pause(ami, site, "101", False)
        answered = await until_case(
            site, (Case.linkedid == queued.linkedid,), "open", timeout=1
        )  # still as the first bridge left it
        assert answered.answered_at is None
        await asyncio.sleep(5)
        second = await start_bridge_process()
        result = await call
        case = await final_case(site, result.linkedid)
    finally:
        for extension in operators:
            await agents.pause(ami, site, extension, False)
        for proc in (first, second):
            if proc is not None and proc.returncode is None:
                proc.terminate()
                await proc.wait()
    assert result.linkedid == queued.linkedid
    assert (case.outcome, case.queue, case.agent, case.number) == (
        "answered",
        "operator",
        "101",
        queued.number,
    )
    assert case.answered_at is not None and case.queued_at is not None
    assert case.wait_seconds is not None and 3 <= case.wait_seconds < 15, case.wait_seconds
    assert abs((case.answered_at - case.queued_at).total_seconds() - case.wait_seconds) < 1.5
    assert case.talk_seconds is not None and case.talk_seconds > 5
    timeline = kinds(case)
    assert timeline.count("queued") == 1 and timeline.count("answered") == 1, timeline
    assert timeline.index("queued") < timeline.index("answered") < timeline.index("ended"), timeline


async def test_call_that_ends_while_no_bridge_runs_is_closed_at_the_next_start(
    site: Settings, ivr: None
) -> None:
    first = await start_bridge_process()
    call = asyncio.create_task(place_call(site, CallRequest("1022", keys="0", hangup_after=6)))
    open_case = await until_answered(site, call)
    kill(first)
    await first.wait()
    result = await call  # the call ends while nothing listens
    second = await start_bridge_process()
    try:
        case = await final_case(site, result.linkedid)
    finally:
        second.terminate()
        await second.wait()
    assert case.number == open_case.number
    assert case.outcome == "answered"
    assert case.recording and case.recording_seconds and case.recording_seconds > 2
    assert "ended while the bridge was not running" in str([e.detail for e in case.events])


async def test_asterisk_restart_the_bridge_reconnects_and_goes_on(
    site: Settings, sandbox: Sandbox, ivr: None
) -> None:
    bridge = Hotline.build(site)
    await bridge.start()
    try:
        call = asyncio.create_task(place_call(site, CallRequest("1022", keys="0", hangup_after=30)))
        await until_answered(site, call)
        connects = bridge.ami.connects
        sandbox.cli("core restart now", check=False)
        result = await call
        cut = await final_case(site, result.linkedid, timeout=40)
        assert cut.outcome == "answered"
        for _ in range(300):
            if bridge.ami.connects > connects:
                break
            await asyncio.sleep(0.1)
        assert bridge.ami.connects > connects, "the bridge did not reconnect after Asterisk restarted"
        sandbox.up()  # Asterisk is back: wait until it has booted
        after = await place_call(site, CallRequest("02371022", keys="0", hangup_after=4))
        case = await final_case(site, after.linkedid)
        assert case.did == "02371022" and case.outcome in ("answered", "abandoned_queue")
    finally:
        await bridge.stop()
        # The phones' registrations did not survive the restart cleanly: start the sandbox afresh for
        # the tests that follow.
        sandbox.down()
        sandbox.up()


def test_a_wrong_ami_secret_is_a_clear_error(sandbox: Sandbox, tmp_path: Path) -> None:
    # The same site with another state folder: its freshly generated AMI secret is not Asterisk's.
    text = TEST_SETTINGS.read_text(encoding="utf-8").replace("../var/test", str(ROOT / "var" / "test"))
    text = text.replace(f'state_dir = "{ROOT}/var/test"', f'state_dir = "{tmp_path}"')
    other = tmp_path / "hotline.toml"
    other.write_text(text, encoding="utf-8")
    assert site_settings.load(other).state_path == tmp_path
    proc = subprocess.run(
        [sys.executable, "-m", "shell.cli", "--settings", str(other), "bridge"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "AMI login as 'hotline'" in proc.stderr and "was refused" in proc.stderr


async def test_calls_made_while_no_bridge_runs_get_complete_cases_from_asterisks_record(
    site: Settings, ivr: None, own_ami: AMIConnection
) -> None:
    """No bridge at all while five callers call: one with the IVR down (the dialplan's fallback), one
    answered, one who hangs up in a menu, one who gives up in the queue, one who leaves a voice message
    after the queue's wait. Then the bridge starts: one complete case each, from Asterisk's queue_log."""
    from tests.helpers.cases import pause_member

    # The IVR cannot be reached for the first caller: the dialplan sends them to an operator.
    ami = own_ami
    agi = (await ami.action("Getvar", Variable="HOTLINE_AGI")).get("Value")
    await ami.action("Setvar", Variable="HOTLINE_AGI", Value="agi://127.0.0.1:1/ivr")
    try:
        fallback = await place_call(site, CallRequest("1022", keys="", hangup_after=8, caller="0911000001"))
    finally:
        await ami.action("Setvar", Variable="HOTLINE_AGI", Value=agi)
    await pause_member(site, "101", "violation", True)
    try:
        answered, in_menu, gave_up, message = await asyncio.gather(
            place_call(site, CallRequest("1022", keys="0", hangup_after=8, caller="0911000002")),
            place_call(site, CallRequest("02371022", keys="4", hangup_after=3, caller="0911000003")),
            place_call(site, CallRequest("1022", keys="1", hangup_after=20, caller="0911000004")),
            place_call(
                site,
                CallRequest(
                    "1022",
                    keys="1",
                    hangup_after=5,
                    say="hotline/main_menu",
                    say_after=45,
                    caller="0911000005",
                ),
            ),
        )
    finally:
        await pause_member(site, "101", "violation", False)
    bridge = await start_bridge_process()
    try:
        cases = {
            name: await final_case(site, result.linkedid, timeout=30)
            for name, result in (
                ("fallback", fallback),
                ("answered", answered),
                ("in_menu", in_menu),
                ("gave_up", gave_up),
                ("message", message),
            )
        }
    finally:
        bridge.terminate()
        await bridge.wait()
    for name, case in cases.items():
        timeline = kinds(case)
        assert timeline[0] == "entered" and timeline.count("ended") == 1, (name, timeline)
        assert "Asterisk's record" in str([e.detail for e in case.events]), name
        assert case.ended_at is not None and case.started_at < case.ended_at, name
    c = cases["fallback"]
    assert (c.outcome, c.queue, c.caller) == ("answered", "operator", "0911000001") and c.agent
    c = cases["answered"]
    assert (c.outcome, c.queue, c.topic, c.ivr_path, c.did) == (
        "answered",
        "operator",
        "operator",
        "0",
        "1022",
    )
    assert is_valid(c.number) and c.ivr_node == "main_menu"  # the operator's path reads no number
    assert c.agent in {"101", "102", "103"} and c.agent_name
    assert c.wait_seconds is not None and c.wait_seconds < 10
    assert c.talk_seconds is not None and c.talk_seconds > 3
    assert c.recording and c.recording_seconds and c.recording_seconds > 2
    assert kinds(c).index("queued") < kinds(c).index("answered") < kinds(c).index("ended")
    c = cases["in_menu"]
    assert (c.outcome, c.did, c.ivr_path, c.ivr_node) == ("abandoned_ivr", "02371022", "4", "health_menu")
    c = cases["gave_up"]
    assert (c.outcome, c.queue, c.number) == (
        "abandoned_queue",
        "violation",
        gave_up.variables["HOTLINE_CASE_NO"],
    )
    assert c.wait_seconds is not None and 1 < c.wait_seconds < 20 and "abandoned" in kinds(c)
    c = cases["message"]
    assert c.outcome == "overflow" and c.voicemail and Path(c.voicemail).is_file()
    assert "voice_message" in kinds(c)

    # Reconciling again, even from the start of queue_log, changes nothing.
    before = await all_cases(site, [c.linkedid for c in cases.values()])
    (site.state_path / "queue_log.position").unlink()
    again = await start_bridge_process()
    try:
        await asyncio.sleep(3)
    finally:
        again.terminate()
        await again.wait()
    assert await all_cases(site, [c.linkedid for c in cases.values()]) == before
