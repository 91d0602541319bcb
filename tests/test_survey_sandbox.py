"""The caller's say, by phone, on the sandbox: after an ordinary call with an agent, the agent hangs up, the
caller stays on the line and presses 4; the case says 4, and the agent's and topic's report counts it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hotline.settings import Settings
from shell.callsim import CallRequest, place_call
from shell.sandbox.phones import PhoneControl
from shell.sandbox.runner import Sandbox
from shell.service import Hotline
from tests.helpers.cases import final_case
from tests.services import in_process
from web.stats import report

pytestmark = pytest.mark.asterisk


@pytest.fixture(scope="module")
async def hotline(site: Settings, sandbox: Sandbox) -> AsyncIterator[Hotline]:
    async with in_process(site) as bridge:
        yield bridge


async def test_the_caller_rates_the_call_after_the_agent_hangs_up(
    site: Settings, hotline: Hotline, phones: dict[str, PhoneControl]
) -> None:
    caller = "0912555444"
    # 1 for the violation queue (agent 101); then, through the conversation and after it, a 4 every second.
    keys = "1" + "w" * 8 + "4w" * 40
    call = asyncio.create_task(
        place_call(site, CallRequest("1022", keys=keys, hangup_after=5, caller=caller))
    )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 40
        answered = None
        while answered is None and loop.time() < deadline:
            answered = next((c for c in hotline.calls.values() if c.caller == caller and c.answered_at), None)
            await asyncio.sleep(0.2)
        assert answered is not None and answered.agent == "101", "agent 101 never answered"
        await asyncio.sleep(2)
        await phones["101"].hangup()
        case = await final_case(site, answered.linkedid, timeout=40)
    finally:
        await asyncio.wait_for(call, 60)
    assert (case.outcome, case.agent, case.rating) == ("answered", "101", "4")
    tz = ZoneInfo(site.site.timezone)
    day = datetime.now(tz).date()
    figures = await report(hotline.db, day, day, tz, site.web.service_level_seconds)
    (agent,) = [a for a in figures["per_agent"] if a["agent"] == "101"]
    assert agent["ratings"] >= 1 and agent["average_rating"] is not None
