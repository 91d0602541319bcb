"""The node's knee: new calls per second ramped on the sandbox (through the IVR, into the queues, recorded,
agents answering and hanging up) until something gives. Each step places calls at one rate for a while
and waits for them to end; the knee is the highest rate at which every call became exactly one complete
case written within 1 s of its hang-up. For each step: the calls in progress at most, how busy each
process was (CPU seconds per second of the step: 1.0 is one core of this machine's), and the hotline's own
processes' CPU as a share of Asterisk's. Run: `.venv/bin/python -m bench.knee` (as root)."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.rig import lag_percentiles, rig
from shell.callsim import CallResult

RATES = (5.0, 10.0, 20.0, 30.0, 40.0, 60.0)
LAG_TARGET = 1.0  # seconds from the hang-up to the case written
SHARE_TARGET = 10.0  # the hotline's processes' CPU, % of Asterisk's


@dataclass
class Step:
    rate: float
    placed: int
    failed: int
    closed: int
    doubled: int
    incomplete: int
    p99: float
    peak: int
    wall: float
    cpu: dict[str, float]

    @property
    def held(self) -> bool:
        return (
            self.failed == 0
            and self.closed == self.placed
            and self.doubled == 0
            and self.incomplete == 0
            and self.p99 <= LAG_TARGET
        )

    def busy(self, name: str) -> float:
        return self.cpu[name] / self.wall if self.wall else 0.0

    def gave(self) -> str:
        """What failed at this step, in words."""
        said = []
        if self.failed:
            said.append(f"{self.failed} calls could not be placed or followed by the simulated callers")
        if self.closed < self.placed:
            said.append(f"{self.placed - self.closed} calls without a closed case")
        if self.doubled or self.incomplete:
            said.append(f"{self.doubled} doubled and {self.incomplete} incomplete cases")
        if not self.p99 <= LAG_TARGET:
            said.append(f"p99 from hang-up to case {self.p99:.2f} s")
        return "; ".join(said)

    @property
    def share(self) -> float:
        ours = self.cpu["bridge"] + self.cpu["agi"]
        return 100 * ours / self.cpu["asterisk"] if self.cpu["asterisk"] else float("nan")


def peak_concurrency(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    now = most = 0
    for _, change in edges:
        now += change
        most = max(most, now)
    return most


async def ramp(rates: tuple[float, ...] = RATES, seconds: float = 30.0, stop_after_fail: bool = True) -> str:
    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="hotline-knee-") as tmp:
        async with rig(Path(tmp)) as bench:
            for rate in rates:
                before = bench.cpu()
                started = time.monotonic()
                results = await bench.place(rate, seconds)
                placed = [r for r in results if isinstance(r, CallResult) and r.answered]
                rows, closed = await bench.cases({r.linkedid for r in placed})
                _, p99 = lag_percentiles(closed)
                after = bench.cpu()
                step = Step(
                    rate=rate,
                    placed=len(placed),
                    failed=len(results) - len(placed),
                    closed=len({r.linkedid for r in closed}),
                    doubled=len(rows) - len({r.linkedid for r in rows}),
                    incomplete=sum(1 for r in closed if not r.outcome or not r.number),
                    p99=p99,
                    peak=peak_concurrency([(r.started, r.ended) for r in placed]),
                    wall=time.monotonic() - started,
                    cpu={name: after[name] - before[name] for name in before},
                )
                steps.append(step)
                print(describe(step), flush=True)
                if stop_after_fail and not step.held:
                    break
                await asyncio.sleep(3)  # the phones hang up their last calls
    return table(steps, seconds)


def describe(step: Step) -> str:
    return (
        f"{step.rate:g}/s: {step.closed}/{step.placed} cases, {step.failed} failed, p99 {step.p99:.2f} s, "
        f"peak {step.peak}, busy asterisk {step.busy('asterisk'):.2f} bridge {step.busy('bridge'):.2f} "
        f"agi {step.busy('agi'):.2f}"
    )


def table(steps: list[Step], seconds: float) -> str:
    held = [s for s in steps if s.held]
    knee = held[-1] if held else None
    lines = [
        f"Ramp on the sandbox: each step places new calls at one rate for {seconds:g} s (the same mix of "
        "callers as above: most to an operator, some hang up in the menu, some choose a topic; recorded; the "
        "3 agent phones answer and hang up) and waits for every case. Busy: CPU seconds per second of the "
        "step (1.0 = one of this machine's cores). Cases on SQLite.",
        "",
        "| calls/s | calls (failed) | complete cases | doubled | p99 hang-up to case | calls at once "
        "| busy: Asterisk / bridge / FastAGI | ours vs Asterisk | held |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for s in steps:
        lines.append(
            f"| {s.rate:g} | {s.placed} ({s.failed}) | {s.closed - s.incomplete} | {s.doubled} | {s.p99:.2f} s "
            f"| {s.peak} | {s.busy('asterisk'):.2f} / {s.busy('bridge'):.2f} / {s.busy('agi'):.2f} "
            f"| {s.share:.1f} % | {'yes' if s.held else 'no'} |"
        )
    lines.append("")
    if knee is None:
        lines.append(
            "No step held: every call a complete case within 1 s of its hang-up failed at the first rate."
        )
    else:
        last = steps[-1]
        busiest = max(("asterisk", "bridge", "agi"), key=knee.busy)
        lines.append(
            f"Knee: {knee.rate:g} new calls/s sustained ({knee.peak} calls at once), every call one complete "
            f"case, p99 {knee.p99:.2f} s from hang-up to case. There the busiest process was {busiest} "
            f"({knee.busy(busiest):.2f} of a core) and the hotline's processes used {knee.share:.1f} % of "
            f"Asterisk's CPU (target: at most {SHARE_TARGET:g} %). "
            + (
                f"What gave at {last.rate:g}/s: {last.gave()}."
                if last is not knee
                else "The ramp's last step still held: the knee is above it."
            )
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each step places calls")
    parser.add_argument("--rates", default=",".join(f"{r:g}" for r in RATES), help="calls/s, comma-separated")
    args = parser.parse_args()
    rates = tuple(float(r) for r in args.rates.split(","))
    print(asyncio.run(ramp(rates, args.seconds)))


if __name__ == "__main__":
    main()
