"""What the sandbox benchmarks share: a site of its own on the test Asterisk (its own database, journal and
queue_log position, the same secrets) with the FastAGI server and the bridge each in its own process;
simulated calls placed at a steady rate; the cases they became; the CPU each process used."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.services import start_hotline

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ROOT / "tests" / "hotline.test.toml"
# What callers do: mostly an operator at once, some hang up in the menu, some pick a topic.
MIX = [("0", 6.0)] * 7 + [("", 3.0)] * 2 + [("2", 4.0)]
TICK = os.sysconf("SC_CLK_TCK")
CASES_WAIT = 60.0  # seconds the last cases may take to be written after the last call ended


def cpu_seconds(pid: int) -> float:
    """User and system CPU of the whole process, threads that have ended included (Asterisk runs a thread
    per channel)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class Rig:
    site: Any  # hotline.settings.Settings of the benchmark's own site
    database: str
    ami: Any
    pids: dict[str, int]  # asterisk, bridge, agi
    rng: random.Random
    serial: int = 0

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    async def place(
        self, rate: float, seconds: float, before_each: Callable[[int], None] | None = None
    ) -> list[Any]:
        """New calls of MIX at `rate` per second for `seconds`; their results (or exceptions) once all ended."""
        from shell.callsim import CallRequest, place_call

        started = time.monotonic()
        tasks: list[asyncio.Task[Any]] = []
        for i in range(int(rate * seconds)):
            if before_each is not None:
                before_each(i)
            keys, hangup = self.rng.choice(MIX)
            self.serial += 1
            request = CallRequest(
                "1022", keys=keys, first_wait=1.0, hangup_after=hangup, caller=f"09{self.serial:08d}"
            )
            tasks.append(asyncio.create_task(place_call(self.site, request, ami=self.ami, timeout=120)))
            await asyncio.sleep(max(0.0, started + (i + 1) / rate - time.monotonic()))
        return list(await asyncio.gather(*tasks, return_exceptions=True))

    async def cases(self, wanted: set[str]) -> tuple[list[Any], list[Any]]:
        """The cases of the calls `wanted`, and those of them closed, once all are closed (or after
        CASES_WAIT seconds)."""
        from hotline.db.engine import make_engine, sessions
        from hotline.db.models import Case

        engine = make_engine(self.database)
        deadline = time.monotonic() + CASES_WAIT
        try:
            while True:
                async with sessions(engine)() as session:
                    rows = list(
                        await session.execute(
                            select(
                                Case.linkedid, Case.ended_at, Case.updated_at, Case.outcome, Case.number
                            ).where(Case.linkedid.in_(wanted))
                        )
                    )
                closed = [r for r in rows if r.ended_at is not None]
                if len(closed) >= len(wanted) or time.monotonic() > deadline:
                    return rows, closed
                await asyncio.sleep(0.5)
        finally:
            await engine.dispose()


def lag_percentiles(closed: list[Any]) -> tuple[float, float]:
    """p50 and p99 of the seconds from each call's hang-up to its case written."""
    lags = sorted((r.updated_at - r.ended_at).total_seconds() for r in closed)
    if not lags:
        return float("nan"), float("nan")
    return lags[len(lags) // 2], lags[min(len(lags) - 1, int(len(lags) * 0.99))]


@contextlib.asynccontextmanager
async def rig(tmp: Path, database: str | None = None) -> AsyncIterator[Rig]:
    """The sandbox (started if it was not, and stopped again then), the two processes, an AMI connection;
    cases on `database`, else on a SQLite file in `tmp`."""
    from hotline import settings as site_settings
    from shell.callsim import connect_ami
    from shell.sandbox.runner import Sandbox, SandboxState
    from tests.sites import not_ours, site_on

    url = database or f"sqlite+aiosqlite:///{tmp}/bench.db"
    settings_file = site_on(url, tmp)
    test_site = site_settings.load(SETTINGS)
    box = Sandbox(test_site, log=lambda line: None)
    was_running = bool(box.status().get("running"))
    box.up()
    state = SandboxState.load(box.state_file)
    assert state is not None
    agi = await start_hotline("agi", "serve", ready=b"FastAGI server on", settings=settings_file)
    bridge = await start_hotline("bridge", ready=b"AMI bridge connected", settings=settings_file)
    site = site_settings.load(settings_file)
    ami = await connect_ami(site)
    try:
        pids = {"asterisk": state.asterisk_pid, "bridge": bridge.pid or 0, "agi": agi.pid or 0}
        yield Rig(site, url, ami, pids, random.Random(1022))
    finally:
        await ami.close()
        for proc in (agi, bridge):
            proc.send_signal(2)  # SIGINT: a clean stop, the cases still queued written
            await proc.wait()
        not_ours(test_site)
        if not was_running:
            box.down()
