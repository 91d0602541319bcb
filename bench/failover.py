"""What losing a node costs, measured on the sandbox's two nodes behind Kamailio with SIPp as the carrier.

For each fault (the node's Asterisk killed with -9, its network link cut, the node drained for an upgrade)
and each round: two callers wait in node a's welfare queue behind a third who talks to agent 102; the fault
hits node a; new calls are placed back to back until one is answered. Reported per fault: the seconds from
the fault to the first new call answered (and as a ratio to a new call's answer time with both nodes up,
measured in the same run), the new calls that failed meanwhile, the calls whose case is not exactly one
closed case (cases lost: zero expected), and the callbacks asked for the waiting callers.

Run alone (it brings up its own nodes, on 10.202.0.0/24): `.venv/bin/python -m bench.failover [--rounds N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import signal
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, update

from channels.queued_callbacks import LINKEDID_PREFIX
from hotline.db.models import ACTIVE_CALLBACK, Case, QueuedCallback
from hotline.settings import Settings
from shell import node_commands
from shell.edge import EdgeControl
from shell.sandbox.carrier import CallPlan, Carrier, PlacedCall
from shell.sandbox.cluster import ClusterSandbox
from shell.sandbox.runner import SandboxState
from shell.service import Hotline, services
from tests.helpers.cluster import NODE_NAMES, carrier, cluster_site, node_named

PREFIX = "10.202.0"
WELFARE = "3"
WAIT = 60.0


@dataclass
class Round:
    seconds: float
    failed: int
    placed: int
    cases_wrong: int
    callbacks: int


def _number() -> str:
    return f"0913{random.randrange(10**6):06d}"


async def _until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"never saw {what}")
        await asyncio.sleep(0.3)


async def _answer_time(phone: Carrier) -> float:
    result = await asyncio.to_thread(phone.call, CallPlan(caller=_number(), hold_ms=0), 20.0)
    if not result.answered:
        raise RuntimeError(f"a call with both nodes up was not answered: {result.error}")
    return result.seconds


async def _in_progress(hotline: Hotline, phone: Carrier) -> tuple[list[PlacedCall], list[str]]:
    callers = [_number() for _ in range(3)]
    placed = []
    for index, caller in enumerate(callers):
        placed.append(phone.start(CallPlan(caller=caller, keys=WELFARE, first_key_ms=2500, hold_ms=300_000)))

        async def there(caller: str = caller, talking: bool = index == 0) -> bool:
            return any(
                c.caller == caller and (bool(c.answered_at) if talking else c.in_queue and not c.answered_at)
                for c in hotline.calls.values()
            )

        await _until(there, f"caller {caller} in place")
    return placed, callers


def _kill(cluster: ClusterSandbox) -> None:
    state = SandboxState.load(cluster.node("a").state_file)
    assert state is not None
    os.kill(state.asterisk_pid, signal.SIGKILL)


async def _round(
    site: Settings, cluster: ClusterSandbox, hotline: Hotline, fault: str, phone: Carrier
) -> Round:
    placed, callers = await _in_progress(hotline, phone)
    started = time.monotonic()
    if fault == "kill -9":
        _kill(cluster)
    elif fault == "link cut":
        cluster.network.cut("a")
    else:
        await asyncio.to_thread(node_commands.drain, site, "a", 0, lambda _: None)
    failed = 0
    while True:
        caller = _number()
        callers.append(caller)
        result = await asyncio.to_thread(phone.call, CallPlan(caller=caller, hold_ms=0), 20.0)
        if result.answered and node_named(result.node_address, PREFIX) == "b":
            break
        failed += not result.answered
        if time.monotonic() - started > WAIT:
            raise RuntimeError(f"{fault}: no new call answered by node b in {WAIT:.0f} s")
    seconds = time.monotonic() - started
    for call in placed:
        call.drop()

    async def closed() -> bool:
        async with hotline.db() as session:
            count = await session.scalar(
                select(func.count()).where(Case.caller.in_(callers), Case.ended_at.is_not(None))
            )
        return count == len(callers)

    if fault == "drain":
        # The calls in progress go on on the drained node; the carrier ends them (SIPp, stopped, cannot).
        await _hang_up(hotline, callers)
        await _until(closed, "every call's case closed", timeout=90)
        await asyncio.to_thread(EdgeControl(site).resume, "a")
    else:
        # Node a stays down (or cut off) until the center took it for lost and closed its calls.
        await _until(closed, "every call's case closed", timeout=90)
        if fault == "link cut":
            cluster.network.mend("a")
        else:
            cluster.node("a").up()
    await asyncio.to_thread(cluster.wait_edge, list(NODE_NAMES), 60.0)

    async def followed() -> bool:
        return all(b.ami.connected.is_set() for b in hotline.bridges.values())

    await _until(followed, "both nodes followed")
    async with hotline.db() as session:
        rows = await session.execute(
            select(Case.caller, func.count()).where(Case.caller.in_(callers)).group_by(Case.caller)
        )
        per_caller: dict[str, int] = {caller: count for caller, count in rows}
        asked = await session.scalar(select(func.count()).where(QueuedCallback.number.in_(callers[1:3])))
    wrong = sum(per_caller.get(caller) != 1 for caller in callers)
    await _callbacks_done(hotline, callers)
    return Round(seconds, failed, len(callers) - 3, wrong, int(asked or 0))


async def _hang_up(hotline: Hotline, callers: list[str]) -> None:
    listing = await hotline.ami.action_list("CoreShowChannels")
    for channel in listing:
        if channel.get("Event") == "CoreShowChannel" and str(channel.get("CallerIDNum", "")) in callers:
            await hotline.ami.action("Hangup", Channel=str(channel.get("Channel", "")), Cause="16")


async def _callbacks_done(hotline: Hotline, callers: list[str]) -> None:
    """The callbacks were counted: closed now, so that their stand-ins (dropped by the dispatcher) do not
    hold agent 102 in the next round."""
    async with hotline.db() as session, session.begin():
        await session.execute(
            update(QueuedCallback)
            .where(QueuedCallback.number.in_(callers), QueuedCallback.status.in_(ACTIVE_CALLBACK))
            .values(status="expired", closed_at=datetime.now(UTC))
        )

    async def none_left() -> bool:
        listing = await hotline.ami.action_list("CoreShowChannels")
        return not any(str(c.get("Linkedid", "")).startswith(LINKEDID_PREFIX) for c in listing)

    await _until(none_left, "the stand-ins gone", timeout=90)


async def main(rounds: int) -> None:
    logging.basicConfig(level=logging.ERROR)  # the table, not the bridges' reconnect messages
    # One folder for every run: its name tags the sandbox's namespaces, so a run that was killed is
    # cleaned up by the next.
    state = Path(__file__).resolve().parent.parent / "var" / "bench-failover"
    state.mkdir(parents=True, exist_ok=True)
    (state / "hotline.db").unlink(missing_ok=True)
    site = cluster_site(PREFIX, str(state))
    cluster = ClusterSandbox(site, log=lambda _: None)
    cluster.up()
    try:
        async with services(site, web=False, grace=5.0) as running:
            hotline = running.hotline

            async def both() -> bool:
                return all(b.ami.connected.is_set() for b in hotline.bridges.values())

            await _until(both, "both nodes followed")
            phone = carrier(cluster, state / "carrier")
            baseline = statistics.median([await _answer_time(phone) for _ in range(5)])
            print(f"a new call's answer with both nodes up: {baseline:.2f} s (median of 5)")
            print(
                f"{'fault':<10} {'round':>5} {'first answer':>13} {'x baseline':>11} {'failed':>7} "
                f"{'new calls':>10} {'cases lost':>11} {'callbacks':>10}"
            )
            for fault in ("kill -9", "link cut", "drain"):
                for n in range(1, rounds + 1):
                    r = await _round(site, cluster, hotline, fault, phone)
                    print(
                        f"{fault:<10} {n:>5} {r.seconds:>12.1f}s {r.seconds / baseline:>10.1f}x {r.failed:>7} "
                        f"{r.placed:>10} {r.cases_wrong:>11} {r.callbacks:>10}",
                        flush=True,
                    )
    finally:
        cluster.down()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(main(parser.parse_args().rounds))
