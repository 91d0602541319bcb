"""The worklist of missed calls as the case writer keeps it, on SQLite and PostgreSQL: one open entry per
caller number however often they missed, nothing for calls that were not missed, the same call written
twice counted once, closed when the citizen gets through, and the tries and their results."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ami_bridge.calls import Call
from ami_bridge.case_writer import CaseWriter
from hotline import worklist
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import Case, MissedCall
from hotline.db.numbers import NumberAllocator
from shell.service import with_closed_call_hooks

T0 = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)


@pytest.fixture
async def db(database: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_async(database)
    engine = make_engine(database)
    yield sessions(engine)
    await engine.dispose()


def call(linkedid: str, caller: str, minute: int, how: str, topic: str = "violation") -> Call:
    start = T0 + timedelta(minutes=minute)
    c = Call(linkedid=linkedid, started_at=start, caller=caller, did="1022", topic=topic)
    c.mark("entered", did="1022")
    if how in ("queue", "answered"):
        c.queue, c.queued_at = topic, start + timedelta(seconds=15)
    if how == "answered":
        c.answered_at, c.agent = start + timedelta(seconds=30), "101"
    if how == "after_hours":
        c.hours = "closed"
    c.finish(start + timedelta(seconds=60), "16 Normal Clearing")
    return c


async def entries(db: async_sessionmaker[AsyncSession]) -> list[MissedCall]:
    async with db() as session:
        return list(await session.scalars(select(MissedCall).order_by(MissedCall.id)))


async def test_missed_calls_make_one_open_entry_per_number_and_a_call_that_gets_through_closes_it(
    db: async_sessionmaker[AsyncSession],
) -> None:
    writer = with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), settle_seconds=0))
    first = call("w.1", "0944000001", 0, "queue")
    await writer.write(
        [first, call("w.2", "0944000001", 5, "after_hours"), call("w.3", "0944000002", 6, "queue")]
    )
    await writer.write([first])  # a second hang-up report of the same call
    await writer.write(
        [
            call("w.4", "0944000003", 7, "ivr", topic=""),  # hung up before choosing: not missed
            call("w.5", "anonymous", 8, "queue"),  # no number to call back
            call("w.6", "0944000004", 9, "answered"),
        ]
    )
    found = await entries(db)
    assert [(e.caller, e.calls, e.outcome, e.status) for e in found] == [
        ("0944000001", 2, "after_hours", "open"),
        ("0944000002", 1, "abandoned_queue", "open"),
    ]
    await writer.write([call("w.7", "0944000001", 20, "answered")])
    found = await entries(db)
    assert (found[0].status, found[0].last_result) == ("reached", "called_again")
    await writer.write([first])  # counted already, by an entry closed since: no new entry
    await writer.write([call("w.8", "0944000001", 30, "queue")])
    assert [(e.caller, e.status) for e in await entries(db)] == [
        ("0944000001", "reached"),
        ("0944000002", "open"),
        ("0944000001", "open"),
    ]


async def test_tries_one_at_a_time_and_the_entry_closes_on_reached_wrong_number_or_the_last_no_answer(
    db: async_sessionmaker[AsyncSession],
) -> None:
    writer = with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), settle_seconds=0))
    await writer.write([call("t.1", "0955000001", 0, "queue"), call("t.2", "0955000002", 1, "queue")])
    one, two = await entries(db)
    now = T0 + timedelta(hours=1)
    for n in range(2):
        async with db() as session, session.begin():
            await worklist.start_try(session, one.id, "an", "101", now + timedelta(minutes=n))
            with pytest.raises(worklist.WorklistError, match="under way"):
                await worklist.start_try(session, one.id, "binh", "102", now + timedelta(minutes=n))
        async with db() as session, session.begin():
            entry = await worklist.record_result(session, one.id, "no_answer", now, most_tries=2)
        assert entry.status == ("open" if n == 0 else "given_up")
    async with db() as session, session.begin():
        with pytest.raises(worklist.WorklistError, match="closed"):
            await worklist.start_try(session, one.id, "an", "101", now)
        with pytest.raises(worklist.WorklistError, match="result must be"):
            await worklist.record_result(session, two.id, "maybe", now, most_tries=2)
        with pytest.raises(worklist.WorklistError, match="waiting for its result"):
            await worklist.record_result(session, two.id, "reached", now, most_tries=2)
    # A try nobody said the result of no longer holds the entry after a while.
    async with db() as session, session.begin():
        await worklist.start_try(session, two.id, "an", "101", now)
    async with db() as session, session.begin():
        await worklist.start_try(session, two.id, "binh", "102", now + worklist.TRY_HOLDS * 2)
    async with db() as session, session.begin():
        entry = await worklist.record_result(session, two.id, "wrong_number", now, most_tries=5)
    assert (entry.status, entry.tries) == ("wrong_number", 2)


async def test_two_calls_of_one_caller_that_end_in_either_order_both_count(
    db: async_sessionmaker[AsyncSession],
) -> None:
    writer = with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), settle_seconds=0))
    early, late = call("o.1", "0977000001", 0, "queue"), call("o.2", "0977000001", 1, "queue")
    early.ended_at = T0 + timedelta(minutes=5)  # the one that started first ended last
    await writer.write([late])
    await writer.write([early])
    await writer.write([late, early])
    (entry,) = await entries(db)
    assert (entry.calls, entry.last_at, entry.first_at) == (2, T0 + timedelta(minutes=5), late.ended_at)
    async with db() as session:
        numbers = dict((await session.execute(select(Case.linkedid, Case.id))).tuples().all())
    assert entry.last_case_id == numbers["o.1"] and entry.first_case_id == numbers["o.2"]
