"""What any channel does with a message a citizen wrote: open a request, or join the one whose number it
names when it comes from that request's own contact (a stranger who guesses a number opens a request of
their own); keep its files (checked by content, casework/attachments.py); answer with the number on the
same channel, through the outbox. A message is taken once: by the channel's own id in inbound_messages,
in the same transaction as the request, so a crash between taking it and acknowledging it to the channel
cannot take it twice."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from casework import attachments, file_worker
from casework import workflow as wf
from casework.steps import OPEN
from channels import outbox, texts
from hotline import contact_channels
from hotline.db.models import CitizenRequest, InboundMessage, OutboxMessage, RequestContact, RequestFile
from hotline.db.numbers import NumberAllocator
from hotline.links import follow_url
from hotline.settings import Settings
from hotline.values import number_forms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Taken:
    outcome: str  # opened, joined, ignored, seen (taken before)
    number: str = ""


@dataclass
class Message:
    channel: str  # email, sms
    external_id: str  # the channel's id for it
    sender: str  # the address or phone number to answer
    text: str
    name: str = ""
    subject: str = ""
    reply_to: str = ""  # the channel's id to answer in the same thread
    number: str | None = None  # the request it names
    files: list[tuple[str, bytes]] = field(default_factory=list)
    automatic: str = ""  # why no person wrote it ("" when one did)
    fresh: bool = False  # the citizen asked for a new request: it joins none of theirs
    refused: list[str] = field(default_factory=list)  # what the channel could not hand over, and why
    position: tuple[float, float] | None = None  # a place the citizen shared (latitude, longitude)
    # The sender is who they say: the platform's or gateway's own id; for e-mail, the receiving server's
    # verdict. An unverified sender never joins a request as its citizen.
    verified: bool = True

    @property
    def chat(self) -> str:
        """The sender on a chat platform, as requests keep it ("" for e-mail and SMS)."""
        return f"{self.channel}:{self.sender}" if self.channel in CHATS else ""


CHATS = contact_channels.CHATS


async def _may_answer(settings: Settings, session: AsyncSession, message: Message, now: datetime) -> bool:
    """Every verified sender gets the number; an unverified address at most
    [mailbox] unverified_answers_per_day times a day (the hotline is no relay for mail to forged senders)."""
    if message.verified:
        return True
    answered = await session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.channel == message.channel,
            OutboxMessage.to == message.sender,
            OutboxMessage.kind == "received",
            OutboxMessage.created_at > now - timedelta(days=1),
        )
    )
    return (answered or 0) < settings.mailbox.unverified_answers_per_day


def _theirs(message: Message, request: CitizenRequest) -> bool:
    if not message.verified:  # anyone can write any From: it never makes them the request's citizen
        return False
    if message.channel == "email":
        return request.contact_email.lower() == message.sender.lower()
    if message.chat:
        return request.contact_chat == message.chat
    return bool(number_forms(message.sender) & number_forms(request.contact_phone))


def _contact(message: Message) -> dict[str, Any]:
    """The request's fields for how to reach the sender, and the place they shared."""
    place = {"latitude": message.position[0], "longitude": message.position[1]} if message.position else {}
    if message.channel == "email":
        return {"contact_email": message.sender, **place}
    if message.chat:
        return {"contact_chat": message.chat, **place}
    return {"contact_phone": message.sender, **place}


async def take(
    settings: Settings,
    db: async_sessionmaker[AsyncSession],
    numbers: NumberAllocator,
    folder: Path,
    message: Message,
    topic: str,
) -> Taken:
    now = datetime.now(UTC)
    if message.automatic:
        log.info("%s %s not taken: %s", message.channel, message.external_id, message.automatic)
        return await _ignored(db, message, now)
    checked, refused = await _check_files(settings, message)
    citizen = wf.Actor(f"citizen:{message.sender}"[:80], None)
    async with db() as session:
        if await _known(session, message):
            return Taken("seen")
        request = await _joins(session, message)
    stored: list[RequestFile] = []
    try:
        async with db() as session, session.begin():
            if request is not None:
                session.add(request)
                request.contacts.append(
                    RequestContact(channel=message.channel, at=now, note=message.subject[:200])
                )
                subject, text, position = message.subject, message.text, message.position
                wf.add_message(request, citizen, now, message.channel, subject, text, refused, position)
                outcome = "joined"
            else:
                request = wf.open_request(
                    await numbers.next_number(wait=5),
                    citizen,
                    now,
                    topic=topic,
                    words=(message.subject + "\n\n" + message.text).strip(),
                    channel=message.channel,
                    contact_name=message.name,
                    notify_by=message.channel,
                    places=settings.places(),
                    **_contact(message),
                )
                if refused:
                    wf.add_message(request, citizen, now, message.channel, "", "", refused)
                session.add(request)
                outcome = "opened"
            for file in checked:
                kept = attachments.store(folder, file, "citizen", citizen.name)
                kept.at = now
                stored.append(kept)
                request.files.append(kept)
            await session.flush()
            session.add(
                InboundMessage(
                    channel=message.channel,
                    external_id=message.external_id,
                    request_id=request.id,
                    at=now,
                    outcome=outcome,
                )
            )
            await _acknowledge(settings, session, message, request, outcome, refused, now)
    except IntegrityError:  # taken by another worker between our look and our write
        _remove(folder, stored)
        return Taken("seen")
    except BaseException:
        _remove(folder, stored)
        raise
    log.info("%s %s %s request %s", message.channel, message.external_id, outcome, request.number)
    return Taken(outcome, request.number)


async def _check_files(
    settings: Settings, message: Message
) -> tuple[list[attachments.CheckedFile], list[str]]:
    """The message's files made safe to keep, and why any was not (the channel's own reasons first). The
    same caps as the web form's: at most [portal] files a message, each checked on its own."""
    checked, refused = [], list(message.refused)
    most = settings.portal.files
    if len(message.files) > most:
        refused.append(f"{len(message.files) - most} of {len(message.files)} files not taken: at most {most}")
    for name, data in message.files[:most]:
        try:
            checked.append(await file_worker.check_file(name, data))
        except attachments.FileRefused as exc:
            refused.append(str(exc))
    return checked, refused


async def _joins(session: AsyncSession, message: Message) -> CitizenRequest | None:
    """The request the message joins: the one it names, else on a chat or by SMS the sender's open one
    (unless they asked for a new one); only when it comes from that request's own contact."""
    if message.number:
        wanted = CitizenRequest.number == message.number
    elif message.fresh:
        return None
    elif message.chat:
        wanted = (CitizenRequest.contact_chat == message.chat) & CitizenRequest.status.in_(OPEN)
    elif _by_phone_conversation(message.channel) and message.sender:
        phones = CitizenRequest.contact_phone.in_(number_forms(message.sender))
        wanted = phones & CitizenRequest.status.in_(OPEN)
    else:
        return None
    request = await session.scalar(
        select(CitizenRequest)
        .where(wanted)
        .order_by(CitizenRequest.created_at.desc())
        .limit(1)
        .options(
            selectinload(CitizenRequest.events),
            selectinload(CitizenRequest.contacts),
            selectinload(CitizenRequest.files),
            selectinload(CitizenRequest.assignments),
        )
    )
    return request if request is not None and _theirs(message, request) else None


def _by_phone_conversation(channel: str) -> bool:
    way = contact_channels.CHANNELS.get(channel)
    return way is not None and way.conversation and way.reach is contact_channels.Reach.PHONE


async def _acknowledge(
    settings: Settings,
    session: AsyncSession,
    message: Message,
    request: CitizenRequest,
    outcome: str,
    refused: list[str],
    now: datetime,
) -> None:
    """Queue the answer on the sender's channel: the number of a request opened, or what of a message
    added to one was not taken. A sender with no address (an unreadable From) is not answered: staff see
    the request. To an unverified sender, nothing of what they wrote goes back (no subject, no thread, no
    file name): the answer cannot carry someone else's words to a forged address."""
    if not message.sender:
        return
    mail = message.channel == "email"
    if outcome == "opened" and await _may_answer(settings, session, message, now):
        echo = message.verified and mail
        body = texts.received(
            settings,
            request,
            follow_url(settings, request.number),
            message.channel,
            refused if message.verified else (),
        )
        subject = texts.subject(request, message.subject if echo else "") if mail else ""
        reply_to = message.reply_to if echo else ""
        session.add(
            outbox.queue(
                request, "received", message.channel, message.sender, subject, body, now, reply_to=reply_to
            )
        )
    elif outcome == "joined" and refused and message.verified:
        subject = texts.subject(request) if mail else ""
        body = texts.added(request, refused)
        session.add(outbox.queue(request, "received", message.channel, message.sender, subject, body, now))


def _remove(folder: Path, stored: list[RequestFile]) -> None:
    for kept in stored:
        (folder / kept.stored).unlink(missing_ok=True)


async def _known(session: AsyncSession, message: Message) -> bool:
    found = await session.scalar(
        select(InboundMessage.id).where(
            InboundMessage.channel == message.channel, InboundMessage.external_id == message.external_id
        )
    )
    return found is not None


async def _ignored(db: async_sessionmaker[AsyncSession], message: Message, at: datetime) -> Taken:
    try:
        async with db() as session, session.begin():
            if await _known(session, message):
                return Taken("seen")
            session.add(
                InboundMessage(
                    channel=message.channel,
                    external_id=message.external_id,
                    request_id=None,
                    at=at,
                    outcome="ignored",
                )
            )
    except IntegrityError:
        return Taken("seen")
    return Taken("ignored")
