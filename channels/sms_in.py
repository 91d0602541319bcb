"""SMS to the hotline's number, as the gateway hands them over: each joins the request whose number it
names when it comes from that request's phone, else the phone's open request, else opens one
(channels/intake.py); an SMS that starts with MOI opens a new one whatever is open. The citizen is answered
with the number by SMS."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels import intake
from channels.intake import Message, Taken
from hotline.db.numbers import NumberAllocator, is_valid
from hotline.settings import Settings
from hotline.values import clean

NUMBER = re.compile(r"(?<!\d)(\d{8})(?!\d)")
TEXT_LIMIT = 2000  # a long SMS is a few parts; more is not an SMS


_NEW = re.compile(r"^\s*(?:MOI|MỚI)\b", re.IGNORECASE)


def asks_new(text: str) -> bool:
    """Whether the SMS starts with the word that asks for a new request. The word stays in the text: it
    may be the citizen's own first word ("Mới phát hiện…"), and then a new request is the safe reading."""
    return _NEW.match(text) is not None


def named_number(text: str) -> str | None:
    return next((n for n in NUMBER.findall(text) if is_valid(n)), None)


async def take(
    settings: Settings,
    db: async_sessionmaker[AsyncSession],
    numbers: NumberAllocator,
    folder: Path,
    sender: str,
    text: str,
    gateway_id: str,
) -> Taken:
    text = text.replace("\x00", "").strip()[:TEXT_LIMIT]
    sender = clean(sender, 32)
    fresh = asks_new(text)
    message = Message(
        channel="sms",
        external_id=gateway_id or f"{sender}:" + hashlib.sha256(text.encode()).hexdigest(),
        sender=sender,
        text=text,
        number=None if fresh else named_number(text),
        fresh=fresh,
        automatic="" if sender and text else "an empty message or no sender",
    )
    return await intake.take(settings, db, numbers, folder, message, settings.sms.topic)
