"""The schema and the case writer on PostgreSQL (marker postgres): migrations apply, two processes'
number allocators never hand out the same case number, cases round-trip with their times and text."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from ami_bridge.calls import Call
from ami_bridge.case_writer import CaseWriter
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import Case
from hotline.db.numbers import NumberAllocator, is_valid
from shell.service import with_closed_call_hooks

pytestmark = pytest.mark.postgres


async def test_fresh_database_round_trips_vietnamese(postgres_url: str) -> None:
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("create table probe (topic text)"))
            await conn.execute(text("insert into probe values ('Tư vấn sức khỏe')"))
            assert (await conn.execute(text("select topic from probe"))).scalar() == "Tư vấn sức khỏe"
            await conn.execute(text("drop table probe"))
    finally:
        await engine.dispose()


async def test_migrations_numbers_and_cases_on_postgresql(postgres_url: str) -> None:
    await upgrade_async(postgres_url)
    await upgrade_async(postgres_url)  # a second run changes nothing
    engine = make_engine(postgres_url)
    db = sessions(engine)
    try:
        # Two allocators stand for two processes (FastAGI server, bridge) taking blocks concurrently.
        first, second = NumberAllocator(db, block_size=7), NumberAllocator(db, block_size=5)
        numbers = await asyncio.gather(*(a.next_number() for a in (first, second) for _ in range(40)))
        assert len(set(numbers)) == 80 and all(is_valid(n) for n in numbers)

        writer = with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), settle_seconds=0))
        call = Call(
            linkedid="pg.1",
            started_at=datetime(2026, 11, 22, 1, 0, tzinfo=UTC),
            caller="0912345678",
            did="02371022",
            topic="Hỗ trợ an sinh",
            number=numbers[0],
        )
        call.answered_at = datetime(2026, 11, 22, 1, 0, 30, tzinfo=UTC)
        call.agent, call.agent_name = "102", "Trần Thị Bình"
        call.mark("entered", did="02371022")
        await writer.write([call])
        call.finish(datetime(2026, 11, 22, 1, 2, tzinfo=UTC), "16 Normal Clearing")
        await writer.write([call])
        async with db() as session:
            assert await session.scalar(select(func.count()).select_from(Case)) == 1
            case = await session.scalar(select(Case).where(Case.linkedid == "pg.1"))
        assert case is not None
        assert (case.number, case.outcome, case.agent_name, case.topic) == (
            numbers[0],
            "answered",
            "Trần Thị Bình",
            "Hỗ trợ an sinh",
        )
        assert case.started_at == datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
        assert case.talk_seconds == 90.0
    finally:
        await engine.dispose()
