"""Queued callbacks: a caller who would rather not hold asks to be called back and keeps their place.

The callback waits in the queue as a stand-in (a Local channel the dispatcher originates, placed by when
the caller joined, channels.queued_callbacks); the next free agent of the queue answers it at its turn, and
only then does Asterisk dial the citizen. So a callback never jumps the queue, and never more citizens are
dialled than agents have taken callbacks. Here: the rows and their rules, in the caller's transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import worklist
from hotline.db.models import ACTIVE_CALLBACK, CallbackStatus, QueuedCallback, rows_changed
from hotline.settings import QueuedCallbacks
from hotline.values import mask_number

# The key a waiting caller presses for a callback: the prompts (qcb_offer, qcb_offer_long) say it.
CALLBACK_KEY = "9"
# What the dialplan reports as DIALSTATUS for a try the citizen answered.
ANSWERED = "ANSWER"
# The caller is told the expected time in steps of five minutes, at most two hours: no false precision.
MINUTES_STEP = 5
MINUTES_MOST = 120


@dataclass(frozen=True)
class Asked:
    callback: QueuedCallback
    already: bool  # the number had a callback waiting: that one stands, no second one


def plausible_number(number: str) -> bool:
    """A number the hotline can dial back: 8 to 15 digits (a withheld or hostile caller ID is not)."""
    return number.isascii() and number.isdigit() and 8 <= len(number) <= 15


async def ask(
    session: AsyncSession,
    settings: QueuedCallbacks,
    *,
    linkedid: str,
    case_number: str,
    queue: str,
    number: str,
    topic: str,
    joined_at: datetime,
    now: datetime,
) -> Asked:
    """The caller's callback, at the place they joined the queue; the one already waiting for that number
    if there is one (never two callbacks to one number at once)."""
    if not plausible_number(number):
        raise ValueError(f"not a number to call back: {number!r}")
    waiting = await _active(session, number)
    if waiting is not None:
        return Asked(waiting, True)
    callback = QueuedCallback(
        linkedid=linkedid[:64],
        case_number=case_number[:32],
        queue=queue,
        number=number,
        topic=topic[:64],
        joined_at=joined_at,
        asked_at=now,
        expires_at=now + timedelta(minutes=settings.expire_minutes),
        status=CallbackStatus.WAITING.value,
        tries=0,
        next_at=now,
        last_result="",
        stand_in="",
        agent="",
        recording="",
    )
    try:
        async with session.begin_nested():
            session.add(callback)
    except IntegrityError:
        # Asked at the same moment from two calls of one number: the other one stands.
        waiting = await _active(session, number)
        if waiting is None:
            raise
        return Asked(waiting, True)
    return Asked(callback, False)


async def _active(session: AsyncSession, number: str) -> QueuedCallback | None:
    found: QueuedCallback | None = await session.scalar(
        select(QueuedCallback).where(
            QueuedCallback.number == number, QueuedCallback.status.in_(ACTIVE_CALLBACK)
        )
    )
    return found


def expected_minutes(position: int, agents: int, handle_seconds: int) -> int:
    """What the caller is told: the callers ahead of them (and them) over the agents logged in, at the
    average call, in the spoken steps."""
    seconds = max(position, 1) * handle_seconds / max(agents, 1)
    minutes = math.ceil(seconds / 60 / MINUTES_STEP) * MINUTES_STEP
    return min(max(minutes, MINUTES_STEP), MINUTES_MOST)


async def due(session: AsyncSession, now: datetime, queues: set[str]) -> list[QueuedCallback]:
    """Callbacks whose stand-in should be in their queue now (not yet expired, past any retry wait), the
    earliest place first."""
    if not queues:
        return []
    rows = await session.scalars(
        select(QueuedCallback)
        .where(
            QueuedCallback.status == CallbackStatus.WAITING.value,
            QueuedCallback.queue.in_(sorted(queues)),
            QueuedCallback.next_at <= now,
            QueuedCallback.expires_at > now,
        )
        .order_by(QueuedCallback.joined_at, QueuedCallback.id)
    )
    return list(rows)


async def placing(session: AsyncSession, callback_id: int, stand_in: str) -> bool:
    """The stand-in `stand_in` (its linkedid) is about to be placed for the callback's next try; False
    when the callback no longer waits."""
    result = await session.execute(
        update(QueuedCallback)
        .where(QueuedCallback.id == callback_id, QueuedCallback.status == CallbackStatus.WAITING.value)
        .values(stand_in=stand_in[:64])
    )
    return bool(rows_changed(result))


async def taken(session: AsyncSession, stand_in: str, agent: str) -> None:
    """An agent answered the stand-in: Asterisk dials the citizen now."""
    await session.execute(
        update(QueuedCallback)
        .where(QueuedCallback.stand_in == stand_in, QueuedCallback.status == CallbackStatus.WAITING.value)
        .values(status=CallbackStatus.CONNECTED.value, agent=agent[:32])
    )


async def tried(
    session: AsyncSession,
    settings: QueuedCallbacks,
    stand_in: str,
    result: str,
    agent: str,
    recording: str,
    now: datetime,
) -> QueuedCallback | None:
    """The try of the stand-in `stand_in` ended with Asterisk's DIALSTATUS `result`: reached, or tried
    again after the retry wait, or failed after the last try. A report counts only for the stand-in the
    callback last placed, and once: the same try reported twice (live and from queue_log) counts once,
    and a line of another time or site (a database restored, a second site on the Asterisk) counts for
    nothing. The callback, if this report changed it."""
    if not stand_in:
        return None
    callback = await session.scalar(
        select(QueuedCallback).where(QueuedCallback.stand_in == stand_in).with_for_update()
    )
    if callback is None or callback.status not in ACTIVE_CALLBACK:
        return None
    callback.tries += 1
    callback.stand_in = ""
    callback.last_result = (result or "NOANSWER")[:16]
    callback.agent = (agent or callback.agent)[:32]
    callback.recording = recording[:512] if result == ANSWERED else callback.recording
    if result == ANSWERED:
        callback.status = CallbackStatus.REACHED.value
        callback.closed_at = now
        await worklist.reached_by_callback(session, callback.number, now)
    elif callback.tries >= settings.tries:
        callback.status = CallbackStatus.FAILED.value
        callback.closed_at = now
    else:
        callback.status = CallbackStatus.WAITING.value
        callback.next_at = now + timedelta(seconds=settings.retry_seconds)
    return callback


async def expire(session: AsyncSession, now: datetime) -> list[QueuedCallback]:
    """Callbacks no agent took in time (still waiting at their expiry): closed as expired."""
    rows = list(
        await session.scalars(
            select(QueuedCallback).where(
                QueuedCallback.status == CallbackStatus.WAITING.value, QueuedCallback.expires_at <= now
            )
        )
    )
    for callback in rows:
        callback.status = CallbackStatus.EXPIRED.value
        callback.closed_at = now
    return rows


async def of_call(session: AsyncSession, linkedid: str) -> list[QueuedCallback]:
    """The callbacks a call asked for (its case shows them)."""
    return list(
        await session.scalars(
            select(QueuedCallback).where(QueuedCallback.linkedid == linkedid).order_by(QueuedCallback.id)
        )
    )


def view(callback: QueuedCallback, masked: bool = False) -> dict[str, object]:
    """A callback as the case shows it."""
    return {
        "id": callback.id,
        "number": mask_number(callback.number) if masked else callback.number,
        "queue": callback.queue,
        "status": callback.status,
        "tries": callback.tries,
        "last_result": callback.last_result,
        "agent": callback.agent,
        "asked_at": callback.asked_at.isoformat(),
        "closed_at": callback.closed_at.isoformat() if callback.closed_at else None,
        "has_recording": bool(callback.recording),
    }
