"""SMS to the hotline's number, as the gateway hands them over: each opens a request, or joins the one
whose number it names when it comes from that request's phone (channels/intake.py); the citizen is
answered with the number by SMS."""

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
    message = Message(
        channel="sms",
        external_id=gateway_id or f"{sender}:" + hashlib.sha256(text.encode()).hexdigest(),
        sender=sender,
        text=text,
        number=named_number(text),
        automatic="" if sender and text else "an empty message or no sender",
    )
    return await intake.take(settings, db, numbers, folder, message, settings.sms.topic)
