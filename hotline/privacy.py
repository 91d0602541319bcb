"""Erasure of one person's data on request (Decree 13/2023): every case of their phone number anonymised,
its recordings and voice messages deleted, and the number removed wherever else the hotline or Asterisk
kept it (timelines, the audit log, dead letters, Asterisk's queue_log and logs). The case itself stays,
without the person: its number, topic, outcome and times still count in the reports."""

from __future__ import annotations

import gzip
import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import String, cast, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from hotline.db.models import (
    AuditEntry,
    Case,
    CaseEvent,
    CitizenRequest,
    DeadLetter,
    InboundMessage,
    MissedCall,
    MissedCallTry,
    OutboxMessage,
    QueuedCallback,
    RequestEvent,
)
from hotline.retention import ROTATED_LOG, remove_files, under
from hotline.settings import Settings
from hotline.values import mask_number, number_forms

log = logging.getLogger(__name__)

ERASED = "erased"


@dataclass
class Erasure:
    cases: int = 0
    requests: int = 0
    files: int = 0
    events: int = 0
    audit: int = 0
    dead_letters: int = 0
    log_lines: int = 0
    messages: int = 0
    callbacks: int = 0  # entries of the worklist and queued callbacks, with the calls back's recordings


def _scrub(value: Any, forms: set[str]) -> Any:
    """The value with every form of the number replaced, inside strings, lists and dicts."""
    if isinstance(value, str):
        for form in sorted(forms, key=len, reverse=True):
            value = value.replace(form, ERASED)
        return value
    if isinstance(value, list):
        return [_scrub(v, forms) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v, forms) for k, v in value.items()}
    return value


def _mentions(column: Any, forms: set[str]) -> Any:
    return or_(*(cast(column, String).contains(form) for form in forms))


async def erase(
    settings: Settings,
    db: async_sessionmaker[AsyncSession],
    phone: str,
    *,
    actor: str,
    include_live_logs: bool,
) -> Erasure:
    """Erase `phone` (any of its forms). `include_live_logs`: rewrite Asterisk's live queue_log and logs
    too, which is safe only while Asterisk does not write them (it is stopped, or has just rotated them:
    then the live files hold nothing older than the rotation)."""
    digits = phone.strip().removeprefix("+")
    if not (digits.isascii() and digits.isdigit() and len(digits) >= 6):
        raise ValueError(f"{phone!r} is not a phone number to erase (digits, + at most in front)")
    forms = number_forms(phone)
    done = Erasure()
    now = datetime.now(UTC)
    # In queue_log the dialplan writes values URI-encoded (+ becomes %2B).
    encoded = forms | {quote(f, safe="") for f in forms}
    async with db() as session, session.begin():
        cases = list(await session.scalars(select(Case).where(Case.caller.in_(forms))))
        root = settings.recordings_path
        files = [Path(p) for c in cases for p in (c.recording, c.voicemail) if p and under(root, Path(p))]
        done.files = len(remove_files(files))
        for case in cases:
            case.caller, case.caller_name, case.notes = ERASED, "", ""
            case.recording = case.voicemail = ""
            session.add(CaseEvent(case_id=case.id, at=now, kind="erased", detail={"reason": "request"}))
        done.cases = len(cases)
        # The worklist and the queued callbacks hold nothing but the number and the calls made to it: they
        # go, with the recordings of those calls (an active callback is dialled no more).
        missed = list(await session.scalars(select(MissedCall.id).where(MissedCall.caller.in_(forms))))
        callbacks = list(
            await session.scalars(select(QueuedCallback).where(QueuedCallback.number.in_(forms)))
        )
        tried = list(
            await session.scalars(
                select(MissedCallTry.recording).where(MissedCallTry.missed_call_id.in_(missed))
            )
        )
        audio = [Path(p) for p in (*tried, *(cb.recording for cb in callbacks)) if p and under(root, Path(p))]
        done.files += len(remove_files(audio))
        done.callbacks = len(missed) + len(callbacks)
        await session.execute(delete(MissedCall).where(MissedCall.id.in_(missed)))
        await session.execute(
            delete(QueuedCallback).where(QueuedCallback.id.in_([cb.id for cb in callbacks]))
        )
        for event in await session.scalars(select(CaseEvent).where(_mentions(CaseEvent.detail, encoded))):
            event.detail = _scrub(event.detail, encoded)
            done.events += 1
        # Their requests: the contact goes, the words are cleaned of the number, the photos they sent are
        # deleted; what the agencies answered stays (the request is still counted, without the person).
        requests = list(
            await session.scalars(
                select(CitizenRequest)
                .where(CitizenRequest.contact_phone.in_(forms))
                .options(selectinload(CitizenRequest.files))
            )
        )
        folder = settings.request_files_path
        for request in requests:
            request.contact_phone, request.contact_name, request.contact_email = ERASED, "", ""
            request.words = _scrub(request.words, encoded)
            theirs = [f for f in request.files if f.purpose == "citizen"]
            done.files += len(remove_files(folder / f.stored for f in theirs))
            for file in theirs:
                request.files.remove(file)
            session.add(
                RequestEvent(request_id=request.id, at=now, actor=actor[:80], kind="erased", detail={})
            )
        done.requests = len(requests)
        # Messages to them (their number, the answer) and the record of theirs taken from a channel.
        ids = [r.id for r in requests]
        for table, condition in (
            (OutboxMessage, or_(OutboxMessage.to.in_(forms), OutboxMessage.request_id.in_(ids))),
            (InboundMessage, InboundMessage.request_id.in_(ids)),
        ):
            done.messages += int((await session.execute(delete(table).where(condition))).rowcount or 0)  # type: ignore[attr-defined]
        for step in await session.scalars(
            select(RequestEvent).where(_mentions(RequestEvent.detail, encoded))
        ):
            step.detail = _scrub(step.detail, encoded)
            done.events += 1
        for entry in await session.scalars(
            select(AuditEntry).where(or_(_mentions(AuditEntry.detail, encoded), AuditEntry.target.in_(forms)))
        ):
            entry.detail, entry.target = _scrub(entry.detail, encoded), _scrub(entry.target, encoded)
            done.audit += 1
        for letter in await session.scalars(select(DeadLetter).where(_mentions(DeadLetter.payload, encoded))):
            letter.payload = _scrub(letter.payload, encoded)
            done.dead_letters += 1
        done.log_lines = _scrub_logs(settings.asterisk_log_path, encoded, include_live_logs)
        session.add(
            AuditEntry(
                at=now,
                actor=actor[:80],
                action="privacy.erase",
                target=mask_number(phone),
                detail=json.loads(json.dumps(done.__dict__)),
            )
        )
    log.info("erased %s: %s", mask_number(phone), done)
    return done


def _scrub_logs(folder: Path, forms: set[str], include_live: bool) -> int:
    """Rewrite each of Asterisk's log files that mentions the number (atomically, keeping its mode)."""
    if not folder.is_dir():
        return 0
    changed = 0
    live = {"queue_log", "messages", "messages.log", "full", "full.log", "security", "security.log"}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        if not (ROTATED_LOG.match(path.name) or (include_live and path.name in live)):
            continue
        packed = path.suffix == ".gz"  # rotated and compressed by logrotate
        raw = path.read_bytes()
        data = gzip.decompress(raw) if packed else raw
        lines = data.split(b"\n")
        kept = []
        for line in lines:
            text = line.decode("utf-8", "surrogateescape")
            scrubbed = _scrub(text, forms)
            changed += scrubbed != text
            kept.append(scrubbed.encode("utf-8", "surrogateescape"))
        new = b"\n".join(kept)
        if new != data:
            tmp = path.with_name(path.name + ".erasing")
            tmp.write_bytes(gzip.compress(new) if packed else new)
            st = path.stat()
            # Asterisk (its own user) must still be able to append to a live file it reopens.
            os.chown(tmp, st.st_uid, st.st_gid)
            os.chmod(tmp, st.st_mode & 0o777)
            tmp.replace(path)
    return changed
