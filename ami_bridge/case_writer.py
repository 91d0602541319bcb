"""The single writer of cases. Snapshots of calls are handed over without waiting (event handling never
waits for the database), journaled, and written in batches, one row per linkedid (a second write of the
same call updates it); a call's recording is checked (there, has audio, how long) before its final
write."""

from __future__ import annotations

import asyncio
import audioop  # on Python 3.13+ from the audioop-lts package
import contextlib
import logging
import wave
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import String, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from ami_bridge import wav_repair
from ami_bridge.calls import CARRIED, RECALLED, Call, from_record, to_record
from ami_bridge.journal import Journal
from ami_bridge.session import Backoff
from hotline.closed_calls import ClosedCall, ClosedCallHook
from hotline.db.errors import is_transient
from hotline.db.models import (
    Case,
    CaseEvent,
    DeadLetter,
    Status,
    table,
)
from hotline.db.numbers import NumberAllocator
from hotline.values import clean

log = logging.getLogger(__name__)

BATCH = 500
# How long the writer gathers updates before writing them together: each write costs a transaction
# whatever its size, and a call's updates inside the window collapse into one.
WINDOW_SECONDS = 0.5
RECENTLY_CLOSED = 10_000
# A failed write is retried after this, doubling up to the most (a database restart takes seconds).
RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 15.0
SILENCE_RMS = 30  # 16-bit samples: below this a recording holds nothing but line noise


def inspect_recording(path: str) -> tuple[float, bool] | None:
    """(seconds, has_audio) of a WAV file, or None if it is missing or unreadable."""
    try:
        with wave.open(path) as w:
            frames = w.getnframes()
            seconds = frames / w.getframerate()
            data = w.readframes(min(frames, w.getframerate() * 60))
            width = w.getsampwidth()
    except (FileNotFoundError, wave.Error, EOFError):
        return None
    return seconds, bool(data) and audioop.rms(data, width) >= SILENCE_RMS


class CaseWriter:
    """Keeps the newest snapshot of each call until the database has it.

    A snapshot replaces the older one of the same call the moment it is submitted, and a write that fails
    puts back only what no newer snapshot has replaced: an older state of a call can never overwrite a
    newer one. A batch the database refuses for a passing reason (down, locked, slow) is retried whole
    with back-off; one it refuses for a reason of its own (a value it rejects) is split so that every other
    call is written, and the call that still fails is parked as a dead letter. Every snapshot is journaled
    before it is written, so a process killed meanwhile loses nothing.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        numbers: NumberAllocator,
        settle_seconds: float = 1.5,
        window: float = WINDOW_SECONDS,
        journal: Journal | None = None,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.numbers = numbers
        self._listeners: list[Callable[[Call], None]] = []
        self._closed_hooks: list[ClosedCallHook] = []
        # Asterisk closes a recording just after the hangup: how long to wait for one that must exist.
        self.settle_seconds = settle_seconds
        self.window = window
        self.journal = journal
        self.retry = Backoff(first=retry_seconds, most=MAX_RETRY_SECONDS)
        self.written = 0
        self.failed_writes = 0  # batches the database did not take (each retried)
        self.dead_lettered = 0  # calls parked as dead letters
        self.missing_recordings = 0  # answered calls with no usable recording
        self.dead: set[str] = set()  # linkedids with a dead letter
        self._pending: dict[str, Call] = {}  # the newest unwritten snapshot of each call
        self._writing: dict[str, Call] = {}  # the batch being written
        self._seq = 0
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        # linkedid -> (case id, timeline events written, where that timeline starts) for open cases.
        self._open: dict[str, tuple[int, int, tuple[datetime, str]]] = {}
        self._closed: dict[
            str, int
        ] = {}  # linkedid -> case id of recently closed cases, oldest dropped first
        # Calls this writer saw enter and has not tried to write yet: certainly without a case. Any other
        # call is looked up first (a replayed one, or one whose earlier write may have half happened).
        self._fresh: set[str] = set()
        # Numbers taken for calls whose case is not inserted yet: a retry reuses them.
        self._numbers: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None
        # Set while this writer writes; clear on a standby center, which keeps the newest snapshot of each
        # call it follows (journaled) and drops those the active center wrote (`drop_written`), so that it
        # can take over with nothing lost (shell/centers.py).
        self.active = asyncio.Event()
        self.active.set()

    def stand_by(self) -> None:
        """Stop writing (after the batch in hand): another center writes the cases now."""
        self.active.clear()

    async def take_over(self) -> None:
        """Write from now on. What this writer remembers of cases is another writer's past: every call is
        looked up afresh, and the calls the other center already closed are dropped first, so that their
        closed-call hooks do not run twice."""
        self._fresh.clear()
        self._open.clear()
        self._closed.clear()
        try:
            await self.drop_written()
        except Exception as exc:  # the database away: the writes below retry, looking every call up
            log.warning("could not check which calls the other center wrote (%s)", exc)
        self.active.set()

    async def drop_written(self) -> int:
        """On a standby: forget the ended calls whose case the database has closed (the active center
        wrote them), telling the listeners as if this writer had; returns how many."""
        ended = [c for c in self._pending.values() if c.ended_at is not None]
        dropped = 0
        for start in range(0, len(ended), BATCH):
            chunk = {c.linkedid: c for c in ended[start : start + BATCH]}
            async with self.sessions() as session:
                closed = set(
                    await session.scalars(
                        select(CASES.c.linkedid).where(
                            CASES.c.linkedid.in_(list(chunk)), CASES.c.ended_at.is_not(None)
                        )
                    )
                )
            for linkedid in closed:
                if self._pending.get(linkedid) is chunk[linkedid]:  # no newer snapshot came meanwhile
                    del self._pending[linkedid]
                    dropped += 1
                    for listener in list(self._listeners):
                        listener(chunk[linkedid])
        self._checkpoint()  # a standby's journal would otherwise only grow
        if dropped and not self._pending and not self._writing:
            self._wake.clear()
            self._idle.set()
        return dropped

    def submit(self, call: Call) -> None:
        """Called from event handling: a copy of the call now, so later events do not change it."""
        self._put(call.copy())
        if (
            call.linkedid not in self._open
            and call.linkedid not in self._closed
            and call.timeline
            and call.timeline[0][1] == "entered"
            and call.linkedid not in self._writing
        ):
            self._fresh.add(call.linkedid)

    def _put(self, snapshot: Call) -> None:
        self._seq += 1
        if self.journal is not None:
            self.journal.append({"seq": self._seq, "call": to_record(snapshot)})
        self._pending.pop(snapshot.linkedid, None)  # re-inserted at the end: oldest work first
        self._pending[snapshot.linkedid] = snapshot
        self._idle.clear()
        self._wake.set()

    @property
    def backlog(self) -> int:
        """Calls whose newest state the database does not have yet."""
        return len(self._pending.keys() | self._writing.keys())

    def replay(self) -> list[Call]:
        """Open the journal and queue what earlier runs left in it (the newest snapshot of each call);
        returns those calls, so the tracker can go on following the ones that were still live."""
        if self.journal is None:
            return []
        newest: dict[str, tuple[int, Call]] = {}
        for record in self.journal.open():
            try:
                seq, call = int(record["seq"]), from_record(record["call"])
            except (KeyError, TypeError, ValueError) as exc:
                log.warning("journal record skipped (%s): %.200s", exc, record)
                continue
            if call.linkedid not in newest or newest[call.linkedid][0] < seq:
                newest[call.linkedid] = (seq, call)
        calls = [call for _, call in sorted(newest.values(), key=lambda pair: pair[0])]
        for call in calls:
            self._put(call)
        if calls:
            log.warning("replaying %d call(s) from the case journal of an earlier run", len(calls))
        return calls

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="case-writer")

    async def flush(self, timeout: float | None = 10.0) -> None:
        """Wait until every call submitted so far is written (or parked as a dead letter)."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued (for up to `timeout`), then stop. What could not be written stays in the
        journal for the next start."""
        if self._task is None:
            return
        try:
            await self.flush(timeout if self.active.is_set() else 0)
        except TimeoutError:
            log.warning(
                "stopping with %d case(s) not yet in the database; the journal keeps them for the next start",
                self.backlog,
            )
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self.journal is not None:
            if not self.backlog:
                self.journal.checkpoint([])
            self.journal.close()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await self.active.wait()
            if len(self._pending) < BATCH:
                await asyncio.sleep(self.window)  # a backlog is written at once, without waiting
            batch = self._writing
            for linkedid in list(self._pending)[:BATCH]:
                batch[linkedid] = self._pending.pop(linkedid)
            if self.journal is not None:
                # Durable before it goes to the database; fsync in a thread, it may take a while.
                await asyncio.to_thread(self.journal.sync)
            try:
                await self._write_isolating(batch)
                self.retry.reset()
            except Exception as exc:
                self.failed_writes += 1
                self._fresh.difference_update(batch)
                delay = self.retry.next()
                log.error(
                    "writing %d case(s) failed (%s: %s); retrying in %.1f s",
                    len(batch),
                    exc.__class__.__name__,
                    str(exc).splitlines()[0][:300] if str(exc) else "",
                    delay,
                )
                for linkedid, call in batch.items():
                    if linkedid not in self._pending:  # a newer snapshot wins over this one
                        self._pending[linkedid] = call
                batch.clear()
                await asyncio.sleep(delay)
            self._checkpoint()
            if not self._pending:
                self._wake.clear()
                self._idle.set()

    def _checkpoint(self) -> None:
        journal = self.journal
        if journal is None:
            return
        if not self._pending:
            if journal.size:
                journal.checkpoint([])
        elif journal.needs_checkpoint():
            journal.checkpoint(
                {"seq": self._seq, "call": to_record(call)} for call in list(self._pending.values())
            )

    async def _write_isolating(self, batch: dict[str, Call]) -> None:
        """Write the batch; if the database refuses it for a reason of its own, write the calls one by one
        and park those it still refuses. A passing failure (database away, locked) raises."""
        try:
            await self.write(list(batch.values()))
            batch.clear()
            return
        except Exception as exc:
            if is_transient(exc):
                raise
            if len(batch) == 1:
                call = next(iter(batch.values()))
                await self._park(call, exc)
                batch.clear()
                return
            log.warning(
                "the database refused a batch of %d case(s) (%s); writing them one by one", len(batch), exc
            )
        self._fresh.difference_update(batch)
        for linkedid, call in list(batch.items()):
            try:
                await self.write([call])
            except Exception as exc:
                if is_transient(exc):
                    raise
                await self._park(call, exc)
            del batch[linkedid]

    async def _park(self, call: Call, exc: Exception) -> None:
        """Keep the call as a dead letter (raises if even that cannot be written: then it is retried)."""
        reason = f"{exc.__class__.__name__}: {exc}"[:4000]
        now_ = datetime.now(UTC)
        try:
            payload = to_record(call)
        except Exception as unreadable:  # the call itself is broken: keep what can be kept
            payload = {"linkedid": call.linkedid, "unreadable": repr(unreadable), "repr": repr(call)[:20_000]}
        async with self.sessions() as session, session.begin():
            updated = await session.execute(
                update(DEAD)
                .where(DEAD.c.kind == "case", DEAD.c.key == call.linkedid)
                .values(reason=reason, payload=payload, attempts=DEAD.c.attempts + 1, last_failed_at=now_)
            )
            if not updated.rowcount:
                await session.execute(
                    insert(DEAD).values(
                        kind="case",
                        key=call.linkedid,
                        reason=reason,
                        payload=payload,
                        attempts=1,
                        first_failed_at=now_,
                        last_failed_at=now_,
                    )
                )
        self.dead.add(call.linkedid)
        self.dead_lettered += 1
        log.error(
            "the case of call %s was refused by the database and parked as a dead letter (%s); every other "
            "call is written; fix the cause, then retry it from the web app's dead letters page",
            call.linkedid,
            reason.splitlines()[0][:300],
        )

    async def load_dead_letters(self) -> None:
        async with self.sessions() as session:
            self.dead = set(await session.scalars(select(DEAD.c.key).where(DEAD.c.kind == "case")))

    async def retry_dead_letters(self, ids: Iterable[int] | None = None) -> int:
        """Queue parked calls again (all, or those ids); each leaves the dead letters once written."""
        query = select(DEAD.c.payload).where(DEAD.c.kind == "case")
        if ids is not None:
            query = query.where(DEAD.c.id.in_(list(ids)))
        async with self.sessions() as session:
            payloads = list(await session.scalars(query))
        for payload in payloads:
            call = from_record(payload)
            if call.linkedid not in self._pending and call.linkedid not in self._writing:
                self._put(call)
        return len(payloads)

    def subscribe(self, listener: Callable[[Call], None]) -> None:
        """Hand every call written from now on to `listener` (today's counters), after its transaction."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[Call], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def when_closed(self, hook: ClosedCallHook) -> None:
        """Run `hook` for every ended call in the transaction that writes its case (the worklist, the
        contacts of the request a call back was about): both are written, or neither."""
        self._closed_hooks.append(hook)

    async def write(self, calls: Iterable[Call]) -> None:
        calls = list(calls)
        files = await self._recordings([c for c in calls if c.ended_at])
        ids = await self._known_cases(calls)
        numbers = await self._new_numbers(calls, ids)
        self._fresh.difference_update(c.linkedid for c in calls)
        stamp = datetime.now(UTC)
        columns = {c.linkedid: _columns(c, files.get(c.linkedid)) for c in calls}
        rows = {linkedid: row for linkedid, (row, _) in columns.items()}
        # Core statements, one executemany each: the ORM's unit of work cost more than the rows themselves
        # (measured under load, docs/benchmarks.md).
        async with self.sessions() as session, session.begin():
            ids.update(
                await _insert_cases(
                    session, [c for c in calls if c.linkedid in numbers], rows, numbers, stamp
                )
            )
            await _update_cases(session, [c for c in calls if c.linkedid not in numbers], rows, stamp)
            events: list[dict[str, Any]] = []
            for call in calls:
                timeline = await self._unwritten_events(
                    session, call, ids[call.linkedid], call.linkedid in numbers, stamp
                )
                events += [
                    {"case_id": ids[call.linkedid], "at": at, "kind": kind, "detail": detail}
                    for at, kind, detail in timeline + columns[call.linkedid][1]
                ]
            if events:
                await session.execute(insert(EVENTS), events)
            for call in calls:
                if call.ended_at:
                    number = numbers.get(call.linkedid) or call.number
                    closed = _closed(ids[call.linkedid], call, rows[call.linkedid], number)
                    for hook in self._closed_hooks:
                        await hook(session, closed)
        self._remember(calls, ids, columns, stamp)
        cured = self.dead.intersection(c.linkedid for c in calls)
        if cured:
            await self._unpark(cured)
        for listener in list(self._listeners):
            for call in calls:
                listener(call)

    async def _recordings(self, ended: list[Call]) -> dict[str, dict[str, tuple[float, bool] | None]]:
        """What each ended call's files hold. Checked together: a batch waits at most once for recordings
        Asterisk is still closing."""
        found = await asyncio.gather(*map(self._files, ended))
        return dict(zip([c.linkedid for c in ended], found, strict=True))

    async def _known_cases(self, calls: list[Call]) -> dict[str, int]:
        """linkedid -> case id of the calls that have a case. Cases this writer has open or just closed are
        remembered; only calls it does not know to be new are looked up."""
        ids = {c.linkedid: self._open[c.linkedid][0] for c in calls if c.linkedid in self._open}
        ids.update((c.linkedid, self._closed[c.linkedid]) for c in calls if c.linkedid in self._closed)
        unknown = [c.linkedid for c in calls if c.linkedid not in ids and c.linkedid not in self._fresh]
        if unknown:
            async with self.sessions() as session:
                found = await session.execute(
                    select(CASES.c.linkedid, CASES.c.id).where(CASES.c.linkedid.in_(unknown))
                )
                ids.update(found.tuples().all())
        return ids

    async def _new_numbers(self, calls: list[Call], ids: dict[str, int]) -> dict[str, str]:
        """linkedid -> case number of the calls that get a case now. A call's number is taken once: a retry
        of its first write reuses it. Taken before the write transaction opens: taking a block is a write
        of its own, and SQLite has one writer at a time."""
        for c in calls:
            if c.linkedid not in ids and not c.number and c.linkedid not in self._numbers:
                self._numbers[c.linkedid] = await self.numbers.next_number()
        return {
            c.linkedid: clean(c.number, NUMBER_LIMIT) or self._numbers[c.linkedid]
            for c in calls
            if c.linkedid not in ids
        }

    async def _unwritten_events(
        self, session: Any, call: Call, case_id: int, inserted: bool, stamp: datetime
    ) -> list[tuple[datetime, str, dict[str, Any]]]:
        """The part of the call's timeline its case does not have yet. A case inserted just now has none;
        one this writer wrote from the same start has the first events it wrote; any other has its events
        replaced (see _replace_events)."""
        if inserted:
            return call.timeline
        known = self._open.get(call.linkedid)
        if known is not None and known[2] == _origin(call, stamp):
            return call.timeline[known[1] :]
        return await self._replace_events(session, case_id, call.timeline)

    def _remember(
        self,
        calls: list[Call],
        ids: dict[str, int],
        columns: dict[str, tuple[dict[str, Any], list[tuple[datetime, str, dict[str, Any]]]]],
        stamp: datetime,
    ) -> None:
        """After the transaction: which cases are open (and how much of their timeline is written), which
        closed, and the counters."""
        for call in calls:
            self._numbers.pop(call.linkedid, None)
            if call.ended_at:
                self._open.pop(call.linkedid, None)
                # A call closed again (a second hang-up report) still finds its one case.
                self._closed[call.linkedid] = ids[call.linkedid]
                while len(self._closed) > RECENTLY_CLOSED:
                    del self._closed[next(iter(self._closed))]
                if any(kind == "recording_missing" for _, kind, _ in columns[call.linkedid][1]):
                    self.missing_recordings += 1
            else:
                self._open[call.linkedid] = (ids[call.linkedid], len(call.timeline), _origin(call, stamp))
        self.written += len(calls)

    @staticmethod
    async def _replace_events(
        session: Any, case_id: int, timeline: list[tuple[datetime, str, dict[str, Any]]]
    ) -> list[tuple[datetime, str, dict[str, Any]]]:
        """First write of this timeline by this writer: replace what earlier writes left. A timeline that
        starts at the call's entry replaces all of it; one that a restarted bridge began at its
        resynchronisation keeps the older events, and its recalled events (rebuilt from Asterisk) are
        dropped where an earlier writer saw the real ones."""
        gone = delete(EVENTS).where(EVENTS.c.case_id == case_id)
        if not timeline or timeline[0][1] == "entered":
            await session.execute(gone)
            return timeline
        witnessed = [at for at, _, detail in timeline if not detail.get(RECALLED)]
        cutoff = witnessed[0] if witnessed else timeline[0][0]
        await session.execute(gone.where(EVENTS.c.at >= cutoff))
        kept = set(
            await session.scalars(
                select(EVENTS.c.kind).where(EVENTS.c.case_id == case_id, EVENTS.c.at < cutoff)
            )
        )
        return [event for event in timeline if not (event[2].get(RECALLED) and event[1] in kept)]

    async def _unpark(self, linkedids: set[str]) -> None:
        try:
            async with self.sessions() as session, session.begin():
                await session.execute(delete(DEAD).where(DEAD.c.kind == "case", DEAD.c.key.in_(linkedids)))
        except Exception:
            log.exception("written, but its dead letter could not be removed; it goes at the next write")
            return
        self.dead -= linkedids
        log.info("dead letter(s) of call(s) %s written and removed", ", ".join(sorted(linkedids)))

    def has(self, linkedid: str) -> bool:
        """True while a snapshot of the call waits to be written."""
        return linkedid in self._pending or linkedid in self._writing

    async def _files(self, call: Call) -> dict[str, tuple[float, bool] | None]:
        found: dict[str, tuple[float, bool] | None] = {}
        expected = {
            call.recording: call.answered_at is not None,
            call.voicemail: call.outcome_hint == "voicemail",
        }
        for path, must_exist in expected.items():
            if not path:
                continue
            found[path] = inspect_recording(path)
            # Its Asterisk died before closing the file (ami_bridge/node_loss.py).
            unclosed = call.lost_node and not (found[path] or (0.0, False))[0]
            if unclosed and await asyncio.to_thread(wav_repair.repair_sizes, Path(path)):
                found[path] = inspect_recording(path)
            waited = 0.0
            # Missing, or a header not yet finalised (0 frames): Asterisk is still closing the file.
            while must_exist and not (found[path] or (0.0, False))[0] and waited < self.settle_seconds:
                await asyncio.sleep(0.1)
                waited += 0.1
                found[path] = inspect_recording(path)
        return found


async def _insert_cases(
    session: Any, calls: list[Call], rows: dict[str, dict[str, Any]], numbers: dict[str, str], stamp: datetime
) -> dict[str, int]:
    """New cases, under the numbers taken for them: linkedid -> case id."""
    if not calls:
        return {}
    fresh = [
        {**rows[c.linkedid], "linkedid": c.linkedid, "number": numbers[c.linkedid], "updated_at": stamp}
        for c in calls
    ]
    inserted = await session.execute(
        insert(CASES).values(status=Status.NEW.value).returning(CASES.c.linkedid, CASES.c.id), fresh
    )
    return dict(inserted.tuples().all())


async def _update_cases(
    session: Any, calls: list[Call], rows: dict[str, dict[str, Any]], stamp: datetime
) -> None:
    """Cases that exist take the call's newest columns."""
    if not calls:
        return
    changed = [
        {
            **{f"b_{k}": v for k, v in rows[c.linkedid].items()},
            "b_linkedid": c.linkedid,
            "b_number": clean(c.number, NUMBER_LIMIT),
            "b_updated_at": stamp,
        }
        for c in calls
    ]
    await session.execute(UPDATE_CASE, changed)


def _closed(case_id: int, call: Call, row: dict[str, Any], number: str) -> ClosedCall:
    assert call.ended_at is not None
    return ClosedCall(
        case_id=case_id,
        caller=row["caller"],
        outcome=row["outcome"],
        topic=row["topic"],
        started_at=call.started_at,
        ended_at=call.ended_at,
        request_number=row.get("request_number", ""),
        linkedid=call.linkedid,
        case_number=number,
        queue=call.queue,
        queued_at=call.queued_at,
        lost_node=call.lost_node,
    )


def _origin(call: Call, stamp: datetime) -> tuple[datetime, str]:
    """Where a call's timeline starts: a snapshot whose timeline starts elsewhere (a restarted bridge's)
    is not a continuation of the events already written."""
    return (call.timeline[0][0], call.timeline[0][1]) if call.timeline else (stamp, "")


def _columns(
    call: Call, files: dict[str, tuple[float, bool] | None] | None
) -> tuple[dict[str, Any], list[tuple[datetime, str, dict[str, Any]]]]:
    """The case's columns from the call (all of them every time: one executemany needs the same columns
    in each row), each text bounded to its column; and the timeline events for what the files showed.
    The call itself is left as it is: a retry computes the same again."""
    row: dict[str, Any] = {
        "caller": call.caller,
        "caller_name": call.caller_name,
        "did": call.did,
        "started_at": call.started_at,
        "ivr_ended_at": call.ivr_ended_at,
        "queued_at": call.queued_at,
        "answered_at": call.answered_at,
        "ended_at": call.ended_at,
        "ivr_path": call.ivr_path,
        "ivr_node": call.ivr_node,
        "topic": call.topic,
        "queue": call.queue,
        "wait_seconds": call.wait_seconds,
        "talk_seconds": call.talk_seconds,
        "agent": call.agent,
        "agent_name": call.agent_name,
        "hangup_cause": call.hangup_cause,
        # Where the recordings will be, known before they are: a bridge restarted later still finds them.
        "recording": call.recording,
        "recording_seconds": None,
        "voicemail": call.voicemail,
        "outcome": "",
        **{name: call.carried.get(name, "") for name in CARRIED},
    }
    events: list[tuple[datetime, str, dict[str, Any]]] = []
    if call.ended_at is not None:
        row["outcome"] = call.outcome().value
        events = _file_events(call, files or {}, row)
    for name, value in row.items():
        if name in TEXT_LIMITS:
            row[name] = clean(value, TEXT_LIMITS[name])
    return row, events


def _file_events(
    call: Call, files: dict[str, tuple[float, bool] | None], row: dict[str, Any]
) -> list[tuple[datetime, str, dict[str, Any]]]:
    """An ended call's timeline events for what its files hold; the row loses a file that holds nothing."""
    events: list[tuple[datetime, str, dict[str, Any]]] = []
    at = call.ended_at or datetime.now(UTC)

    def mark(kind: str, **detail: Any) -> None:
        events.append((at, kind, detail))

    recording = files.get(call.recording)
    if recording is not None and recording[1]:
        row["recording_seconds"] = round(recording[0], 2)
        mark("recording", seconds=row["recording_seconds"])
    else:
        row["recording"] = ""  # no conversation was recorded (the caller never reached an agent)
        if call.answered_at and (call.talk_seconds or 0) >= 1:
            # A conversation of a second or more must have left audio: someone should look.
            mark("recording_missing", path=call.recording)
            log.error("call %s was answered but has no usable recording at %s", call.linkedid, call.recording)
    message = files.get(call.voicemail)
    if message is not None:
        mark("voice_message", seconds=round(message[0], 2), has_audio=message[1])
    else:
        row["voicemail"] = ""
    if call.note:
        mark("note", text=call.note)
    return events


CASES = table(Case)
EVENTS = table(CaseEvent)
DEAD = table(DeadLetter)
# Each text column's bound, from the table itself: a value that does not fit is cut, never refused.
TEXT_LIMITS = {
    column.name: column.type.length
    for column in CASES.columns
    if isinstance(column.type, String) and column.type.length
}
NUMBER_LIMIT = TEXT_LIMITS.pop("number")
# The columns a call sets; status, category, notes and follow-up belong to the agent desk and are left alone.
# The number the IVR read to the caller wins over one given before the IVR (an empty one keeps the old).
UPDATE_CASE = (
    update(CASES)
    .where(CASES.c.linkedid == bindparam("b_linkedid"))
    .values(
        {
            **{name: bindparam(f"b_{name}") for name in _columns(Call("", datetime.now(UTC)), None)[0]},
            "number": func.coalesce(func.nullif(bindparam("b_number"), ""), CASES.c.number),
            "updated_at": bindparam("b_updated_at"),
        }
    )
)
