"""A voice call back with the approved answer ([callbacks]): the outbox dials the citizen through Asterisk
(AMI Originate into [hotline-callback]) within the allowed hours; once they answer, the FastAGI
"callback" route reads the request's number and the answer (synthesised on the spot, offline when need
be) and takes a rating from 1 to 5 by keypad. An attempt that nobody answered is tried again after
[callbacks] wait_seconds, up to [callbacks] attempts; then the request's history says the citizen could
not be reached, for a person to try another way."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from casework import workflow as wf
from hotline import files
from hotline.asterisk.channel_vars import Var
from hotline.db.models import CitizenRequest, OutboxMessage, OutboxStatus, RequestEvent
from hotline.errors import AMIError
from hotline.settings import Settings
from hotline.values import mask_number
from ivr.prompts.build import Synthesiser, for_asterisk

log = logging.getLogger(__name__)
ANSWERS = "answers"  # under the prompts' folder: hotline/answers/answer-<message id>
# One voice for the process: once gTTS could not be reached it is not tried again for every call back.
_VOICE = Synthesiser("auto")


class Actions(Protocol):
    async def action(self, name: str, **fields: Any) -> Any: ...


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


async def dial(settings: Settings, ami: Actions, message: OutboxMessage, answer: str) -> str:
    """One attempt: the answer made ready to play, then Asterisk dials; what the AMI said."""
    text, _ = speakable(settings, answer)
    await asyncio.to_thread(synthesise, settings, message.id, text)
    reply = await ami.action(
        "Originate",
        Channel=settings.callbacks.dial.format(number=message.to),
        Context="hotline-callback",
        Exten="s",
        Priority="1",
        CallerID=settings.callbacks.caller_id,
        Timeout=str(settings.callbacks.ring_seconds * 1000),
        Variable=f"{Var.CALLBACK}={message.id}",
        Async="true",
    )
    if getattr(reply, "response", "") != "Success":
        raise AMIError(f"Originate refused: {getattr(reply, 'message', reply)}")
    return f"dialled {mask_number(message.to)}"


async def reached(
    db: async_sessionmaker[AsyncSession], message_id: int, stars: int | None, at: datetime
) -> CitizenRequest | None:
    """The citizen answered and heard the answer: the message is sent, the rating (if any) on the request."""
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
        message.status, message.sent_at, message.external_id = OutboxStatus.SENT.value, at, "answered"
        session.add(
            RequestEvent(
                request_id=request.id,
                at=at,
                actor="system:phone",
                kind="callback",
                detail={"outcome": "reached", "to": mask_number(message.to), "attempt": message.attempts}
                | ({"stars": stars} if stars else {}),
            )
        )
        if stars and request.status == "closed":
            wf.rate(request, wf.Actor("citizen:phone", None), at, stars)
        return request


async def script(
    settings: Settings, db: async_sessionmaker[AsyncSession], message_id: int
) -> tuple[str, bool] | None:
    """What the call back says: the request's number, and whether the answer read is only its first part."""
    async with db() as session:
        message = await session.get(OutboxMessage, message_id)
        if message is None or message.request_id is None or message.channel != "phone":
            return None
        row = (
            await session.execute(
                select(CitizenRequest.number, CitizenRequest.answer).where(
                    CitizenRequest.id == message.request_id
                )
            )
        ).first()
    if row is None:
        return None
    return str(row[0]), speakable(settings, str(row[1] or ""))[1]
