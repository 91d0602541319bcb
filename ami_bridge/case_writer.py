"""The single writer of cases. Calls come in on a queue (event handling never waits for the database),
are written in batches, one row per linkedid (a second write of the same call updates it), and a call's
recording is checked (there, has audio, how long) before its final write."""

from __future__ import annotations

import asyncio
import audioop  # on Python 3.13+ from the audioop-lts package
import contextlib
import copy
import logging
import wave
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import async_sessionmaker

from ami_bridge.calls import Call
from hotline.db.models import Case, CaseEvent, Status
from hotline.db.numbers import NumberAllocator

log = logging.getLogger(__name__)

BATCH = 500
# How long the writer gathers updates before writing them together: each write costs a transaction
# whatever its size, and a call's updates inside the window collapse into one.
WINDOW_SECONDS = 0.5
RECENTLY_CLOSED = 10_000
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
    def __init__(
        self,
        sessions: async_sessionmaker[Any],
        numbers: NumberAllocator,
        on_written: Callable[[Call], None] | None = None,
        settle_seconds: float = 1.5,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self.sessions = sessions
        self.numbers = numbers
        self.on_written = on_written
        # Asterisk closes a recording just after the hangup: how long to wait for one that must exist.
        self.settle_seconds = settle_seconds
        self.queue: asyncio.Queue[Call] = asyncio.Queue()
        self.window = window
        self.written = 0
        # linkedid -> (case id, events of its timeline already written) for the open cases written here.
        self._open: dict[str, tuple[int, int]] = {}
        self._closed: dict[
            str, int
        ] = {}  # linkedid -> case id of recently closed cases, oldest dropped first
        self._suspect = False
        self._task: asyncio.Task[None] | None = None

    def submit(self, call: Call) -> None:
        """Called from event handling: a copy of the call now, so later events do not change it."""
        snapshot = copy.copy(call)
        snapshot.channels = set(call.channels)
        snapshot.timeline = list(call.timeline)
        self.queue.put_nowait(snapshot)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="case-writer")

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every call submitted so far is written."""
        await asyncio.wait_for(self.queue.join(), timeout)

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await self.flush()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            first = await self.queue.get()
            batch = {first.linkedid: first}
            taken = 1
            if self.queue.qsize() < BATCH:
                await asyncio.sleep(self.window)  # a backlog is written at once, without waiting

            while len(batch) < BATCH and not self.queue.empty():
                call = self.queue.get_nowait()
                taken += 1
                batch[call.linkedid] = call  # the latest state of a call wins
            try:
                await self.write(batch.values())
                self._suspect = False
            except Exception:
                self._suspect = True
                # Keep the calls: put them back and try again shortly (a database restart must not lose
                # cases).
                log.exception("writing %d case(s) failed; retrying in 2 s", len(batch))
                for call in batch.values():
                    self.queue.put_nowait(call)
                await asyncio.sleep(2)
            finally:
                for _ in range(taken):
                    self.queue.task_done()

    async def write(self, calls: Iterable[Call]) -> None:
        calls = list(calls)
        ended = [c for c in calls if c.ended_at]
        # Checked together: a batch waits at most once for recordings Asterisk is still closing.
        files = dict(
            zip([c.linkedid for c in ended], await asyncio.gather(*map(self._files, ended)), strict=True)
        )
        # Cases this writer has open are remembered (id, events written); only the others are looked up.
        ids = {c.linkedid: self._open[c.linkedid][0] for c in calls if c.linkedid in self._open}
        ids.update((c.linkedid, self._closed[c.linkedid]) for c in calls if c.linkedid in self._closed)
        # A call this bridge followed from its entry and never wrote is new; after a failed write, anything
        # may have been half done, so everything is looked up once.
        unknown = [
            c.linkedid
            for c in calls
            if c.linkedid not in ids and (self._suspect or not c.timeline or c.timeline[0][1] != "entered")
        ]
        if unknown:
            async with self.sessions() as session:
                found = await session.execute(
                    select(CASES.c.linkedid, CASES.c.id).where(CASES.c.linkedid.in_(unknown))
                )
                ids.update(found.tuples().all())
        # Numbers are taken before the write transaction opens: taking a block is a write of its own, and
        # SQLite has one writer at a time.
        numbers = {
            c.linkedid: c.number or await self.numbers.next_number() for c in calls if c.linkedid not in ids
        }
        stamp = datetime.now(UTC)
        rows = {c.linkedid: _columns(c, files.get(c.linkedid)) for c in calls}
        # Core statements, one executemany each: the ORM's unit of work cost more than the rows themselves
        # (measured under load, docs/benchmarks.md).
        async with self.sessions() as session, session.begin():
            fresh = [
                {
                    **rows[c.linkedid],
                    "linkedid": c.linkedid,
                    "number": numbers[c.linkedid],
                    "updated_at": stamp,
                }
                for c in calls
                if c.linkedid not in ids
            ]
            if fresh:
                inserted = await session.execute(
                    insert(CASES).values(status=Status.NEW.value).returning(CASES.c.linkedid, CASES.c.id),
                    fresh,
                )
                ids.update(inserted.tuples().all())
            changed = [
                {
                    **{f"b_{k}": v for k, v in rows[c.linkedid].items()},
                    "b_linkedid": c.linkedid,
                    "b_number": c.number,
                    "b_updated_at": stamp,
                }
                for c in calls
                if c.linkedid not in numbers
            ]
            if changed:
                await session.execute(UPDATE_CASE, changed)
            events: list[dict[str, Any]] = []
            for call in calls:
                case_id = ids[call.linkedid]
                done = self._open.get(call.linkedid, (case_id, None))[1]
                if call.linkedid in numbers:
                    done = 0  # inserted just now: no events to replace
                elif done is None:
                    # First write of this call by this writer: replace what earlier writes left, but keep
                    # older events (a restarted bridge knows the call only from its resynchronisation on).
                    gone = delete(EVENTS).where(EVENTS.c.case_id == case_id)
                    if call.timeline and call.timeline[0][1] != "entered":
                        gone = gone.where(EVENTS.c.at >= call.timeline[0][0])
                    await session.execute(gone)
                    done = 0
                events += [
                    {"case_id": case_id, "at": at, "kind": kind, "detail": detail}
                    for at, kind, detail in call.timeline[done:]
                ]
            if events:
                await session.execute(insert(EVENTS), events)
        for call in calls:
            if call.ended_at:
                self._open.pop(call.linkedid, None)
                # A call closed again (a second hang-up report) still finds its one case.
                self._closed[call.linkedid] = ids[call.linkedid]
                while len(self._closed) > RECENTLY_CLOSED:
                    del self._closed[next(iter(self._closed))]
            else:
                self._open[call.linkedid] = (ids[call.linkedid], len(call.timeline))
        self.written += len(calls)
        if self.on_written is not None:
            for call in calls:
                self.on_written(call)

    async def reconcile(self, live: set[str]) -> int:
        """Cases left open by a bridge that stopped (killed, crashed) whose calls are gone: close them from
        what was written before, with the recording found on disk."""
        async with self.sessions() as session:
            open_cases = list(await session.scalars(select(Case).where(Case.ended_at.is_(None))))
        calls = [_call_from_case(c) for c in open_cases if c.linkedid not in live]
        for call in calls:
            call.note = "ended while the bridge was not running"
            call.finish(datetime.now(UTC), "unknown (ended while the bridge was not running)")
        if calls:
            await self.write(calls)
            log.warning("closed %d case(s) whose calls ended while the bridge was not running", len(calls))
        return len(calls)

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
            waited = 0.0
            # Missing, or a header not yet finalised (0 frames): Asterisk is still closing the file.
            while must_exist and not (found[path] or (0.0, False))[0] and waited < self.settle_seconds:
                await asyncio.sleep(0.1)
                waited += 0.1
                found[path] = inspect_recording(path)
        return found


def _columns(call: Call, files: dict[str, tuple[float, bool] | None] | None) -> dict[str, Any]:
    """The case's columns from the call (all of them every time: one executemany needs the same columns
    in each row). Marks the recording's and voice message's findings on the call's timeline."""
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
        "ivr_result": call.ivr_result,
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
    }
    if call.ended_at is None:
        return row
    row["outcome"] = call.outcome().value
    files = files or {}
    recording = files.get(call.recording)
    if recording is not None and recording[1]:
        row["recording_seconds"] = round(recording[0], 2)
        call.mark("recording", seconds=row["recording_seconds"])
    else:
        row["recording"] = ""  # no conversation was recorded (the caller never reached an agent)
        if call.answered_at and (call.talk_seconds or 0) >= 1:
            # A conversation of a second or more must have left audio: someone should look.
            call.mark("recording_missing", path=call.recording)
            log.error("call %s was answered but has no usable recording at %s", call.linkedid, call.recording)
    message = files.get(call.voicemail)
    if message is not None:
        call.mark("voice_message", seconds=round(message[0], 2), has_audio=message[1])
    else:
        row["voicemail"] = ""
    if call.note:
        call.mark("note", text=call.note)
    return row


CASES: Table = Case.__table__  # type: ignore[assignment]
EVENTS: Table = CaseEvent.__table__  # type: ignore[assignment]
# The columns a call sets; status, category, notes and follow-up belong to the agent desk and are left alone.
# The number the IVR read to the caller wins over one given before the IVR (an empty one keeps the old).
UPDATE_CASE = (
    update(CASES)
    .where(CASES.c.linkedid == bindparam("b_linkedid"))
    .values(
        {
            **{name: bindparam(f"b_{name}") for name in _columns(Call("", datetime.now(UTC)), None)},
            "number": func.coalesce(func.nullif(bindparam("b_number"), ""), CASES.c.number),
            "updated_at": bindparam("b_updated_at"),
        }
    )
)


def _call_from_case(case: Case) -> Call:
    call = Call(linkedid=case.linkedid, started_at=case.started_at, caller=case.caller, did=case.did)
    call.caller_name, call.number, call.topic, call.queue = (
        case.caller_name,
        case.number,
        case.topic,
        case.queue,
    )
    call.ivr_path, call.ivr_result = case.ivr_path, case.ivr_result
    call.queued_at, call.answered_at, call.ivr_ended_at = case.queued_at, case.answered_at, case.ivr_ended_at
    call.agent, call.agent_name, call.wait_seconds = case.agent, case.agent_name, case.wait_seconds
    call.recording, call.voicemail = case.recording, case.voicemail
    if call.voicemail and Path(call.voicemail).is_file():
        call.outcome_hint = "voicemail"
    return call
