"""Where callers give up, on the sandbox: real callers walk the real flow through the FastAGI server, the
bridge writes their cases with the steps the IVR left on the channel, and the report counts each under the
node where it happened."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hotline import menu_steps
from hotline.settings import Settings
from shell.callsim import CallRequest, place_call
from shell.sandbox.runner import Sandbox
from shell.service import Hotline
from tests.helpers.cases import final_case
from tests.services import in_process
from web.staff.menu_stats import menu_report

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def hotline(site: Settings, sandbox: Sandbox) -> AsyncIterator[Hotline]:
    async with in_process(site) as bridge:
        yield bridge


async def test_a_caller_who_hangs_up_in_the_health_menu_counts_there(
    site: Settings, hotline: Hotline
) -> None:
    tz = ZoneInfo(site.site.timezone)
    today = datetime.now(tz).date()
    before = {n["node"]: n for n in (await menu_report(hotline.db, today, today, tz))["per_node"]}
    in_health, chose_health = await asyncio.gather(
        # 4 during the welcome: the health menu starts; a wrong key there, then the caller hangs up.
        place_call(site, CallRequest("02371022", keys="4wwwwwwww9", hangup_after=9, caller="0933000001")),
        place_call(site, CallRequest("1022", keys="4wwwwwwww2", hangup_after=28, caller="0933000002")),
    )
    hung_up = await final_case(site, in_health.linkedid, timeout=30)
    queued = await final_case(site, chose_health.linkedid, timeout=30)
    assert (hung_up.outcome, hung_up.ivr_node) == ("abandoned_ivr", "health_menu")
    steps = menu_steps.decode(hung_up.ivr_steps)
    assert steps.ended is None and steps.steps[-1].node == "health_menu" and "i" in steps.steps[-1].codes
    assert menu_steps.decode(queued.ivr_steps).ended is not None and queued.queue == "health"
    after = {n["node"]: n for n in (await menu_report(hotline.db, today, today, tz))["per_node"]}

    def more(node: str, field: str) -> int:
        return int(after[node][field]) - int(before.get(node, {}).get(field, 0))

    assert (more("health_menu", "entered"), more("health_menu", "hung_up")) == (2, 1)
    assert (more("health_menu", "moved_on"), more("health_menu", "invalid")) == (1, 1)
    assert more("main_menu", "hung_up") == 0 and more("main_menu", "moved_on") == 2
    assert after["health_menu"]["average_seconds"] > 0
