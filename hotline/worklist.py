"""The worklist of missed calls: one open entry per caller number whose calls ended without an agent, kept
by the case writer in the same transaction as each case; agents call the citizen back from it and say what
came of it, and the entry closes when the citizen is reached (or calls and gets through), the number is
wrong, or the tries run out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.cases import callback_number
from hotline.closed_calls import ClosedCall
from hotline.db.models import (
    MissedCall,
    MissedCallCase,
    MissedCallTry,
    MissedStatus,
    Outcome,
    UTCDateTime,
    table,
)

MISSED = table(MissedCall)
TRIES = table(MissedCallTry)
COUNTED = table(MissedCallCase)
# Calls that ended without an agent and that a citizen meant: a caller who hung up in the IVR before
# choosing anything is not counted (a wrong number, a caller who changed their mind).
MISSED_OUTCOMES = frozenset(
    {
        Outcome.ABANDONED_QUEUE.value,
        Outcome.OVERFLOW.value,
        Outcome.VOICEMAIL.value,
        Outcome.AFTER_HOURS.value,
    }
)
RESULTS = ("reached", "no_answer", "wrong_number")
# A try nobody said the result of holds its entry this long (an agent called away); then another may call.
TRY_HOLDS = timedelta(minutes=15)


async def reached_by_callback(session: AsyncSession, caller: str, at: datetime) -> None:
    """A queued callback reached the citizen: whatever they had missed is answered now."""
    await session.execute(
        update(MISSED)
        .where(MISSED.c.caller == caller, MISSED.c.status == MissedStatus.OPEN.value)
        .values(status=MissedStatus.REACHED.value, closed_at=at, last_result="called_back")
    )


def is_missed(outcome: str, topic: str, caller: str, request_number: str) -> bool:
    """Whether an ended call belongs on the worklist. A call back of the hotline's own (about a request)
    is the outbox's to try again, not the worklist's."""
    if request_number or not callback_number(caller):
        return False
    return outcome in MISSED_OUTCOMES or (outcome == Outcome.ABANDONED_IVR.value and bool(topic))


async def note_closed_call(session: AsyncSession, call: ClosedCall) -> None:
    """The case writer's hook (hotline.closed_calls): every ended call, in the transaction of its case."""
    await note_call(
        session,
        call.case_id,
        call.caller,
        call.outcome,
        call.topic,
        call.started_at,
        call.ended_at,
        call.request_number,
    )


async def note_call(
    session: AsyncSession,
    case_id: int,
    caller: str,
    outcome: str,
    topic: str,
    started_at: datetime,
    ended_at: datetime,
    request_number: str = "",
    gave_up_callback: bool = False,
) -> None:
    """The worklist's part of writing an ended call, in the writer's transaction. Idempotent: the same
    call written again (a second hang-up report, a restarted bridge) changes nothing, whether its entry
    is still open or closed since (each call counted is kept in missed_call_cases). `gave_up_callback`:
    the call asked for a queued callback that failed or expired, so it is missed after all."""
    if outcome == Outcome.ANSWERED.value and callback_number(caller):
        # The citizen got through: whatever they had missed before is answered now.
        await session.execute(
            update(MISSED)
            .where(MISSED.c.caller == caller, MISSED.c.status == MissedStatus.OPEN.value)
            .where(MISSED.c.first_at < started_at)
            .values(status=MissedStatus.REACHED.value, closed_at=ended_at, last_result="called_again")
        )
        return
    if not (gave_up_callback and callback_number(caller)) and not is_missed(
        outcome, topic, caller, request_number
    ):
        return
    counted = await session.scalar(select(COUNTED.c.case_id).where(COUNTED.c.case_id == case_id))
    if counted is not None:
        return
    voicemail = outcome in (Outcome.VOICEMAIL.value, Outcome.OVERFLOW.value)
    entry = await session.scalar(
        select(MISSED.c.id).where(MISSED.c.caller == caller, MISSED.c.status == MissedStatus.OPEN.value)
    )
    if entry is None:
        entry = await session.scalar(
            insert(MISSED)
            .values(
                caller=caller,
                status=MissedStatus.OPEN.value,
                first_case_id=case_id,
                last_case_id=case_id,
                calls=1,
                topic=topic,
                outcome=outcome,
                voicemail_case_id=case_id if voicemail else None,
                first_at=ended_at,
                last_at=ended_at,
                tries=0,
                last_result="",
            )
            .returning(MISSED.c.id)
        )
    else:
        # Calls of one caller may end in any order (two at once): the latest decides what the entry shows.
        at = literal(ended_at, UTCDateTime())
        latest = MISSED.c.last_at <= at
        await session.execute(
            update(MISSED)
            .where(MISSED.c.id == entry)
            .values(
                calls=MISSED.c.calls + 1,
                last_case_id=case((latest, case_id), else_=MISSED.c.last_case_id),
                outcome=case((latest, outcome), else_=MISSED.c.outcome),
                topic=case((latest & (literal(topic) != ""), topic), else_=MISSED.c.topic),
                voicemail_case_id=case_id if voicemail else MISSED.c.voicemail_case_id,
                last_at=case((latest, at), else_=MISSED.c.last_at),
                first_at=case((MISSED.c.first_at > at, at), else_=MISSED.c.first_at),
            )
        )
    await session.execute(insert(COUNTED).values(case_id=case_id, missed_call_id=entry))


@dataclass(frozen=True)
class TryStarted:
    entry: MissedCall
    attempt: MissedCallTry


class WorklistError(Exception):
    """A call back that cannot be made or recorded; the message says why, for the person who asked."""


async def start_try(session: AsyncSession, entry_id: int, by: str, phone: str, now: datetime) -> TryStarted:
    """A try of an open entry, before Asterisk dials: refused while another try of it rings or talks
    (one call back to one number at a time)."""
    entry = await session.get(MissedCall, entry_id, with_for_update=True)
    if entry is None:
        raise WorklistError("no such entry on the worklist")
    if entry.status != MissedStatus.OPEN.value:
        raise WorklistError(f"this entry is closed ({entry.status})")
    busy = await session.scalar(
        select(func.count())
        .select_from(TRIES)
        .where(TRIES.c.missed_call_id == entry_id, TRIES.c.result == "", TRIES.c.at > now - TRY_HOLDS)
    )
    if busy:
        raise WorklistError("a call back to this number is under way: say what came of it first")
    attempt = MissedCallTry(missed_call_id=entry_id, at=now, by=by, phone=phone)
    session.add(attempt)
    entry.tries += 1
    entry.last_try_at = now
    await session.flush()
    return TryStarted(entry, attempt)


async def record_result(
    session: AsyncSession, entry_id: int, result: str, now: datetime, most_tries: int
) -> MissedCall:
    """What came of the entry's try under way; the entry closes when the citizen was reached, the number
    was wrong, or the tries ran out."""
    if result not in RESULTS:
        raise WorklistError(f"result must be one of {', '.join(RESULTS)}")
    entry = await session.get(MissedCall, entry_id, with_for_update=True)
    if entry is None:
        raise WorklistError("no such entry on the worklist")
    attempt = await session.scalar(
        select(MissedCallTry)
        .where(MissedCallTry.missed_call_id == entry_id, MissedCallTry.result == "")
        .order_by(MissedCallTry.id.desc())
        .limit(1)
    )
    if attempt is None:
        raise WorklistError("no call back of this entry is waiting for its result")
    attempt.result = result
    entry.last_result = result
    if entry.status == MissedStatus.OPEN.value:
        closing = {
            "reached": MissedStatus.REACHED,
            "wrong_number": MissedStatus.WRONG_NUMBER,
        }.get(result)
        if closing is None and entry.tries >= most_tries:
            closing = MissedStatus.GIVEN_UP
        if closing is not None:
            entry.status, entry.closed_at = closing.value, now
    return entry
