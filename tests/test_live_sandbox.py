"""The bridge's live board on the sandbox: two callers wait for a paused agent, in order, and hear their
place in the queue in Vietnamese; the agent unpauses, rings, talks to the first; the second moves up.
After a restart of the bridge the board is rebuilt from Asterisk's own lists."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from ami_bridge import agents
from hotline.settings import Settings
from shell.callsim import CallRequest, place_call
from shell.sandbox.runner import Sandbox
from shell.service import Hotline
from tests.services import in_process

pytestmark = pytest.mark.asterisk

Snapshot = dict[str, Any]


@pytest.fixture(scope="module")
async def hotline(site: Settings, sandbox: Sandbox) -> AsyncIterator[Hotline]:
    async with in_process(site) as bridge:
        yield bridge


async def until(
    bridge: Hotline, check: Callable[[Snapshot], bool], what: str, timeout: float = 30
) -> Snapshot:
    deadline = time.monotonic() + timeout
    while True:
        bridge.board.refresh()
        snap = bridge.board.snapshot()
        if check(snap):
            return snap
        if time.monotonic() > deadline:
            raise AssertionError(f"board never showed {what}: {snap}")
        await asyncio.sleep(0.1)


def queue(snap: Snapshot, name: str) -> Snapshot:
    return next(q for q in snap["queues"] if q["name"] == name)


def agent(snap: Snapshot, extension: str) -> Snapshot:
    return next(a for a in snap["agents"] if a["extension"] == extension)


async def test_callers_wait_in_order_then_the_agent_answers(
    site: Settings, sandbox: Sandbox, hotline: Hotline
) -> None:
    announcements = site.state_path / "asterisk" / "log" / "announcements.log"
    announcements.unlink(missing_ok=True)
    # Which file app_queue plays is logged at verbose level 3 only: a channel for this test alone.
    sandbox.cli(f"logger add channel {announcements} verbose(3)")
    await agents.pause(hotline.ami, site, "101", True, "họp giao ban")
    try:
        snap = await until(hotline, lambda s: agent(s, "101")["state"] == "paused", "101 paused")
        assert agent(snap, "101")["pause_reason"] == "họp giao ban"
        first = asyncio.create_task(place_call(site, CallRequest("1022", keys="1", hangup_after=60)))
        await until(hotline, lambda s: len(queue(s, "violation")["waiting"]) == 1, "the first caller waiting")
        second = asyncio.create_task(
            place_call(site, CallRequest("1022", keys="1", hangup_after=52, caller="0977000111"))
        )
        snap = await until(hotline, lambda s: len(queue(s, "violation")["waiting"]) == 2, "two callers")
        waiting = queue(snap, "violation")["waiting"]
        assert [w["position"] for w in waiting] == [1, 2]
        assert waiting[1]["caller"] == "0977000111"
        assert queue(snap, "violation")["longest_wait"] >= waiting[1]["waited"]
        assert queue(snap, "violation")["available"] == 0
        await asyncio.sleep(3)  # the second caller hears "vị trí số hai trong hàng chờ"

        await agents.pause(hotline.ami, site, "101", False)
        snap = await until(hotline, lambda s: agent(s, "101")["state"] == "in_call", "101 in a call")
        assert agent(snap, "101")["call"]["caller"] == "0912345678"
        moved = queue(snap, "violation")["waiting"]
        assert [(w["caller"], w["position"]) for w in moved] == [("0977000111", 1)]
        await first
        # Agent 101 is free again, so the second caller is put through; then both have hung up.
        await until(
            hotline,
            lambda s: agent(s, "101")["call"] and agent(s, "101")["call"]["caller"] == "0977000111",
            "second answered",
        )
        await second
        snap = await until(hotline, lambda s: agent(s, "101")["state"] == "ready", "101 ready again")
        assert queue(snap, "violation")["waiting"] == []
        assert agent(snap, "101")["calls_taken"] >= 2
    finally:
        sandbox.cli(f"logger remove channel {announcements}", check=False)
        await agents.pause(hotline.ami, site, "101", False)
    played = [line for line in announcements.read_text().splitlines() if "Playing '" in line]
    queue_sounds = [line for line in played if "'queue-" in line or "'digits/" in line]
    assert any("queue-youarenext" in line for line in queue_sounds), played
    thereare = next(i for i, line in enumerate(played) if "queue-thereare" in line)
    assert "'digits/2." in played[thereare + 1] and "queue-callswaiting" in played[thereare + 2], played
    # Every one of them from the Vietnamese sounds (ours are .slin/.wav; Asterisk's English ones .gsm).
    assert all("(language 'vi')" in line and ".gsm'" not in line for line in queue_sounds), queue_sounds


async def test_a_restarted_bridge_rebuilds_the_board_from_asterisk(
    site: Settings, sandbox: Sandbox, hotline: Hotline, tmp_path: Path
) -> None:
    await agents.pause(hotline.ami, site, "102", True, "nghỉ trưa")
    call = asyncio.create_task(place_call(site, CallRequest("1022", keys="0", hangup_after=18)))
    try:
        await until(
            hotline, lambda s: any(a["state"] == "in_call" for a in s["agents"]), "an agent in a call"
        )
        # Beside the running one: a journal of its own (one bridge per journal).
        fresh = Hotline.build(site, journal_dir=tmp_path / "journal")
        await fresh.start()
        try:
            snap = await until(
                fresh, lambda s: any(a["state"] == "in_call" for a in s["agents"]), "resynced call"
            )
            talking = next(a for a in snap["agents"] if a["state"] == "in_call")
            assert talking["call"]["caller"] == "0912345678"
            assert (
                agent(snap, "102")["state"] == "paused" and agent(snap, "102")["pause_reason"] == "nghỉ trưa"
            )
            assert set(agent(snap, "101")["queues"]) == {"violation", "operator"}
        finally:
            await fresh.stop()
    finally:
        await agents.pause(hotline.ami, site, "102", False)
        await call
