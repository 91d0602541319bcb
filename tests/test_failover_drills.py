"""Fail-over drills on two Asterisk nodes behind Kamailio, with SIPp as the carrier (each host in a network
namespace of the sandbox's own): a node's Asterisk killed while callers wait in its queue and one talks to
an agent, a node stopped for an upgrade, a node's link cut."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import ACTIVE_CALLBACK, Case, QueuedCallback
from hotline.settings import Settings
from shell.sandbox.carrier import CallPlan, CallResult, Carrier
from shell.sandbox.cluster import ClusterSandbox
from shell.sandbox.runner import SandboxState
from shell.service import Hotline
from tests.helpers.cluster import NODES, carrier, cluster_site, node_named
from tests.processes import eventually
from tests.services import in_process

pytestmark = pytest.mark.asterisk

# What docs/high-availability.md states: the first new call after a node died waits for the edge's
# answer timer ([edge] answer_seconds, 2 s) before it goes to the next node; a little more for the call's
# own set-up on a loaded machine.
NEW_CALLS_WITHIN = 5.0
WELFARE = "3"  # the main menu's key for the welfare queue, whose only agent is 102


@pytest.fixture(scope="module")
def site() -> Settings:
    return cluster_site()


@pytest.fixture(scope="module")
def cluster(site: Settings) -> Iterator[ClusterSandbox]:
    box = ClusterSandbox(site)
    box.up()
    try:
        yield box
    finally:
        box.down()


@pytest.fixture
async def hotline(site: Settings, cluster: ClusterSandbox) -> AsyncIterator[Hotline]:
    for name in NODES:
        if not cluster.node(name).status().get("ready"):
            cluster.node(name).up()
    cluster.wait_edge(active=list(NODES))
    await _no_callbacks_left(site)
    async with in_process(site) as running:
        await eventually(_all_connected(running), "the center following every node", timeout=30)
        yield running


async def _no_callbacks_left(site: Settings) -> None:
    """A drill that failed halfway leaves callbacks waiting: they would take the agents of the next."""
    await upgrade_async(site.database_url)
    engine = make_engine(site.database_url)
    try:
        async with sessions(engine)() as session, session.begin():
            await session.execute(
                update(QueuedCallback)
                .where(QueuedCallback.status.in_(ACTIVE_CALLBACK))
                .values(status="expired", closed_at=datetime.now(UTC))
            )
    finally:
        await engine.dispose()


def _all_connected(hotline: Hotline):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return all(b.ami.connected.is_set() for b in hotline.bridges.values())

    return check


def _kill_asterisk(cluster: ClusterSandbox, node: str) -> None:
    state = SandboxState.load(cluster.node(node).state_file)
    assert state is not None and state.asterisk_pid
    os.kill(state.asterisk_pid, signal.SIGKILL)


async def _until_answered(phone: Carrier, started: float, caller: str) -> tuple[float, CallResult]:
    """Place short calls one after another until one is answered; the seconds from `started`."""
    for _ in range(20):
        result = await asyncio.to_thread(phone.call, CallPlan(caller=caller, hold_ms=500), 20.0)
        if result.answered:
            return time.monotonic() - started, result
    raise AssertionError("no new call was answered")


def _in_queue(hotline: Hotline, caller: str) -> bool:
    return any(c.caller == caller and c.in_queue and not c.answered_at for c in hotline.calls.values())


def _talking(hotline: Hotline, caller: str) -> bool:
    return any(c.caller == caller and c.answered_at for c in hotline.calls.values())


async def _cases(hotline: Hotline, callers: list[str]) -> dict[str, list[Case]]:
    async with hotline.db() as session:
        rows = await session.scalars(
            select(Case).where(Case.caller.in_(callers)).order_by(Case.id).options(selectinload(Case.events))
        )
        found: dict[str, list[Case]] = {caller: [] for caller in callers}
        for case in rows:
            found[case.caller].append(case)
    return found


async def test_a_node_killed_while_callers_wait_and_talk(
    site: Settings, cluster: ClusterSandbox, hotline: Hotline, tmp_path: Path
) -> None:
    phone = carrier(cluster, tmp_path / "carrier")
    talker, first, second, later = (_number() for _ in range(4))
    # The talker reaches agent 102 on node a; two more callers wait behind them in the welfare queue.
    talking = phone.start(CallPlan(caller=talker, keys=WELFARE, first_key_ms=2500, hold_ms=300_000))
    await eventually(lambda: _async(_talking(hotline, talker)), "the first caller talking to agent 102", 40)
    waiting = [phone.start(CallPlan(caller=first, keys=WELFARE, first_key_ms=2500, hold_ms=300_000))]
    await eventually(lambda: _async(_in_queue(hotline, first)), "the second caller waiting", 40)
    waiting.append(phone.start(CallPlan(caller=second, keys=WELFARE, first_key_ms=2500, hold_ms=300_000)))
    await eventually(lambda: _async(_in_queue(hotline, second)), "the third caller waiting", 40)
    on_a = [c for c in hotline.calls.values() if c.caller in (talker, first, second)]
    assert {c.linkedid.partition("-")[0] for c in on_a} == {"a"}, "the first node takes every call"

    killed = time.monotonic()
    _kill_asterisk(cluster, "a")
    seconds, answered = await _until_answered(phone, killed, later)
    assert node_named(answered.node_address) == "b"
    assert seconds <= NEW_CALLS_WITHIN, f"new calls answered {seconds:.1f} s after the node died"

    # The center takes the node for lost and closes what it saw of each call.
    cases = await eventually(
        lambda: _closed_cases(hotline, [talker, first, second]), "the lost calls' cases", timeout=40
    )
    (spoken,), (waited_first,), (waited_second,) = (cases[c] for c in (talker, first, second))
    assert spoken.answered_at is not None and spoken.agent == "102" and spoken.talk_seconds
    assert spoken.hangup_cause == "node_lost: a" and spoken.outcome == "answered"
    for case in (waited_first, waited_second):
        assert case.outcome == "callback" and case.hangup_cause == "node_lost: a"
        assert case.queued_at is not None and case.answered_at is None
    assert any(e.kind == "node_lost" for e in spoken.events)

    # The callers who waited are called back on node b, in the order they joined: agent 102 takes the
    # first one's stand-in, the citizen is dialled and answers; the second waits its turn.
    agent = cluster.node("b").phone_control("agent102")
    for number, other in ((first, second), (second, "")):
        taken = await eventually(partial(_callback, hotline, number, "connected"), f"{number} taken", 90)
        assert taken.agent == "102"
        if other:
            behind = await _callback(hotline, other, "waiting")
            assert behind is not None, "the second caller's callback was taken before the first's"
        await eventually(partial(_citizen_talking, hotline, number), f"{number} answering", 40)
        await asyncio.sleep(2)  # the agent and the citizen speak
        await agent.hangup()
        await eventually(partial(_callback, hotline, number, "reached"), f"{number} reached", 30)
    reached = [await _callback(hotline, number, "reached") for number in (first, second)]
    assert [r.joined_at for r in reached if r] == [waited_first.queued_at, waited_second.queued_at]

    # The node comes back: nothing of its calls is written twice.
    for placed in (talking, *waiting):
        placed.drop()
    cluster.node("a").up()
    await eventually(_all_connected(hotline), "node a followed again", timeout=60)
    await hotline.writer.flush()
    await asyncio.sleep(2)
    again = await _cases(hotline, [talker, first, second])
    assert [len(again[c]) for c in (talker, first, second)] == [1, 1, 1]
    assert again[talker][0].hangup_cause == "node_lost: a"
    async with hotline.db() as session:
        doubled = await session.scalar(
            select(func.count()).select_from(
                select(Case.linkedid).group_by(Case.linkedid).having(func.count() > 1).subquery()
            )
        )
    assert doubled == 0


def _number() -> str:
    return f"0912{random.randrange(10**6):06d}"


async def _async(value: bool) -> bool:
    return value


async def _citizen_talking(hotline: Hotline, number: str) -> bool:
    listing = await hotline.ami.action_list("CoreShowChannels")
    return any(
        str(c.get("Channel", "")).startswith(f"Local/{number}@hotline-callback-sim")
        and c.get("ChannelStateDesc") == "Up"
        for c in listing
    )


async def _callback(hotline: Hotline, number: str, status: str) -> QueuedCallback | None:
    async with hotline.db() as session:
        found: QueuedCallback | None = await session.scalar(
            select(QueuedCallback).where(QueuedCallback.number == number, QueuedCallback.status == status)
        )
    return found


async def _closed_cases(hotline: Hotline, callers: list[str]) -> dict[str, list[Case]] | None:
    found = await _cases(hotline, callers)
    if all(len(cases) == 1 and cases[0].ended_at is not None for cases in found.values()):
        return found
    return None
