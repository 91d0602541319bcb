"""Calls of every outcome on the sandbox become exactly one case each, written by the AMI bridge, with the
recording of the conversation: caller dials 1022, presses 0, agent answers, caller hangs up after 5 s:
one case, outcome answered, topic operator, recording present."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from ami_bridge.case_writer import inspect_recording
from hotline.db.engine import make_engine, sessions
from hotline.db.models import Case
from hotline.db.numbers import is_valid
from hotline.settings import Settings
from shell.callsim import CallRequest, CallResult, place_call
from shell.sandbox.runner import Sandbox
from shell.service import Hotline
from tests.helpers.cases import final_case, kinds, pause_member
from tests.services import in_process

pytestmark = pytest.mark.asterisk

GAP = "wwww"


@pytest.fixture(scope="module")
async def hotline(site: Settings, sandbox: Sandbox) -> AsyncIterator[Hotline]:
    async with in_process(site) as bridge:
        yield bridge


async def test_answered_call_is_one_case_with_its_recording(site: Settings, hotline: Hotline) -> None:
    result = await place_call(site, CallRequest("1022", keys="0", hangup_after=8, caller="0987654321"))
    case = await final_case(site, result.linkedid)
    assert case.outcome == "answered"
    assert (case.caller, case.did, case.ivr_path, case.topic, case.queue) == (
        "0987654321",
        "1022",
        "0",
        "operator",
        "operator",
    )
    assert case.agent in {"101", "102", "103"} and case.agent_name
    assert is_valid(case.number)
    assert case.answered_at is not None and case.wait_seconds is not None and case.wait_seconds < 10
    assert case.talk_seconds is not None and case.talk_seconds > 3
    assert case.recording and Path(case.recording).is_file()
    seconds, has_audio = inspect_recording(case.recording)  # type: ignore[misc]
    assert has_audio and seconds > 3
    assert case.recording_seconds == pytest.approx(seconds, abs=0.01)
    for kind in ("entered", "ivr_done", "queued", "agent_ringing", "answered", "ended", "recording"):
        assert kind in kinds(case), kinds(case)


async def test_hanging_up_in_the_menu_is_abandoned_in_the_ivr(site: Settings, hotline: Hotline) -> None:
    result = await place_call(site, CallRequest("02371022", keys="4", hangup_after=3))
    case = await final_case(site, result.linkedid)
    assert case.outcome == "abandoned_ivr"
    assert (case.did, case.ivr_path, case.queue, case.recording) == ("02371022", "4", "", "")
    assert case.answered_at is None


async def test_caller_who_gives_up_in_the_queue_is_abandoned_with_their_wait(
    site: Settings, hotline: Hotline
) -> None:
    await pause_member(site, "101", "violation", True)
    try:
        result = await place_call(site, CallRequest("1022", keys="1", hangup_after=20))
    finally:
        await pause_member(site, "101", "violation", False)
    case = await final_case(site, result.linkedid)
    assert case.outcome == "abandoned_queue"
    assert case.queue == "violation" and case.topic == "violation"
    assert case.number == result.variables["HOTLINE_CASE_NO"]  # the number the caller heard
    assert case.wait_seconds is not None and 1 < case.wait_seconds < 20
    assert "abandoned" in kinds(case)
    assert case.recording == ""


async def test_overflow_to_a_voice_message_keeps_the_message(site: Settings, hotline: Hotline) -> None:
    await pause_member(site, "101", "violation", True)
    try:
        # Queued about 20 s after the keys, overflowed 30 s later, then told to speak after the tone.
        request = CallRequest("1022", keys="1", hangup_after=5, say="hotline/main_menu", say_after=45)
        result = await place_call(site, request)
    finally:
        await pause_member(site, "101", "violation", False)
    case = await final_case(site, result.linkedid)
    assert case.outcome == "overflow"
    assert case.voicemail and Path(case.voicemail).is_file()
    seconds, has_audio = inspect_recording(case.voicemail)  # type: ignore[misc]
    assert has_audio and seconds > 3
    assert "voice_message" in kinds(case)


async def test_a_call_that_is_not_for_the_hotline_makes_no_case(site: Settings, hotline: Hotline) -> None:
    before = hotline.writer.written
    result: CallResult = await place_call(site, CallRequest("19001234", hangup_after=1))
    await asyncio.sleep(1.5)
    assert not result.answered
    engine = make_engine(site.database_url)
    async with sessions(engine)() as session:
        assert await session.scalar(select(Case).where(Case.linkedid == result.linkedid)) is None
    await engine.dispose()
    assert hotline.writer.written == before
