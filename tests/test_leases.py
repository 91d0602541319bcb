"""Leases (hotline/db/leases.py) on a real PostgreSQL: of two centers only one holds a lease; the other
takes it within seconds when the holder stops, is killed or has its session cut, and the holder's work is
cancelled the moment it loses it. On SQLite a lease is held at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.db.engine import make_engine
from hotline.db.leases import Lease, lock_key, while_held

QUICK = {"check_seconds": 0.3, "retry_seconds": 0.2}


@contextlib.asynccontextmanager
async def running(lease: Lease) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(lease.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def centers(url: str, n: int = 2) -> list[AsyncEngine]:
    return [make_engine(url, pooled=False) for _ in range(n)]


async def either(*leases: Lease) -> None:
    waits = [asyncio.ensure_future(lease.held.wait()) for lease in leases]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


def test_lock_keys_are_stable_and_distinct() -> None:
    assert lock_key("outbox") == lock_key("outbox")
    assert len({lock_key(n) for n in ("cases", "outbox", "mailbox", "deadlines", "retention")}) == 5
    assert -(2**63) <= lock_key("cases") < 2**63


@pytest.mark.postgres
async def test_one_center_holds_and_the_other_takes_over_when_it_stops(fresh_postgres_url: str) -> None:
    first_engine, second_engine = await centers(fresh_postgres_url)
    first, second = Lease(first_engine, "outbox", **QUICK), Lease(second_engine, "outbox", **QUICK)
    try:
        async with running(second):
            async with running(first):
                await asyncio.wait_for(either(first, second), 5)
                await asyncio.sleep(1.0)  # both have tried several times by now
                assert first.held.is_set() != second.held.is_set(), "exactly one center holds the lease"
                holder = first if first.held.is_set() else second
            if holder is first:
                await asyncio.wait_for(second.held.wait(), 3)
            assert second.held.is_set() and not first.held.is_set()
    finally:
        for engine in (first_engine, second_engine):
            await engine.dispose()


@pytest.mark.postgres
async def test_a_cut_session_stops_the_work_and_hands_the_lease_over(fresh_postgres_url: str) -> None:
    first_engine, second_engine = await centers(fresh_postgres_url)
    first, second = Lease(first_engine, "mailbox", **QUICK), Lease(second_engine, "mailbox", **QUICK)
    runs: list[str] = []
    cancelled: list[str] = []

    def work(center: str):  # type: ignore[no-untyped-def]
        async def loop() -> None:
            runs.append(center)
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.append(center)
                raise

        return loop

    try:
        async with running(first):
            await asyncio.wait_for(first.held.wait(), 5)
            async with running(second):
                work_a = asyncio.create_task(while_held(first, work("a")))
                work_b = asyncio.create_task(while_held(second, work("b")))
                await asyncio.sleep(0.5)
                assert runs == ["a"]
                # The holder's session is killed by the server (as a fail-over or a cut would end it).
                async with second_engine.connect() as admin:
                    killed = await admin.scalar(
                        text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks"
                            " WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
                        )
                    )
                assert killed == 1
                await asyncio.wait_for(second.held.wait(), 5)
                await asyncio.sleep(0.3)
                assert cancelled == ["a"], "the old holder's work stopped"
                assert runs[:2] == ["a", "b"]
                # The first center tries again and waits: it does not take the lease back.
                await asyncio.sleep(1.0)
                assert not first.held.is_set() and second.held.is_set()
                for task in (work_a, work_b):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
    finally:
        for engine in (first_engine, second_engine):
            await engine.dispose()


async def test_on_sqlite_a_lease_is_held_at_once(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/hotline.db")
    lease = Lease(engine, "outbox", **QUICK)
    try:
        async with running(lease):
            await asyncio.wait_for(lease.held.wait(), 1)
    finally:
        await engine.dispose()
