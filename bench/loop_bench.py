"""The shared event loop under a year's report and password guessing: the web app and the FastAGI server on
one loop, as in `hotline serve`, over a SQLite database holding a year of calls (300,000 cases). Each run
places the same IVR calls; during the loaded runs another process asks for the one-year report over and over
while 16 clients post wrong passwords as fast as they are answered. Reports the IVR's command latency (p50,
p99, ratio to the idle run) and the loop's worst stall.

The last run hashes as an unbounded pool of threads at normal priority would (every guess at once) for
comparison. Run: `.venv/bin/python -m bench.loop_bench`."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from bench.upload_bench import percentile as _percentile
from hotline.loop_watch import LoopWatch
from tests.helpers.loop_load import ivr_latencies, start_load, year_of_calls
from web import auth

LOAD_SECONDS = 12


async def _run(
    base: str, port: int, token: str, calls: int, loaded: bool, tag: str
) -> tuple[list[float], float, str]:
    watch = LoopWatch()
    watch.start()
    load = await start_load(base, token, LOAD_SECONDS) if loaded else None
    try:
        if load is not None:
            await asyncio.sleep(1)  # the guesses and the first report are under way
        latencies = await ivr_latencies(port, calls, tag)
        done = ""
        if load is not None:
            out, _ = await load.communicate()
            words = out.decode().split()
            done = f"{words[1]} reports, {words[3]} guesses"
        return latencies, watch.worst * 1000, done
    finally:
        if load is not None and load.returncode is None:
            load.kill()
            await load.wait()
        await watch.stop()


async def run(calls: int = 80) -> str:
    rows: list[tuple[str, list[float], float, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        async with year_of_calls(Path(folder)) as (base, port, token):
            await ivr_latencies(port, 8, "warm")
            rows.append(("idle (baseline)", *await _run(base, port, token, calls, False, "idle")))
            rows.append(("report + 16 guessers", *await _run(base, port, token, calls, True, "loaded")))
            # As an unbounded pool at normal priority would: every guess hashed at once.
            at_once, yield_cpu = auth.HASHING_AT_ONCE, auth._yield_cpu
            auth.HASHING_AT_ONCE, auth._hashing = 16, None
            auth._yield_cpu = lambda: None
            try:
                rows.append(
                    (
                        "same, hashing 16 at once (before)",
                        *await _run(base, port, token, calls, True, "before"),
                    )
                )
            finally:
                auth.HASHING_AT_ONCE, auth._hashing, auth._yield_cpu = at_once, None, yield_cpu
    base_p99 = _percentile(rows[0][1], 0.99)
    lines = [
        f"IVR calls per run: {calls} (pressing 2, hearing the case number), 4 at a time; the load runs"
        f" {LOAD_SECONDS} s from another process at the lowest priority.",
        "",
        "| run | IVR p50 ms | IVR p99 ms | p99 / baseline | worst loop stall ms | load done |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, latencies, stall, done in rows:
        p99 = _percentile(latencies, 0.99)
        lines.append(
            f"| {name} | {_percentile(latencies, 0.5):.2f} | {p99:.2f} | {p99 / base_p99:.2f} | {stall:.0f} |"
            f" {done or '-'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=80)
    print(asyncio.run(run(parser.parse_args().calls)))


if __name__ == "__main__":
    main()
