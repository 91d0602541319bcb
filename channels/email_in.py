"""The hotline's mailbox, read over IMAP ([mailbox]): each new message a person wrote opens a request, or
joins the one whose number is in its subject or whose thread it replies in (channels/intake.py), with its
attachments, keeping what the citizen wrote and not what they quoted (channels/reply_text.py); the citizen is
answered with the number in the same thread. Auto-replies, bounces, lists and the hotline's own mail are
marked read and left. A message is marked read only once it is taken (by its Message-ID)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import imaplib
import logging
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels import email, intake, reply_text
from channels.intake import Message, Taken
from hotline import secrets
from hotline.db.numbers import NumberAllocator
from hotline.settings import Settings

log = logging.getLogger(__name__)
MOST_PER_POLL = 100


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
    password = secrets.value(settings, secrets.MAILBOX_PASSWORD)
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
    incoming = email.parse(raw, settings.mailbox.address, settings.mailbox.trusted_authserv_id)
    number = incoming.number(email.mail_domain(settings))
    message = Message(
        channel="email",
        external_id=incoming.message_id or "sha256:" + hashlib.sha256(raw).hexdigest(),
        sender=incoming.sender,
        # A reply in a request's thread: what the citizen wrote, not the hotline's message they quoted.
        text=reply_text.own_words(incoming.text) if number else incoming.text,
        name=incoming.name,
        subject=incoming.subject,
        reply_to=incoming.message_id,
        number=number,
        files=incoming.files,
        automatic=incoming.automatic,
        verified=incoming.verified,
    )
    return await intake.take(settings, db, numbers, folder, message, settings.mailbox.topic)
