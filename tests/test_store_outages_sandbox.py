"""The stores go away while real calls run on the sandbox: SQLite locked by another process for 40 s while
three calls end; PostgreSQL (a throwaway cluster this test starts, never the machine's own) stopped for 30 s
in the middle of a stream of calls, with `hotline serve` killed with -9 during the outage. Each call still
ends as exactly one complete case, with the number its caller heard."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from hotline import settings as site_settings
from hotline.settings import Settings
from shell.callsim import CallRequest, place_call
from shell.sandbox.postgres import Cluster, throwaway_cluster
from shell.sandbox.runner import Sandbox
from shell.service import Hotline
from tests.helpers.cases import final_case, kinds
from tests.helpers.faults import sqlite_locked
from tests.services import in_process, start_hotline
from tests.sites import not_ours, site_on

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def hotline(site: Settings, sandbox: Sandbox) -> AsyncIterator[Hotline]:
    async with in_process(site) as bridge:
        yield bridge


async def test_three_calls_that_end_while_sqlite_is_locked_40_s_are_complete(
    site: Settings, hotline: Hotline
) -> None:
    """Answered; gave up in the queue after hearing a case number; hung up in a menu."""
    from tests.helpers.cases import pause_member

    database = Path(site.database_url.split(":///", 1)[1])
    await pause_member(site, "101", "violation", True)
    try:
        with sqlite_locked(database, 40):
            answered, gave_up, in_menu = await asyncio.gather(
                place_call(site, CallRequest("1022", keys="0", hangup_after=6, caller="0922000001")),
                # The menu and the case number take about 19 s before the queue (more on a loaded
                # machine): 30 s leaves the caller time to reach it, and still ends within the lock.
                place_call(site, CallRequest("1022", keys="1", hangup_after=30, caller="0922000002")),
                place_call(site, CallRequest("02371022", keys="4", hangup_after=3, caller="0922000003")),
            )
            assert hotline.writer.failed_writes, "the lock did not hold the writer up"
    finally:
        await pause_member(site, "101", "violation", False)
    cases = [await final_case(site, r.linkedid, timeout=60) for r in (answered, gave_up, in_menu)]
    assert [c.outcome for c in cases] == ["answered", "abandoned_queue", "abandoned_ivr"]
    assert cases[0].agent and cases[0].recording_seconds and cases[0].recording_seconds > 2
    assert cases[1].number == gave_up.variables["HOTLINE_CASE_NO"]  # heard while the database was locked
    assert (cases[1].topic, cases[1].queue, cases[1].ivr_node) == ("violation", "violation", "main_menu")
    assert cases[1].wait_seconds is not None and cases[1].wait_seconds > 1
    assert (cases[2].did, cases[2].ivr_path, cases[2].ivr_node) == ("02371022", "4", "health_menu")
    for case in cases:
        assert case.ended_at is not None and kinds(case)[0] == "entered" and kinds(case).count("ended") == 1


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as pg:
        yield pg


async def test_postgresql_stopped_30_s_mid_stream_and_serve_killed_meanwhile_loses_nothing(
    site: Settings, sandbox: Sandbox, cluster: Cluster, tmp_path: Path
) -> None:
    settings_file = site_on(cluster.url, tmp_path)
    pg_site = site_settings.load(settings_file)
    serve = await start_hotline(
        "serve", "--no-web", ready=b"AMI bridge connected", settings=settings_file, timeout=60
    )
    restarted = None
    try:
        before = await place_call(pg_site, CallRequest("1022", keys="0", hangup_after=5, caller="0933000001"))
        await final_case(pg_site, before.linkedid, timeout=30)
        cluster.stop()
        down = asyncio.get_running_loop().time()
        during = await asyncio.gather(
            place_call(pg_site, CallRequest("1022", keys="1", hangup_after=20, caller="0933000002")),
            place_call(pg_site, CallRequest("02371022", keys="4", hangup_after=3, caller="0933000003")),
            place_call(pg_site, CallRequest("1022", keys="3", hangup_after=20, caller="0933000004")),
        )
        # Killed while the database is still away: what it had not written is in its journal.
        os.kill(serve.pid, signal.SIGKILL)
        await serve.wait()
        await asyncio.sleep(max(0.0, 30 - (asyncio.get_running_loop().time() - down)))
        cluster.start()
        restarted = await start_hotline(
            "serve", "--no-web", ready=b"AMI bridge connected", settings=settings_file, timeout=60
        )
        after = await place_call(pg_site, CallRequest("1022", keys="0", hangup_after=5, caller="0933000005"))
        cases = [await final_case(pg_site, r.linkedid, timeout=60) for r in (before, *during, after)]
    finally:
        for proc in (serve, restarted):
            if proc is not None and proc.returncode is None:
                proc.terminate()
                await proc.wait()
        not_ours(site)
    assert [c.caller for c in cases] == [f"093300000{i}" for i in range(1, 6)]
    assert [c.outcome for c in cases] == ["answered", "answered", "abandoned_ivr", "answered", "answered"]
    assert cases[1].number == during[0].variables["HOTLINE_CASE_NO"]
    assert cases[3].number == during[2].variables["HOTLINE_CASE_NO"]
    # Violations are agent 101's, welfare 102's: both answered at once.
    assert (cases[1].topic, cases[3].topic) == ("violation", "welfare")
    assert (cases[1].agent, cases[3].agent) == ("101", "102")
    assert cases[2].ivr_node == "health_menu" and cases[2].did == "02371022"
    for case in cases:
        assert case.ended_at is not None and kinds(case)[0] == "entered" and kinds(case).count("ended") == 1
        if case.outcome == "answered":
            assert case.agent and case.recording_seconds and case.recording_seconds > 0.5, case.caller
