"""The hotline's mailbox, read over IMAP ([mailbox]): each new message a person wrote opens a request, or
joins the one whose number is in its subject when it comes from that request's own address (a stranger
who guesses a number opens a request of their own). Its attachments are kept as the request's files
(checked by content, casework/attachments.py); the citizen is answered with the number, in the same
thread. Auto-replies, bounces, lists and the hotline's own mail are marked read and left.

A message is taken once: by its Message-ID in inbound_messages, in the same transaction as the request, so
a crash between taking it and marking it read on the server cannot take it twice."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import imaplib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from casework import attachments
from casework import workflow as wf
from channels import email, outbox, texts
from hotline import secrets
from hotline.db.models import CitizenRequest, InboundMessage, RequestContact
from hotline.db.numbers import NumberAllocator
from hotline.links import follow_url
from hotline.settings import Settings

log = logging.getLogger(__name__)
MOST_PER_POLL = 100


@dataclass(frozen=True)
class Taken:
    outcome: str  # opened, joined, ignored, seen (taken before)
    number: str = ""


@contextlib.contextmanager
def _mailbox(settings: Settings, password: str) -> Iterator[imaplib.IMAP4]:
    """Signed in, the folder selected; blocking, for a thread."""
    box = settings.mailbox
    imap = (
        imaplib.IMAP4_SSL(box.host, box.port, timeout=30)
        if box.ssl
        else imaplib.IMAP4(box.host, box.port, timeout=30)
    )
    try:
        imap.login(box.username, password)
        imap.select(box.folder)
        yield imap
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            imap.logout()


def _fetch(settings: Settings, password: str) -> list[tuple[bytes, bytes]]:
    """The unread messages, as (uid, raw), left unread until they are taken."""
    with _mailbox(settings, password) as imap:
        _, found = imap.uid("SEARCH", "UNSEEN")
        out = []
        for uid in bytes(found[0] or b"").split()[:MOST_PER_POLL]:
            _, data = imap.uid("FETCH", uid.decode(), "(BODY.PEEK[])")
            raw = next((part[1] for part in data if isinstance(part, tuple)), b"")
            out.append((uid, raw))
        return out


def _mark_read(settings: Settings, password: str, uids: list[bytes]) -> None:
    if uids:
        with _mailbox(settings, password) as imap:
            imap.uid("STORE", b",".join(uids).decode(), "+FLAGS", "(\\Seen)")


async def poll(
    settings: Settings, db: async_sessionmaker[AsyncSession], numbers: NumberAllocator, files: Path
) -> list[Taken]:
    """One look at the mailbox; what became of each new message."""
    password = secrets.for_site(settings).require("mailbox.password", "the hotline mailbox's password")
    fetched = await asyncio.to_thread(_fetch, settings, password)
    taken, done = [], []
    for uid, raw in fetched:
        taken.append(await take(settings, db, numbers, files, raw))
        done.append(uid)
    await asyncio.to_thread(_mark_read, settings, password, done)
    return taken


async def take(
    settings: Settings,
    db: async_sessionmaker[AsyncSession],
    numbers: NumberAllocator,
    folder: Path,
    raw: bytes,
) -> Taken:
    incoming = email.parse(raw, settings.mailbox.address)
    external = incoming.message_id or "sha256:" + hashlib.sha256(raw).hexdigest()
    now = datetime.now(UTC)
    if incoming.automatic:
        log.info("mail %s not taken: %s", external, incoming.automatic)
        return await _record(db, external, None, now, "ignored") or Taken("ignored")
    checked, refused = [], []
    for name, data in incoming.files:
        try:
            checked.append(await asyncio.to_thread(attachments.check, name, data))
        except attachments.FileRefused as exc:
            refused.append(str(exc))
    citizen = wf.Actor(f"citizen:{incoming.sender}"[:80], None)
    async with db() as session:
        if await session.scalar(
            select(InboundMessage.id).where(
                InboundMessage.channel == "email", InboundMessage.external_id == external
            )
        ):
            return Taken("seen")
        number = incoming.number()
        request = None
        if number:
            request = await session.scalar(
                select(CitizenRequest)
                .where(CitizenRequest.number == number)
                .options(
                    selectinload(CitizenRequest.events),
                    selectinload(CitizenRequest.contacts),
                    selectinload(CitizenRequest.files),
                    selectinload(CitizenRequest.assignments),
                )
            )
            if request is not None and request.contact_email.lower() != incoming.sender:
                request = None  # not theirs: a request of their own
    stored = []
    try:
        async with db() as session, session.begin():
            if request is not None:
                session.add(request)
                request.contacts.append(RequestContact(channel="email", at=now, note=incoming.subject[:200]))
                wf.add_message(request, citizen, now, "email", incoming.subject, incoming.text, refused)
                outcome = "joined"
            else:
                request = wf.open_request(
                    await numbers.next_number(wait=5),
                    citizen,
                    now,
                    topic=settings.mailbox.topic,
                    words=(incoming.subject + "\n\n" + incoming.text).strip(),
                    channel="email",
                    contact_email=incoming.sender,
                    contact_name=incoming.name,
                    notify_by="email",
                )
                if refused:
                    wf.add_message(request, citizen, now, "email", "", "", refused)
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
                    channel="email", external_id=external, request_id=request.id, at=now, outcome=outcome
                )
            )
            if outcome == "opened":
                session.add(
                    outbox.queue(
                        request,
                        "received",
                        "email",
                        incoming.sender,
                        texts.subject(request, incoming.subject),
                        texts.received(settings, request, follow_url(settings, request.number)),
                        now,
                        reply_to=incoming.message_id,
                    )
                )
    except IntegrityError:  # another poller took it between our look and our write
        for kept in stored:
            (folder / kept.stored).unlink(missing_ok=True)
        return Taken("seen")
    except BaseException:
        for kept in stored:
            (folder / kept.stored).unlink(missing_ok=True)
        raise
    log.info("mail %s %s request %s", external, outcome, request.number)
    return Taken(outcome, request.number)


async def _record(
    db: async_sessionmaker[AsyncSession], external: str, request_id: int | None, at: datetime, outcome: str
) -> Taken | None:
    try:
        async with db() as session, session.begin():
            if await session.scalar(
                select(InboundMessage.id).where(
                    InboundMessage.channel == "email", InboundMessage.external_id == external
                )
            ):
                return Taken("seen")
            session.add(
                InboundMessage(
                    channel="email", external_id=external, request_id=request_id, at=at, outcome=outcome
                )
            )
    except IntegrityError:
        return Taken("seen")
    return None
