"""A voice call back with the approved answer ([callbacks]): the outbox dials the citizen through Asterisk
(AMI Originate into [hotline-callback]) within the allowed hours; once they answer, the FastAGI
"callback" route reads the request's number and the answer (synthesised on the spot, offline when need
be) and takes a rating from 1 to 5 by keypad. A long answer, or one a supervisor chose so, is told by an
agent instead: after the notice and the number the citizen waits in the queue of the request's topic (a
call of the hotline's own, recorded, a case that is one of the request's contacts) and rates the answer
when the agent hangs up. An attempt that nobody answered is tried again after
[callbacks] wait_seconds, up to [callbacks] attempts; then the request's history says the citizen could
not be reached, for a person to try another way."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from ami_bridge import actions
from ami_bridge.actions import Actions
from casework import workflow as wf
from hotline import files
from hotline.asterisk.channel_vars import Var
from hotline.db.models import AnswerOutcome, CitizenRequest, OutboxMessage, OutboxStatus, RequestEvent
from hotline.settings import Settings
from hotline.values import mask_number
from ivr.prompts.build import Synthesiser, for_asterisk

log = logging.getLogger(__name__)
ANSWERS = "answers"  # under the prompts' folder: hotline/answers/answer-<message id>
# The outbox kind of an answer a supervisor chose to have told by an agent ("answer": read to the citizen).
BY_AGENT = "answer_agent"
# One voice for the process: once gTTS could not be reached it is not tried again for every call back.
_VOICE = Synthesiser("auto")


def next_window(settings: Settings, now: datetime) -> datetime | None:
    """None while calls are allowed now; else when they are next allowed."""
    tz = ZoneInfo(settings.site.timezone)
    local = now.astimezone(tz)
    start = time.fromisoformat(settings.callbacks.from_time)
    end = time.fromisoformat(settings.callbacks.until_time)
    if start <= local.time() < end:
        return None
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return datetime.combine(day, start, tz)


def answer_sound(settings: Settings, message_id: int) -> Path:
    return settings.sounds_path / settings.site.language / "hotline" / ANSWERS / f"answer-{message_id}.wav"


def speakable(settings: Settings, answer: str) -> tuple[str, bool]:
    """The part of the answer read on the phone, and whether it was cut."""
    limit = settings.callbacks.longest_answer_chars
    if len(answer) <= limit:
        return answer, False
    cut = answer[:limit].rsplit(" ", 1)[0]
    return cut, True


def synthesise(settings: Settings, message_id: int, text: str) -> None:
    """The answer as a sound Asterisk plays (blocking: run it in a thread)."""
    target = answer_sound(settings, message_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    audio = _VOICE(text, settings.site.language)
    for_asterisk(audio).export(target, format="wav")
    files.open_to_all(target.parent)


def by_agent(settings: Settings, kind: str, answer: str) -> bool:
    """Whether an agent tells this answer rather than the synthesised voice."""
    mode = settings.callbacks.agent
    return kind == BY_AGENT or mode == "always" or (mode == "long" and speakable(settings, answer)[1])


def agent_queue(settings: Settings, topic: str) -> str:
    """The queue whose agents tell a request's answer: its topic's, else the operators'."""
    return topic if any(q.name == topic for q in settings.queues) else "operator"


async def dial(settings: Settings, ami: Actions, message: OutboxMessage, answer: str) -> str:
    """One attempt: the answer made ready to play (unless an agent tells it), then Asterisk dials; what the
    AMI said."""
    if not by_agent(settings, message.kind, answer):
        text, _ = speakable(settings, answer)
        await asyncio.to_thread(synthesise, settings, message.id, text)
    await actions.originate(
        ami,
        Channel=settings.callbacks.dial.format(number=message.to),
        Context="hotline-callback",
        Exten="s",
        Priority="1",
        CallerID=settings.callbacks.caller_id,
        Timeout=str(settings.callbacks.ring_seconds * 1000),
        Variable=f"{Var.CALLBACK}={message.id}",
    )
    return f"dialled {mask_number(message.to)}"


async def reached(
    db: async_sessionmaker[AsyncSession],
    message_id: int,
    stars: int | None,
    at: datetime,
    agent_queue: str = "",
) -> CitizenRequest | None:
    """The citizen answered and heard the answer (or, with `agent_queue`, the number, and now waits for an
    agent to tell it): the message is sent, the rating (if any) on the request. Marked before the queue so
    that a citizen who hangs up while talking to the agent is not called again."""
    return await _record(
        db,
        message_id,
        at,
        {"outcome": "reached"} | ({"agent_queue": agent_queue} if agent_queue else {}),
        stars,
        OutboxStatus.SENT,
    )


async def no_agent(db: async_sessionmaker[AsyncSession], message_id: int, at: datetime) -> None:
    """No agent took the call back in the queue's time: the citizen heard the number but not the answer,
    so the outbox calls them again at its next attempt (or marks them not reached after the last)."""
    await _record(db, message_id, at, {"outcome": "no agent"}, None, OutboxStatus.PENDING)


async def rated(
    db: async_sessionmaker[AsyncSession], message_id: int, stars: int | None, at: datetime
) -> CitizenRequest | None:
    """After the agent told the answer: the citizen's rating (or that they gave none)."""
    return await _record(db, message_id, at, {"outcome": "rated" if stars else "not rated"}, stars)


async def _record(
    db: async_sessionmaker[AsyncSession],
    message_id: int,
    at: datetime,
    detail: dict[str, str],
    stars: int | None,
    status: OutboxStatus | None = None,
) -> CitizenRequest | None:
    async with db() as session, session.begin():
        message = await session.get(OutboxMessage, message_id)
        if message is None or message.request_id is None:
            return None
        request = await session.scalar(
            select(CitizenRequest)
            .where(CitizenRequest.id == message.request_id)
            .options(selectinload(CitizenRequest.events), selectinload(CitizenRequest.assignments))
        )
        if request is None:
            return None
        if status is OutboxStatus.SENT:
            message.status, message.sent_at, message.external_id = status.value, at, "answered"
        elif status is not None:
            message.status, message.sent_at, message.external_id = status.value, None, ""
        session.add(
            RequestEvent(
                request_id=request.id,
                at=at,
                actor="system:phone",
                kind="callback",
                detail=detail
                | {"to": mask_number(message.to), "attempt": message.attempts}
                | ({"stars": stars} if stars else {}),
            )
        )
        if stars and request.status == "closed":
            wf.rate(request, wf.Actor("citizen:phone", None), at, stars)
        return request


@dataclass(frozen=True)
class Script:
    """What a call back says and does."""

    number: str  # the request's
    cut: bool  # the answer read is only its first part
    queue: str  # "": the answer is read; else the queue whose agent tells it
    to: str  # the citizen's number (the agent's desk and the case know them by it)
    not_fixed: bool = False  # the agency answered that the problem cannot be fixed (the answer says why)


async def script(settings: Settings, db: async_sessionmaker[AsyncSession], message_id: int) -> Script | None:
    async with db() as session:
        message = await session.get(OutboxMessage, message_id)
        if message is None or message.request_id is None or message.channel != "phone":
            return None
        row = (
            await session.execute(
                select(
                    CitizenRequest.number, CitizenRequest.answer, CitizenRequest.topic, CitizenRequest.outcome
                ).where(CitizenRequest.id == message.request_id)
            )
        ).first()
    if row is None:
        return None
    number, answer, topic = str(row[0]), str(row[1] or ""), str(row[2] or "")
    not_fixed = row[3] == AnswerOutcome.NOT_FIXABLE.value
    if by_agent(settings, message.kind, answer):
        return Script(number, False, agent_queue(settings, topic), message.to, not_fixed)
    return Script(number, speakable(settings, answer)[1], "", message.to, not_fixed)
