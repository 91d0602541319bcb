"""The case writer under faults, on real SQLite files and the real PostgreSQL: a locked database, hostile
caller IDs, a value the database refuses, a writer killed with its journal left behind, a torn journal
and a full disk. Each test reads the cases back and checks what they hold, not only how many there are."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import selectinload

from ami_bridge.calls import Call, to_record
from ami_bridge.case_writer import CaseWriter
from ami_bridge.journal import Journal
from casework import workflow as wf
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import Case, DeadLetter, RequestContact, Role
from hotline.db.numbers import NumberAllocator, is_valid
from hotline.errors import HotlineError
from shell.service import with_closed_call_hooks
from tests.helpers.faults import sqlite_locked

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def entered(linkedid: str, **values: object) -> Call:
    call = Call(linkedid=linkedid, started_at=T0, caller="0912345678", did="1022")
    for name, value in values.items():
        setattr(call, name, value)
    call.mark("entered", T0, did="1022", caller=call.caller)
    return call


def answered_and_ended(call: Call) -> Call:
    call.ivr_path, call.ivr_node, call.topic, call.queue = "2", "main", "suggestion", "suggestion"
    call.queued_at = T0 + timedelta(seconds=20)
    call.mark("queued", call.queued_at, queue="suggestion", position=1)
    call.answered_at = T0 + timedelta(seconds=25)
    call.agent, call.agent_name, call.wait_seconds = "101", "Nguyễn Văn An", 5.0
    call.mark("answered", call.answered_at, agent="101")
    call.finish(T0 + timedelta(seconds=65), "16 Normal Clearing")
    return call


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/cases.db"
    return str(request.getfixturevalue("fresh_postgres_url"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    await upgrade_async(database_url)
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


async def read_case(engine: AsyncEngine, linkedid: str) -> Case:
    async with sessions(engine)() as session:
        case = await session.scalar(
            select(Case).where(Case.linkedid == linkedid).options(selectinload(Case.events))
        )
    assert case is not None, f"no case for {linkedid}"
    return case


async def test_the_end_of_calls_survives_a_locked_sqlite_and_each_call_keeps_one_number(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cases.db"
    await upgrade_async(url)
    engine = make_engine(url)
    db = sessions(engine)
    numbers = NumberAllocator(db)
    writer = with_closed_call_hooks(CaseWriter(db, numbers, settle_seconds=0, window=0.05, retry_seconds=0.2))
    writer.start()
    try:
        with sqlite_locked(tmp_path / "cases.db", 7):
            calls = [entered(f"lock.{i}", number="" if i == 0 else f"heard-{i}") for i in range(3)]
            for call in calls:
                writer.submit(call)
            await asyncio.sleep(1)
            # While the lock holds, the calls go on: the IVR leaves its path, one hangs up in the IVR,
            # one is answered, one gives up in the queue.
            calls[0].ivr_path, calls[0].ivr_node = "", "main"
            calls[0].finish(T0 + timedelta(seconds=9))
            answered_and_ended(calls[1])
            calls[2].ivr_path, calls[2].ivr_node, calls[2].queue = "4-1", "health", "health"
            calls[2].queued_at = T0 + timedelta(seconds=30)
            calls[2].finish(T0 + timedelta(seconds=80))
            for call in calls:
                writer.submit(call)
            for _ in range(100):
                if writer.failed_writes:
                    break
                await asyncio.sleep(0.1)
            assert writer.failed_writes >= 1, "the lock did not hold up the writer"
        await writer.flush(timeout=30)
        cases = [await read_case(engine, f"lock.{i}") for i in range(3)]
    finally:
        await writer.stop()
        await engine.dispose()
    assert [c.outcome for c in cases] == ["abandoned_ivr", "answered", "abandoned_queue"]
    assert all(c.ended_at is not None for c in cases)
    assert [c.ivr_node for c in cases] == ["main", "main", "health"]
    assert (cases[1].ivr_path, cases[1].agent, cases[1].wait_seconds) == ("2", "101", 5.0)
    assert (cases[2].ivr_path, cases[2].queue, cases[2].wait_seconds) == ("4-1", "health", 50.0)
    # The numbers the callers heard; the call that heard none took exactly one, however many retries.
    assert [c.number for c in cases[1:]] == ["heard-1", "heard-2"]
    assert is_valid(cases[0].number) and numbers._next == 2
    for case in cases:
        kinds = [e.kind for e in case.events]
        assert kinds[0] == "entered" and kinds.count("ended") == 1, kinds


async def test_hostile_caller_ids_are_bounded_and_the_calls_around_them_unaffected(
    engine: AsyncEngine, database_url: str
) -> None:
    tag = "pg" if database_url.startswith("postgresql") else "lite"
    db = sessions(engine)
    writer = with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), settle_seconds=0))
    hostile = {
        "long-name": {"caller_name": "Nguyễn " * 50},  # 350 characters
        "control": {"caller_name": "A\x00B\x07C\x1b[31mD\u202eE\r\nF", "caller": "09\x0012"},
        "emoji": {"caller_name": "Bà Tư 👵🏼☎️ 🇻🇳"},
        "long-number": {"caller": "0" * 80, "did": "1" * 40},
    }
    calls = [entered(f"{tag}.before")]
    calls += [entered(f"{tag}.{name}", **values) for name, values in hostile.items()]
    calls += [entered(f"{tag}.after")]
    for call in calls:
        answered_and_ended(call)
    await writer.write(calls)
    cases = {
        c.linkedid.split(".", 1)[1]: c for c in [await read_case(engine, call.linkedid) for call in calls]
    }
    assert cases["before"].outcome == cases["after"].outcome == "answered"
    assert cases["before"].caller_name == "" and cases["after"].caller == "0912345678"
    long_name = cases["long-name"].caller_name
    assert len(long_name) == 128 and long_name.startswith("Nguyễn Nguyễn") and long_name.endswith("…")
    assert cases["control"].caller_name == "A B C [31mD E  F" and cases["control"].caller == "09 12"
    assert cases["emoji"].caller_name == "Bà Tư 👵🏼☎️ 🇻🇳"  # fits: kept verbatim
    assert len(cases["long-number"].caller) == 64 and len(cases["long-number"].did) == 32
    assert all(c.outcome == "answered" for c in cases.values())


async def test_a_refused_call_is_parked_the_rest_written_and_written_once_fixed(
    engine: AsyncEngine, database_url: str
) -> None:
    tag = "pg" if database_url.startswith("postgresql") else "lite"
    db = sessions(engine)
    writer = with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), settle_seconds=0, window=0.05))
    first = answered_and_ended(entered(f"{tag}.p1"))
    await writer.write([first])
    taken = (await read_case(engine, first.linkedid)).number
    writer.start()
    try:
        # A second call arrives claiming the number of the first (a broken dialplan, say): the database
        # refuses that row; the calls in the same batch are written all the same.
        neighbours = [answered_and_ended(entered(f"{tag}.n{i}")) for i in range(3)]
        clash = answered_and_ended(entered(f"{tag}.clash", number=taken))
        for call in [neighbours[0], clash, *neighbours[1:]]:
            writer.submit(call)
        await writer.flush(timeout=15)
        for call in neighbours:
            assert (await read_case(engine, call.linkedid)).outcome == "answered"
        async with db() as session:
            parked = await session.scalar(select(DeadLetter).where(DeadLetter.key == clash.linkedid))
            assert await session.scalar(select(Case.id).where(Case.linkedid == clash.linkedid)) is None
        assert parked is not None and "IntegrityError" in parked.reason
        assert parked.payload["linkedid"] == clash.linkedid and writer.dead_lettered == 1
        # The cause is fixed (the first case is given another number); the admin retries.
        async with db() as session, session.begin():
            await session.execute(
                update(Case)
                .where(Case.id == (await read_case(engine, first.linkedid)).id)
                .values(number=f"x{taken}"[:16])
            )
        assert await writer.retry_dead_letters() == 1
        await writer.flush(timeout=15)
        case = await read_case(engine, clash.linkedid)
        async with db() as session:
            left = await session.scalar(select(DeadLetter).where(DeadLetter.key == clash.linkedid))
    finally:
        await writer.stop()
    assert (case.number, case.outcome, case.agent) == (taken, "answered", "101")
    assert left is None and clash.linkedid not in writer.dead


async def test_a_writer_killed_before_the_database_had_its_calls_loses_nothing(tmp_path: Path) -> None:
    """The journal is all that is left of a writer that never reached the database: the next writer
    replays it, newest snapshot of each call, and the calls end complete."""
    url = f"sqlite+aiosqlite:///{tmp_path}/cases.db"
    await upgrade_async(url)
    engine = make_engine(url)
    db = sessions(engine)
    folder = tmp_path / "journal"
    doomed = with_closed_call_hooks(
        CaseWriter(db, NumberAllocator(db), settle_seconds=0, journal=Journal(folder))
    )
    doomed.replay()  # never started: the database was away the whole time
    calls = [entered(f"kill.{i}", number=f"heard-{i}") for i in range(3)]
    for call in calls:
        doomed.submit(call)
    for call in calls:
        doomed.submit(answered_and_ended(call))
    # Killed: no stop, no flush; its file descriptor simply goes.
    assert doomed.journal is not None
    with pytest.raises(HotlineError, match="another bridge is already using the case journal"):
        Journal(folder).open()
    os.close(doomed.journal._fd or -1)
    os.close(doomed.journal._lock_fd or -1)  # the kernel lets go of a killed process's lock
    writer = with_closed_call_hooks(
        CaseWriter(db, NumberAllocator(db), settle_seconds=0, window=0.05, journal=Journal(folder))
    )
    replayed = writer.replay()
    writer.start()
    try:
        await writer.flush(timeout=15)
        cases = [await read_case(engine, f"kill.{i}") for i in range(3)]
    finally:
        await writer.stop()
        await engine.dispose()
    assert [c.linkedid for c in replayed] == ["kill.0", "kill.1", "kill.2"]
    assert all(c.ended_at is not None for c in replayed)  # the newest snapshot, not the first
    assert [(c.number, c.outcome, c.agent, c.queue) for c in cases] == [
        (f"heard-{i}", "answered", "101", "suggestion") for i in range(3)
    ]
    # No recording was made in this test: the writer says so on the timeline.
    kinds = [e.kind for e in cases[0].events]
    assert kinds == ["entered", "queued", "answered", "ended", "recording_missing"]
    assert not list(folder.glob("journal-*.jsonl")) or all(
        p.stat().st_size == 0 for p in folder.glob("journal-*.jsonl")
    ), "a journal whose calls are all written is emptied"


def test_a_torn_or_corrupt_journal_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.open()
    for i in range(3):
        journal.append({"seq": i + 1, "call": to_record(entered(f"torn.{i}"))})
    journal.close()
    segment = next(tmp_path.glob("journal-*.jsonl"))
    with segment.open("ab") as f:
        f.write(b'{"seq": 4, "call": {"linked')  # the process died in the middle of a line
    (tmp_path / "journal-00000000.jsonl").write_bytes(b"\xff\xfe not json\n[1, 2]\n")
    db = sessions(make_engine("sqlite+aiosqlite://"))
    writer = with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), journal=Journal(tmp_path)))
    calls = writer.replay()
    assert [c.linkedid for c in calls] == ["torn.0", "torn.1", "torn.2"]
    assert writer.journal is not None and writer.journal.bad_lines == 3
    assert calls[0].timeline[0][1] == "entered" and calls[0].started_at == T0


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs: a disk that fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


async def test_a_full_disk_costs_the_journal_not_the_cases(tmp_path: Path, tiny_disk: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cases.db"
    await upgrade_async(url)
    engine = make_engine(url)
    db = sessions(engine)
    journal = Journal(tiny_disk / "journal")
    writer = with_closed_call_hooks(
        CaseWriter(db, NumberAllocator(db), settle_seconds=0, window=0.05, journal=journal)
    )
    writer.replay()
    (tiny_disk / "ballast").write_bytes(b"\0" * (1024 * 1024 - 64 * 1024))
    with contextlib.suppress(OSError), (tiny_disk / "ballast2").open("wb") as f:  # fill it to the last byte
        while True:
            f.write(b"\0" * 4096)
            f.flush()
    writer.start()
    try:
        calls = [answered_and_ended(entered(f"full.{i}", caller_name="x" * 100)) for i in range(20)]
        for call in calls:
            writer.submit(call)
        await writer.flush(timeout=15)
        assert not journal.healthy and journal.errors >= 1
        cases = [await read_case(engine, call.linkedid) for call in calls]
        assert all(c.outcome == "answered" for c in cases)
        # Room again: the journal protects the next calls.
        (tiny_disk / "ballast").unlink()
        (tiny_disk / "ballast2").unlink()
        writer.submit(entered("full.after"))
        assert journal.healthy
        await writer.flush(timeout=15)
        assert (await read_case(engine, "full.after")).caller == "0912345678"
    finally:
        await writer.stop()
        await engine.dispose()


async def test_a_call_back_an_agent_took_is_one_contact_of_its_request(engine: AsyncEngine) -> None:
    """Written again (a second hang-up report, a retry), the call back stays one contact of its request; a
    request number that names no request (deleted by retention, or hostile) links nothing and blocks no
    case."""
    db = sessions(engine)
    async with db() as session, session.begin():
        request = wf.open_request(
            "26000042", wf.Actor("giamsat", Role.SUPERVISOR), T0, topic="violation", words="x"
        )
        session.add(request)
    writer = with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), settle_seconds=0))
    known, unknown = (answered_and_ended(entered(f"cb.{i}")) for i in range(2))
    known.carried["request_number"] = "26000042"
    unknown.carried["request_number"] = "9" * 40
    await writer.write([known, unknown])
    await writer.write([known])
    async with db() as session:
        contacts = list(
            await session.scalars(select(RequestContact).where(RequestContact.case_id.is_not(None)))
        )
    case = await read_case(engine, known.linkedid)
    assert [(c.request_id, c.case_id, c.channel) for c in contacts] == [(request.id, case.id, "call")]
    kept = (await read_case(engine, unknown.linkedid)).request_number
    assert len(kept) == 16 and kept.startswith("9" * 15)  # bounded to its column, the case kept
