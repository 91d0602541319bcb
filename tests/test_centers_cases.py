"""The case writer on two centers (shell/centers.py) on a real PostgreSQL: both follow the same calls, the
one that holds the `cases` lease writes them, the other stands by and drops what was written (counting it in
its day's figures). When the writer's center dies between a call's end and its write, the other takes the
lease and writes it: every call ends as exactly one complete case, its closed-call hooks run once."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ami_bridge.calls import Call
from ami_bridge.case_writer import CaseWriter
from ami_bridge.journal import Journal
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import Case, MissedCall
from hotline.db.numbers import NumberAllocator
from shell import centers as centers_module
from shell.centers import CASES, Center
from shell.service import with_closed_call_hooks
from tests.processes import eventually

pytestmark = pytest.mark.postgres


async def _now(value: bool) -> bool:
    return value


def a_call(linkedid: str, start: datetime, ended: bool, answered: bool = True) -> Call:
    call = Call(linkedid=linkedid, started_at=start, caller="0912000111", did="1022", topic="health")
    call.mark("entered", did="1022")
    call.queue, call.queued_at = "health", start + timedelta(seconds=10)
    if answered:
        call.answered_at, call.agent, call.agent_name = start + timedelta(seconds=20), "101", "agent 101"
    if ended:
        call.finish(start + timedelta(seconds=60), "16 Normal Clearing")
    return call


async def test_the_standby_takes_over_the_cases_with_nothing_lost_or_written_twice(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(centers_module, "STANDBY_SECONDS", 0.2)
    await upgrade_async(fresh_postgres_url)
    engines = [make_engine(fresh_postgres_url), make_engine(fresh_postgres_url)]
    dbs = [sessions(e) for e in engines]
    writers = [
        with_closed_call_hooks(
            CaseWriter(db, NumberAllocator(db), settle_seconds=0, journal=Journal(tmp_path / f"journal-{n}"))
        )
        for n, db in enumerate(dbs)
    ]
    counted: list[list[str]] = [[], []]
    for n, writer in enumerate(writers):
        writer.subscribe(lambda call, n=n: counted[n].append(call.linkedid) if call.ended_at else None)
    a, b = Center(fresh_postgres_url), Center(fresh_postgres_url)
    start = datetime.now(UTC) - timedelta(minutes=5)
    try:
        a.follow_writer(writers[0])
        await asyncio.wait_for(a.leases[CASES].held.wait(), 10)
        b.follow_writer(writers[1])
        for writer in writers:
            writer.start()
        await asyncio.sleep(0.5)
        assert writers[0].active.is_set() and not writers[1].active.is_set()
        # Both centers follow the same calls: one ended, one missed (a worklist entry), one still talking.
        for writer in writers:
            writer.submit(a_call("n1.1", start, ended=True))
            writer.submit(a_call("n1.2", start, ended=True, answered=False))
            writer.submit(a_call("n1.3", start, ended=False))
        await writers[0].flush(10)
        # The standby drops what the active one wrote and counts it in its own day's figures.
        await eventually(
            lambda: _now(sorted(counted[1]) == ["n1.1", "n1.2"]),
            "the standby drop the written calls",
            10,
            0.05,
        )
        assert writers[1].backlog == 1  # the live call: kept until it ends

        # Center a's writer stops writing (its process is about to die) and the live call ends: a never
        # writes it. Then a dies: its lease's session ends with it.
        writers[0].stand_by()
        for writer in writers:
            writer.submit(a_call("n1.3", start, ended=True))
        await a.stop()
        await asyncio.wait_for(b.leases[CASES].held.wait(), 15)
        await asyncio.wait_for(writers[1].active.wait(), 10)
        await writers[1].flush(10)

        async with dbs[1]() as session:
            cases = list(await session.execute(select(Case.linkedid, Case.ended_at, Case.agent)))
            missed = await session.scalar(select(func.count()).select_from(MissedCall))
        assert sorted(linkedid for linkedid, _, _ in cases) == ["n1.1", "n1.2", "n1.3"]
        assert all(ended is not None for _, ended, _ in cases)
        assert missed == 1
        # The call b took over was written by b; the ones a wrote were not written again.
        assert writers[1].written == 1
    finally:
        for writer in writers:
            with contextlib.suppress(Exception):
                await writer.stop(1)
        for center in (a, b):
            await center.stop()
        for engine in engines:
            await engine.dispose()
