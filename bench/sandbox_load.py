"""Calls on the sandbox: new simulated calls at a steady rate through the IVR and the queues, with the
FastAGI server and the bridge each in its own process. Reports whether every call became exactly one case,
how soon after the hang-up its case was written, and the bridge's CPU against Asterisk's."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from bench.rig import lag_percentiles, rig


async def run(rate: float = 10.0, seconds: float = 60.0, postgres_restart: bool = False) -> str:
    """With `postgres_restart`, the cases go to a throwaway PostgreSQL that is stopped for 5 s half way."""
    if not postgres_restart:
        return await _run(rate, seconds, None)
    from shell.sandbox.postgres import throwaway_cluster

    with throwaway_cluster() as running:
        return await _run(rate, seconds, running)


async def _run(rate: float, seconds: float, pg: Any) -> str:
    with tempfile.TemporaryDirectory(prefix="hotline-load-") as tmp:
        async with rig(Path(tmp), pg.url if pg is not None else None) as bench:
            before = bench.cpu()
            fault: list[asyncio.Task[None]] = []

            def halfway(i: int) -> None:
                if pg is not None and not fault and i >= rate * seconds / 2:
                    fault.append(asyncio.create_task(_restart(pg)))

            results = await bench.place(rate, seconds, halfway)
            for task in fault:
                await task
            placed = [r for r in results if not isinstance(r, BaseException)]
            wanted = {r.linkedid for r in placed}
            rows, closed = await bench.cases(wanted)
            after = bench.cpu()
    used = {name: after[name] - before[name] for name in before}
    linkedids = [r.linkedid for r in rows]
    incomplete = sum(1 for r in closed if not r.outcome or not r.number)
    p50, p99 = lag_percentiles(closed)
    failures = len(results) - len(placed)
    return "\n".join(
        [
            f"Sandbox: {rate:g} new calls/s for {seconds:g} s through the IVR and the queues (3 agent phones); "
            "FastAGI server and bridge in their own processes; cases "
            + ("on PostgreSQL, stopped for 5 s half way" if pg is not None else "on SQLite"),
            "",
            "| measure | value | target |",
            "| --- | ---: | --- |",
            f"| calls placed (failed to place) | {len(placed)} ({failures}) | |",
            f"| cases closed / calls | {len(closed)} / {len(wanted)} | every call |",
            f"| calls with more than one case | {len(linkedids) - len(set(linkedids))} | 0 |",
            f"| closed cases without an outcome or a number | {incomplete} | 0 |",
            f"| case written after hang-up, p50 / p99 | {p50:.2f} s / {p99:.2f} s | p99 at most 1 s |",
            f"| CPU: Asterisk / bridge / FastAGI server | {used['asterisk']:.1f} s / {used['bridge']:.1f} s / "
            f"{used['agi']:.1f} s | |",
            f"| bridge CPU as a share of Asterisk's | {used['bridge'] / used['asterisk'] * 100:.1f} % | at most 10 % |",
        ]
    )


async def _restart(pg: Any) -> None:
    """The database goes away for 5 s in the middle of the load, then comes back."""
    await asyncio.to_thread(pg.stop)
    await asyncio.sleep(5)
    await asyncio.to_thread(pg.start)
