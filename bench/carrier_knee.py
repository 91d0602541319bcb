"""The node's knee as a carrier loads it: SIPp, a process of its own in its own network namespace, places
new calls at a steady rate through the edge (Kamailio) to the sandbox's Asterisk nodes, RTP both ways (a
recorded voice after the key), each caller pressing 0 for the operator queue, where every call is recorded
while it waits and while it talks to the agents' phones. The rate is ramped until something gives.

A rate is held when every call was placed and answered, became exactly one complete case written within
1 s of its hang-up, and the p95 from INVITE to 200 OK stayed within ANSWER_P95_MS. For each step: the calls
at once at most, how busy Asterisk, Kamailio and the hotline were (CPU seconds per second of the step: 1.0
is one core of this machine), and the hotline's CPU as a share of Asterisk's.

The edge gives every new call to the first node in [[nodes]] order (queues stay in one app_queue:
docs/high-availability.md), so with two nodes node a carries the load and node b stands by: the ramp runs
with both nodes up, as shipped.

Run (as root; its own nodes on 10.204.0.0/24): `.venv/bin/python -m bench.carrier_knee [--rates 5,10,20]`.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from bench import knee
from bench.rig import cpu_seconds
from hotline.db.models import Case
from hotline.settings import Settings
from shell.sandbox.carrier import Carrier, LoadPlan
from shell.sandbox.cluster import EDGE, ClusterSandbox
from shell.sandbox.runner import SandboxState
from shell.service import Hotline, services
from tests.helpers.cluster import NODE_NAMES, carrier, cluster_site

PREFIX = "10.204.0"
RATES = (2.0, 5.0, 10.0, 15.0, 20.0, 30.0)
STEP_SECONDS = 30.0
ANSWER_P95_MS = 500.0  # INVITE to 200 OK
SHARE_TARGET = knee.SHARE_TARGET  # the hotline's CPU, % of Asterisk's
CASES_WAIT = 60.0


@dataclass
class Step(knee.Step):
    """A step of bench.knee's ramp, also held to the carrier's answer time; `p99` is from hang-up to case,
    `cpu` is Asterisk's (every node's), Kamailio's and the hotline's."""

    answer_p95_ms: float = 0.0

    @property
    def held(self) -> bool:
        return super().held and self.answer_p95_ms <= ANSWER_P95_MS

    def gave(self) -> str:
        said = [part for part in (super().gave(),) if part]
        if self.answer_p95_ms > ANSWER_P95_MS:
            said.append(f"INVITE to 200 OK p95 {self.answer_p95_ms:.0f} ms")
        return "; ".join(said)

    @property
    def share(self) -> float:
        return 100.0 * self.cpu["hotline"] / self.cpu["asterisk"] if self.cpu["asterisk"] else float("nan")


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


def _pids(cluster: ClusterSandbox) -> dict[str, list[int]]:
    asterisks = []
    for name in NODE_NAMES:
        state = SandboxState.load(cluster.node(name).state_file)
        if state is not None and state.asterisk_pid:
            asterisks.append(state.asterisk_pid)
    return {
        "asterisk": asterisks,
        "kamailio": cluster.network.pids(EDGE),  # its main process and the workers it forked
        "hotline": [os.getpid()],
    }


def _cpu(pids: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(cpu_seconds(pid) for pid in found) for name, found in pids.items()}


async def _cases(hotline: Hotline, callers: list[str]) -> tuple[Counter[str], list[Case]]:
    deadline = time.monotonic() + CASES_WAIT
    while True:
        async with hotline.db() as session:
            rows = list(await session.scalars(select(Case).where(Case.caller.in_(callers))))
        per_caller = Counter(case.caller for case in rows)
        closed = [case for case in rows if case.ended_at is not None]
        if len(closed) >= len(callers) or time.monotonic() > deadline:
            return per_caller, closed
        await asyncio.sleep(0.5)


async def _step(hotline: Hotline, cluster: ClusterSandbox, phone: Carrier, rate: float, serial: int) -> Step:
    plan = LoadPlan(rate=rate, calls=int(rate * STEP_SECONDS), caller_prefix=f"09{serial:02d}")
    peak = 0
    running = True

    async def watch() -> None:
        nonlocal peak
        while running:
            peak = max(peak, sum(1 for c in hotline.calls.values() if c.ended_at is None))
            await asyncio.sleep(0.25)

    pids = _pids(cluster)
    before, started = _cpu(pids), time.monotonic()
    watching = asyncio.create_task(watch())
    result = await asyncio.to_thread(phone.load, plan, STEP_SECONDS + 120.0)
    wall = time.monotonic() - started
    after = _cpu(pids)
    running = False
    await watching
    await hotline.writer.flush(CASES_WAIT)
    per_caller, closed = await _cases(hotline, result.callers)
    closed_callers = {c.caller for c in closed}
    lags = [(c.updated_at - c.ended_at).total_seconds() for c in closed if c.updated_at and c.ended_at]
    return Step(
        rate=rate,
        placed=len(result.callers),
        failed=len(result.callers) - result.succeeded,
        closed=sum(1 for caller in result.callers if caller in closed_callers),
        doubled=sum(1 for count in per_caller.values() if count > 1),
        # A conversation is recorded (MixMonitor's bridged audio): a caller still waiting has none.
        incomplete=sum(
            1 for c in closed if not c.outcome or not c.number or (c.answered_at and not c.recording)
        ),
        p99=_percentile(lags, 0.99),
        peak=peak,
        wall=wall,
        cpu={name: after[name] - before[name] for name in after},
        answer_p95_ms=_percentile(result.answer_ms, 0.95),
    )


def _row(step: Step) -> str:
    return (
        f"| {step.rate:g} | {step.placed} ({step.failed}) | {step.closed} | {step.doubled} | {step.incomplete} "
        f"| {step.answer_p95_ms:.0f} ms | {step.p99:.2f} s | {step.peak} "
        f"| {step.busy('asterisk'):.2f} / {step.busy('kamailio'):.2f} / {step.busy('hotline'):.2f} "
        f"| {step.share:.1f} % | {'yes' if step.held else 'no'} |"
    )


async def main(rates: tuple[float, ...]) -> None:
    logging.basicConfig(level=logging.ERROR)
    state = Path(__file__).resolve().parent.parent / "var" / "bench-carrier"
    state.mkdir(parents=True, exist_ok=True)
    (state / "hotline.db").unlink(missing_ok=True)
    site: Settings = cluster_site(PREFIX, str(state))
    cluster = ClusterSandbox(site, log=lambda _: None)
    cluster.up()
    try:
        async with services(site, web=False, grace=5.0) as running:
            hotline = running.hotline
            deadline = time.monotonic() + 60
            while not all(b.ami.connected.is_set() for b in hotline.bridges.values()):
                if time.monotonic() > deadline:
                    raise RuntimeError("the center did not follow both nodes")
                await asyncio.sleep(0.3)
            phone = carrier(cluster, state / "carrier")
            print(
                "| calls/s | calls (failed) | complete cases | doubled | incomplete | INVITE→200 p95 "
                "| p99 hang-up to case | calls at once | busy: Asterisk / Kamailio / hotline "
                "| hotline vs Asterisk | held |"
            )
            print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |")
            steps = []
            for serial, rate in enumerate(rates, start=1):
                step = await _step(hotline, cluster, phone, rate, serial)
                steps.append(step)
                print(_row(step), flush=True)
                if not step.held:
                    break
                await asyncio.sleep(5)
            held = [s for s in steps if s.held]
            if held:
                knee = held[-1]
                print(
                    f"\nKnee: {knee.rate:g} new calls/s ({knee.peak} calls at once), every call "
                    f"one complete case, INVITE→200 p95 {knee.answer_p95_ms:.0f} ms; Asterisk "
                    f"{knee.busy('asterisk'):.2f} of a core, the hotline {knee.share:.1f} % of Asterisk's CPU "
                    f"(target: at most {SHARE_TARGET:g} %)."
                )
            if steps and not steps[-1].held:
                print(f"What gave at {steps[-1].rate:g}/s: {steps[-1].gave()}")
    finally:
        cluster.down()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES))
    chosen = tuple(float(r) for r in parser.parse_args().rates.split(","))
    asyncio.run(main(chosen))
