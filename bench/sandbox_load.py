"""Calls on the sandbox: new simulated calls at a steady rate through the IVR and the queues, with the
FastAGI server and the bridge each in its own process. Reports whether every call became exactly one case,
how soon after the hang-up its case was written, and the bridge's CPU against Asterisk's."""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.services import start_hotline

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "tests" / "hotline.test.toml"
# What callers do: mostly an operator at once, some hang up in the menu, some pick a topic.
MIX = [("0", 6.0)] * 7 + [("", 3.0)] * 2 + [("2", 4.0)]


TICK = os.sysconf("SC_CLK_TCK")


def _cpu(pid: int) -> float:
    """User and system CPU of the whole process, threads that have ended included (Asterisk runs a thread
    per channel)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


async def _service(kind: str, settings: Path) -> asyncio.subprocess.Process:
    if kind == "agi":
        return await start_hotline("agi", "serve", ready=b"FastAGI server on", settings=settings)
    return await start_hotline("bridge", ready=b"AMI bridge connected", settings=settings)


async def run(rate: float = 10.0, seconds: float = 60.0, postgres_restart: bool = False) -> str:
    """With `postgres_restart`, the cases go to a throwaway PostgreSQL that is stopped for 5 s half way."""
    if not postgres_restart:
        return await _run(rate, seconds, None)
    from shell.sandbox.postgres import throwaway_cluster

    with throwaway_cluster() as running:
        return await _run(rate, seconds, running)


async def _run(rate: float, seconds: float, pg: Any) -> str:
    from hotline import settings as site_settings
    from hotline.db.engine import make_engine, sessions
    from hotline.db.models import Case
    from shell.callsim import CallRequest, connect_ami, place_call
    from shell.sandbox.runner import Sandbox, SandboxState
    from tests.sites import not_ours, site_on

    with tempfile.TemporaryDirectory(prefix="hotline-load-") as tmp:
        db = pg.url if pg is not None else f"sqlite+aiosqlite:///{tmp}/load.db"
        # A site of its own on the test Asterisk (its own journal and queue_log position, the same secrets).
        settings_file = site_on(db, Path(tmp))
        site = site_settings.load(settings_file)
        test_site = site_settings.load(SETTINGS)
        box = Sandbox(test_site, log=lambda line: None)
        was_running = bool(box.status().get("running"))
        box.up()
        state = SandboxState.load(box.state_file)
        assert state is not None
        agi = await _service("agi", settings_file)
        bridge = await _service("bridge", settings_file)
        ami = await connect_ami(site)
        calls: list[asyncio.Task[object]] = []
        try:
            before = {"asterisk": _cpu(state.asterisk_pid), "bridge": _cpu(bridge.pid), "agi": _cpu(agi.pid)}
            started = time.monotonic()
            rng = random.Random(1022)
            fault: asyncio.Task[None] | None = None
            for i in range(int(rate * seconds)):
                if pg is not None and fault is None and i >= rate * seconds / 2:
                    fault = asyncio.create_task(_restart(pg))
                keys, hangup = rng.choice(MIX)
                request = CallRequest(
                    "1022", keys=keys, first_wait=1.0, hangup_after=hangup, caller=f"09{i:08d}"
                )
                calls.append(asyncio.create_task(place_call(site, request, ami=ami, timeout=120)))
                await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.monotonic()))
            results = await asyncio.gather(*calls, return_exceptions=True)
            if fault is not None:
                await fault
            placed = [r for r in results if not isinstance(r, BaseException)]
            wanted = {r.linkedid for r in placed}  # type: ignore[attr-defined]
            engine = make_engine(db)
            deadline = time.monotonic() + 60
            while True:
                async with sessions(engine)() as session:
                    rows = list(
                        await session.execute(
                            select(Case.linkedid, Case.ended_at, Case.updated_at, Case.outcome, Case.number)
                        )
                    )
                closed = [r for r in rows if r.ended_at is not None]
                if len(closed) >= len(wanted) or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            await engine.dispose()
            used = {
                "asterisk": _cpu(state.asterisk_pid) - before["asterisk"],
                "bridge": _cpu(bridge.pid) - before["bridge"],
                "agi": _cpu(agi.pid) - before["agi"],
            }
        finally:
            await ami.close()
            for proc in (agi, bridge):
                proc.send_signal(2)  # SIGINT: a clean stop, the cases still queued written
                await proc.wait()
            not_ours(test_site)
            if not was_running:
                box.down()
    linkedids = [r.linkedid for r in rows]
    incomplete = sum(1 for r in closed if not r.outcome or not r.number)
    lags = sorted((r.updated_at - r.ended_at).total_seconds() for r in closed)
    p50 = lags[len(lags) // 2] if lags else float("nan")
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else float("nan")
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
