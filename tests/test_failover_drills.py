"""Fail-over drills on two Asterisk nodes behind Kamailio, with SIPp as the carrier (each host in a network
namespace of the sandbox's own): a node's Asterisk killed while callers wait in its queue and one talks to
an agent, a node stopped for an upgrade, a node's link cut."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ami_bridge import agents
from hotline.asterisk.naming import node_of
from hotline.db.models import AgentPresence, Case, QueuedCallback
from hotline.settings import Settings
from shell import node_commands
from shell.edge import EdgeControl
from shell.sandbox.carrier import CallPlan, CallResult, Carrier, PlacedCall
from shell.sandbox.cluster import ClusterSandbox
from shell.sandbox.runner import SandboxState
from shell.service import Hotline
from tests.helpers.browser import add_users, browser, run, sign_in, until
from tests.helpers.callbacks import expire_active
from tests.helpers.cluster import NODES, carrier, cluster_site, node_named, running_cluster
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
    with running_cluster(site) as box:
        yield box


@pytest.fixture
async def hotline(site: Settings, cluster: ClusterSandbox) -> AsyncIterator[Hotline]:
    for name in NODES:
        if not cluster.node(name).status().get("ready"):
            cluster.node(name).up()
    cluster.wait_edge(active=list(NODES))
    await expire_active(site)  # a drill that failed halfway left them
    async with in_process(site, web=True) as running:
        await eventually(_all_connected(running), "the center following every node", timeout=30)
        yield running


@pytest.fixture
async def wallboard(hotline: Hotline, site: Settings, chromium: str) -> AsyncIterator[webdriver.Chrome]:
    """A supervisor's browser on the wallboard."""
    await add_users(hotline)
    supervisor = await run(browser, chromium)
    try:
        await run(sign_in, supervisor, site.web.base_url, "giamsat", "/wallboard")
        await until(lambda: supervisor.find_elements(By.CSS_SELECTOR, "#nodes [data-node=a]"), "the nodes")
        yield supervisor
    finally:
        await run(supervisor.quit)


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


@pytest.mark.browser
async def test_a_node_killed_while_callers_wait_and_talk(
    site: Settings, cluster: ClusterSandbox, hotline: Hotline, wallboard: webdriver.Chrome, tmp_path: Path
) -> None:
    phone = carrier(cluster, tmp_path / "carrier")
    talker, first, second, later = (_number() for _ in range(4))
    placed = await _talker_and_waiting(hotline, phone, talker, first, second)

    shown = {n["name"]: n for n in hotline.board.snapshot()["nodes"]}
    assert (shown["a"]["state"], shown["a"]["calls"], shown["b"]["state"]) == ("up", 3, "up")

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
    # The conversation up to the loss is kept, though its Asterisk never closed the file.
    assert spoken.recording and (spoken.recording_seconds or 0) > 1
    for case in (waited_first, waited_second):
        assert case.outcome == "callback" and case.hangup_cause == "node_lost: a"
        assert case.queued_at is not None and case.answered_at is None
    assert any(e.kind == "node_lost" for e in spoken.events)
    shown = {n["name"]: n for n in hotline.board.snapshot()["nodes"]}
    assert (shown["a"]["state"], shown["a"]["calls"], shown["b"]["state"]) == ("lost", 0, "up")
    # The supervisor sees it on the wallboard.
    await until(
        lambda: (
            "lost"
            in (wallboard.find_element(By.CSS_SELECTOR, "#nodes [data-node=a]").get_attribute("class") or "")
        ),
        "node a shown lost on the wallboard",
    )
    assert "up" in (
        wallboard.find_element(By.CSS_SELECTOR, "#nodes [data-node=b]").get_attribute("class") or ""
    )

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
    for call in placed:
        call.drop()
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


async def _talker_and_waiting(
    hotline: Hotline, phone: Carrier, talker: str, *waiting: str, holds: tuple[int, ...] = ()
) -> list[PlacedCall]:
    """The talker reaches agent 102 on node a; the others wait behind them in the welfare queue, in
    order (each hangs up `holds` ms after pressing the key; by default not before the drill ends)."""
    placed = []
    for index, caller in enumerate((talker, *waiting)):
        hold = holds[index] if holds else 300_000
        placed.append(phone.start(CallPlan(caller=caller, keys=WELFARE, first_key_ms=2500, hold_ms=hold)))
        state, what = (_talking, "talking to agent 102") if index == 0 else (_in_queue, "waiting")
        seen = partial(_async_check, state, hotline, caller)
        await eventually(seen, f"caller {caller} {what}", 40)
    on_a = [c for c in hotline.calls.values() if c.caller in (talker, *waiting)]
    assert {node_of(c.linkedid) for c in on_a} == {"a"}, "the first node takes every call"
    return placed


def _number() -> str:
    return f"0912{random.randrange(10**6):06d}"


async def _async(value: bool) -> bool:
    return value


async def _async_check(state: Callable[[Hotline, str], bool], hotline: Hotline, caller: str) -> bool:
    return state(hotline, caller)


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


async def test_a_node_drained_for_an_upgrade_loses_no_call(
    site: Settings, cluster: ClusterSandbox, hotline: Hotline, tmp_path: Path
) -> None:
    phone = carrier(cluster, tmp_path / "carrier")
    talker, waiting, later = (_number() for _ in range(3))
    # The calls on node a end by themselves: the talker 45 s after choosing the queue, then the caller
    # waiting behind them, answered by agent 102 in turn.
    placed = await _talker_and_waiting(hotline, phone, talker, waiting, holds=(45_000, 40_000))

    drained = time.monotonic()
    await asyncio.to_thread(node_commands.drain, site, "a", 0, lambda _: None)
    seconds, answered = await _until_answered(phone, drained, later)
    assert node_named(answered.node_address) == "b"
    assert seconds < 2.0, f"a new call waited {seconds:.1f} s for the drained node"

    await asyncio.to_thread(node_commands.drain, site, "a", 90, lambda _: None)
    for call in placed:
        call.wait(30)
    cluster.node("a").down()  # the upgrade
    cases = await eventually(
        lambda: _closed_cases(hotline, [talker, waiting]), "the drained calls' cases", timeout=40
    )
    for caller in (talker, waiting):
        (case,) = cases[caller]
        assert case.outcome == "answered" and case.agent == "102", (caller, case.outcome)
        assert not case.hangup_cause.startswith("node_lost"), case.hangup_cause
    cluster.node("a").up()
    await asyncio.to_thread(EdgeControl(site).resume, "a")
    cluster.wait_edge(active=list(NODES))


async def test_a_node_cut_off_the_network_is_lost_and_fenced_when_it_returns(
    site: Settings, cluster: ClusterSandbox, hotline: Hotline, tmp_path: Path
) -> None:
    phone = carrier(cluster, tmp_path / "carrier")
    talker, first, second, later = (_number() for _ in range(4))
    placed = await _talker_and_waiting(hotline, phone, talker, first, second)

    cut = time.monotonic()
    cluster.network.cut("a")
    try:
        seconds, answered = await _until_answered(phone, cut, later)
        assert node_named(answered.node_address) == "b"
        assert seconds <= NEW_CALLS_WITHIN, f"new calls answered {seconds:.1f} s after the cut"
        cases = await eventually(
            lambda: _closed_cases(hotline, [talker, first, second]), "the cut-off calls' cases", timeout=40
        )
        assert cases[talker][0].hangup_cause == "node_lost: a"
        for caller in (first, second):
            assert cases[caller][0].outcome == "callback"
        asked = [
            await _callback(hotline, c, "waiting") or await _callback(hotline, c, "connected")
            for c in (first, second)
        ]
        assert all(asked) and asked[0].joined_at < asked[1].joined_at  # type: ignore[union-attr]
    finally:
        cluster.network.mend("a")

    # The node kept its calls while cut off: once it is followed again they are hung up there, and their
    # cases stay as written, once each.
    await eventually(_all_connected(hotline), "node a followed again", timeout=60)

    async def fenced() -> bool:
        listing = await hotline.bridges["a"].ami.action_list("CoreShowChannels")
        return not any(str(c.get("CallerIDNum", "")) in (talker, first, second) for c in listing)

    await eventually(fenced, "node a's stale calls hung up", timeout=20)
    for call in placed:
        call.drop()
    await hotline.writer.flush()
    again = await _cases(hotline, [talker, first, second])
    assert [len(again[c]) for c in (talker, first, second)] == [1, 1, 1]
    assert again[talker][0].hangup_cause == "node_lost: a"
    cluster.wait_edge(active=list(NODES))


async def test_an_agents_pause_is_kept_by_the_center_and_follows_them_to_every_node(
    site: Settings, cluster: ClusterSandbox, hotline: Hotline
) -> None:
    presence = hotline.presence
    assert presence is not None
    await eventually(lambda: _async(presence.settled), "the agents as the center keeps them", 20)
    # The agent pauses with the feature code on their phone, which reaches node a.
    await cluster.node("a").phone_control("agent101").dial("*47")
    await eventually(partial(_paused_on, hotline, "b", "101", True), "agent 101 paused on node b too", 20)
    async with hotline.db() as session:
        row = await session.get(AgentPresence, "101")
    assert row is not None and row.paused and row.node == "a"
    assert set(row.queues.split(",")) == {"violation", "operator"}

    # Node b dies and comes back with what its own astdb says; the center's word wins.
    _kill_asterisk(cluster, "b")
    await eventually(lambda: _async(not hotline.bridges["b"].ami.connected.is_set()), "node b gone", 20)
    await agents.pause(hotline.ami, site, "101", False)  # only node a hears it now
    await eventually(partial(_row_paused, hotline, "101", False), "the center keeping 101 unpaused", 20)
    cluster.node("b").up()
    await eventually(_all_connected(hotline), "node b followed again", timeout=60)
    await eventually(
        partial(_paused_on, hotline, "b", "101", False), "node b brought to the center's word", 30
    )
    assert not await _paused_on(hotline, "a", "101", True)


async def _paused_on(hotline: Hotline, node: str, extension: str, paused: bool) -> bool:
    status = await hotline.bridges[node].ami.action_list("QueueStatus")
    flags = {
        str(m.get("Paused", "")) == "1"
        for m in status
        if m.get("Event") == "QueueMember" and str(m.get("StateInterface", "")).endswith(f"agent{extension}")
    }
    return flags == {paused}


async def _row_paused(hotline: Hotline, extension: str, paused: bool) -> bool:
    async with hotline.db() as session:
        row = await session.get(AgentPresence, extension)
    return row is not None and row.paused == paused
