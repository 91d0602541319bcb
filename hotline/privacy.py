"""Erasure of one person's data on request (Decree 13/2023), by any identifier the hotline holds: a phone
number (in any of its forms), an e-mail address, or a Zalo or Facebook user id. Every field
hotline/personal.py declares is cleared, scrubbed or deleted with its row, as it declares: the person's
cases and requests stay, without the person (their numbers, topics, outcomes and times still count in the
reports); their recordings, voice messages and files are deleted; their names, addresses, positions and
network addresses leave their history; their identifiers leave every timeline, the audit log, the dead
letters and Asterisk's queue_log and logs. An erased request's follow link opens nothing."""

from __future__ import annotations

import gzip
import ipaddress
import json
import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import String, cast, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline import contact_channels, personal
from hotline.db.models import (
    AuditEntry,
    Base,
    Case,
    CaseEvent,
    CitizenRequest,
    DeadLetter,
    InboundMessage,
    MissedCall,
    MissedCallTry,
    OutboxMessage,
    QueuedCallback,
    RequestContact,
    RequestEvent,
    RequestFile,
    rows_changed,
)
from hotline.personal import Kind
from hotline.retention import ROTATED_LOG, remove_files, under
from hotline.settings import Settings
from hotline.values import mask_email, mask_number, number_forms

log = logging.getLogger(__name__)

ERASED = "erased"
CHAT_PLATFORMS = contact_channels.CHATS
_CHAT_ID = re.compile(r"[A-Za-z0-9_.\-]{6,128}", re.ASCII)
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
SHORTEST_SCRUBBED = 3  # a name or address shorter than this is no person's (and would scrub common words)


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


@dataclass
class Person:
    """Whom to erase: every form of their identifiers, and what their rows say of them."""

    phones: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)  # lower case
    chats: set[str] = field(default_factory=set)  # platform:id
    # Read from their own rows: scrubbed from their own history (a name alone is not unique to them).
    names: set[str] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)
    networks: set[str] = field(default_factory=set)  # addresses they wrote from

    @classmethod
    def named(cls, identifier: str) -> Person:
        said = identifier.strip()
        platform, colon, user = said.partition(":")
        if colon and platform.lower() in CHAT_PLATFORMS:
            if not _CHAT_ID.fullmatch(user):
                raise ValueError(f"{identifier!r} is not a {platform} user id to erase")
            return cls(chats={f"{platform.lower()}:{user}"})
        if "@" in said:
            if not _EMAIL.fullmatch(said):
                raise ValueError(f"{identifier!r} is not an e-mail address to erase")
            return cls(emails={said.lower()})
        digits = said.removeprefix("+")
        if not (digits.isascii() and digits.isdigit() and len(digits) >= 6):
            raise ValueError(
                f"{identifier!r} is not a phone number (digits, + at most in front), an e-mail address or "
                "zalo:ID / facebook:ID to erase"
            )
        return cls(phones=number_forms(said))

    def masked(self) -> str:
        if self.phones:
            return mask_number(min(self.phones, key=len))
        if self.emails:
            return mask_email(next(iter(self.emails)))
        return personal.MASKS[Kind.CHAT](next(iter(self.chats)))

    def identifiers(self) -> set[str]:
        """What finds them anywhere: each written as the hotline and Asterisk write it (queue_log
        URI-encodes: + becomes %2B; a chat's bare id is how its platform's payloads name them)."""
        found = set(self.phones) | {quote(p, safe="") for p in self.phones} | set(self.emails)
        return found | self.chats | {c.partition(":")[2] for c in self.chats}

    def everything(self) -> set[str]:
        extra = {v for v in (*self.names, *self.addresses) if len(v) >= SHORTEST_SCRUBBED}
        return self.identifiers() | extra | self.networks


class Scrubber:
    """Replaces whole occurrences of some values (never inside a longer number: 1.2.3.4 is not taken out of
    11.2.3.45), case-insensitively, inside strings, lists and dicts; a dict's personal keys (declared in
    hotline/personal.py) are cleared when `keys` is set."""

    def __init__(self, values: Iterable[str], keys: bool = False) -> None:
        ordered = sorted({v for v in values if v}, key=len, reverse=True)
        self.pattern = (
            re.compile(r"(?<![0-9])(?:" + "|".join(map(re.escape, ordered)) + r")(?![0-9])", re.IGNORECASE)
            if ordered
            else None
        )
        self.keys = personal.detail_keys() if keys else frozenset()
        self.changed = False

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            if self.pattern is None:
                return value
            new = self.pattern.sub(ERASED, value)
            self.changed |= new != value
            return new
        if isinstance(value, list):
            return [self(v) for v in value]
        if isinstance(value, dict):
            out = {}
            for k, v in value.items():
                if k in self.keys and v not in ("", None, [], {}):
                    out[k], self.changed = ERASED, True
                else:
                    out[k] = self(v)
            return out
        return value


def _network(actor: str) -> str:
    """The network address in a citizen's actor name (citizen@203.0.113.7), or ""."""
    if not actor.startswith("citizen@"):
        return ""
    try:
        return str(ipaddress.ip_address(actor.removeprefix("citizen@")))
    except ValueError:
        return ""


def _mentions(column: Any, values: set[str]) -> Any:
    return or_(*(func.lower(cast(column, String)).contains(v.lower()) for v in values))


@dataclass
class Theirs:
    """The rows that are the person's: their calls, their requests and what hangs on those."""

    cases: list[Case]
    requests: list[CitizenRequest]
    events: list[RequestEvent]
    files: list[RequestFile]
    audited: list[AuditEntry]  # the audit entries about their requests and calls

    @property
    def request_ids(self) -> list[int]:
        return [r.id for r in self.requests]


async def erase(
    settings: Settings,
    db: async_sessionmaker[AsyncSession],
    identifier: str,
    *,
    actor: str,
    include_live_logs: bool,
) -> Erasure:
    """Erase the person `identifier` names (a phone number in any form, an e-mail address, zalo:ID or
    facebook:ID). `include_live_logs`: rewrite Asterisk's live queue_log and logs too, which is safe only
    while Asterisk does not write them (it is stopped, or has just rotated them: then the live files hold
    nothing older than the rotation)."""
    person = Person.named(identifier)
    done = Erasure()
    now = datetime.now(UTC)
    async with db() as session, session.begin():
        theirs = await _find(session, person)
        own = Scrubber(person.everything(), keys=True)
        await _anonymise_rows(settings, session, theirs, own, actor, now, done)
        await _delete_rows(settings, session, person, theirs, done)
        anywhere = await _scrub_history(session, person, theirs, own, done)
        done.log_lines = sum(
            _scrub_logs(folder, anywhere, include_live_logs) for folder in settings.asterisk_log_paths
        )
        detail = json.loads(json.dumps(done.__dict__))
        session.add(
            AuditEntry(
                at=now, actor=actor[:80], action="privacy.erase", target=person.masked(), detail=detail
            )
        )
    log.info("erased %s: %s", person.masked(), done)
    return done


async def _find(session: AsyncSession, person: Person) -> Theirs:
    """Their rows, found by their identifiers; what those rows say of them (names, addresses, the network
    addresses they wrote and followed from) is added to `person`."""
    cases = list(await session.scalars(select(Case).where(Case.caller.in_(person.phones))))
    requests = list(
        await session.scalars(
            select(CitizenRequest).where(
                or_(
                    CitizenRequest.contact_phone.in_(person.phones),
                    func.lower(CitizenRequest.contact_email).in_(person.emails),
                    CitizenRequest.contact_chat.in_(person.chats),
                )
            )
        )
    )
    ids = [r.id for r in requests]
    numbers = [r.number for r in requests] + [c.number for c in cases]
    theirs = Theirs(
        cases,
        requests,
        list(await session.scalars(select(RequestEvent).where(RequestEvent.request_id.in_(ids)))),
        list(await session.scalars(select(RequestFile).where(RequestFile.request_id.in_(ids)))),
        list(await session.scalars(select(AuditEntry).where(AuditEntry.target.in_(numbers)))),
    )
    actors = [
        *(e.actor for e in theirs.events),
        *(f.uploaded_by for f in theirs.files),
        *(r.created_by for r in requests),
        *(a.actor for a in theirs.audited if a.action.startswith(("request.", "follow."))),
    ]
    person.networks |= {n for n in map(_network, actors) if n}
    person.names |= {c.caller_name for c in cases} | {r.contact_name for r in requests}
    person.addresses |= {r.address for r in requests}
    return theirs


async def _anonymise_rows(
    settings: Settings,
    session: AsyncSession,
    theirs: Theirs,
    own: Scrubber,
    actor: str,
    now: datetime,
    done: Erasure,
) -> None:
    """Their calls and requests stay, without them; the files they sent go, the agency's lose their name."""
    root = settings.recordings_path
    audio = [Path(p) for c in theirs.cases for p in (c.recording, c.voicemail) if p and under(root, Path(p))]
    done.files += len(remove_files(audio, root))
    for case in theirs.cases:
        _anonymise(case, own)
        session.add(CaseEvent(case_id=case.id, at=now, kind="erased", detail={"reason": "request"}))
    for request in theirs.requests:
        _anonymise(request, own)
        request.erased_at = now
        session.add(RequestEvent(request_id=request.id, at=now, actor=actor[:80], kind="erased", detail={}))
    done.cases, done.requests = len(theirs.cases), len(theirs.requests)
    sent = [f for f in theirs.files if f.purpose == "citizen"]
    folder = settings.request_files_path
    done.files += len(remove_files((folder / f.stored for f in sent), folder))
    await session.execute(delete(RequestFile).where(RequestFile.id.in_([f.id for f in sent])))
    for file in theirs.files:
        if file.purpose != "citizen":
            _scrubbed(file, own)


async def _delete_rows(
    settings: Settings, session: AsyncSession, person: Person, theirs: Theirs, done: Erasure
) -> None:
    """What is nothing but the person: the worklist, the queued callbacks (with the calls back's
    recordings) and the messages to and from them."""
    missed = list(await session.scalars(select(MissedCall.id).where(MissedCall.caller.in_(person.phones))))
    callbacks = list(
        await session.scalars(select(QueuedCallback).where(QueuedCallback.number.in_(person.phones)))
    )
    tried = select(MissedCallTry.recording).where(MissedCallTry.missed_call_id.in_(missed))
    audio = [*await session.scalars(tried), *(cb.recording for cb in callbacks)]
    done.callbacks = len(missed) + len(callbacks)
    recipients = person.phones | person.emails | {c.partition(":")[2] for c in person.chats}
    ids = theirs.request_ids
    for model, condition in (
        (MissedCall, MissedCall.id.in_(missed)),
        (QueuedCallback, QueuedCallback.id.in_([cb.id for cb in callbacks])),
        (OutboxMessage, or_(func.lower(OutboxMessage.to).in_(recipients), OutboxMessage.request_id.in_(ids))),
        (InboundMessage, InboundMessage.request_id.in_(ids)),
    ):
        result = await session.execute(delete(model).where(condition))
        if model in (OutboxMessage, InboundMessage):
            done.messages += rows_changed(result)
    root = settings.recordings_path
    done.files += len(remove_files((Path(p) for p in audio if p and under(root, Path(p))), root))


async def _scrub_history(
    session: AsyncSession, person: Person, theirs: Theirs, own: Scrubber, done: Erasure
) -> Scrubber:
    """Their own history loses every personal value; anyone's history, the dead letters and the audit
    log lose their identifiers and network addresses. The scrubber for the latter, for the logs."""
    case_events = await session.scalars(
        select(CaseEvent).where(CaseEvent.case_id.in_([c.id for c in theirs.cases]))
    )
    for event in [*theirs.events, *case_events]:
        done.events += _scrubbed(event, own)
    for entry in theirs.audited:
        done.audit += _scrubbed(entry, own)
    wanted = person.identifiers() | person.networks
    anywhere = Scrubber(wanted)
    scrubbed: tuple[tuple[type[Base], str], ...] = (
        (CaseEvent, "events"),
        (RequestEvent, "events"),
        (RequestContact, "events"),
        (AuditEntry, "audit"),
        (DeadLetter, "dead_letters"),
    )
    for table, counter in scrubbed:
        columns = [getattr(table, name) for name in personal.fields(table)]
        rows = await session.scalars(select(table).where(or_(*(_mentions(c, wanted) for c in columns))))
        for row in rows:
            setattr(done, counter, getattr(done, counter) + _scrubbed(row, anywhere))
    return anywhere


def _anonymise(row: Base, scrub: Scrubber) -> None:
    """Every field the declaration names for this row's table, cleared or scrubbed as its kind says."""
    for name, kind in personal.BY_MODEL[type(row)].fields.items():
        value = getattr(row, name)
        if kind in personal.IDENTIFIERS:
            setattr(row, name, ERASED if value and name in ("caller", "contact_phone") else "")
        elif kind in (Kind.NAME, Kind.ADDRESS, Kind.NOTES, Kind.AUDIO, Kind.FILE):
            setattr(row, name, "")
        elif kind is Kind.POSITION:
            setattr(row, name, None)
        elif kind is Kind.ACTOR:
            setattr(row, name, _actor(value, scrub))
        else:
            setattr(row, name, scrub(value))


def _actor(value: str, scrub: Scrubber) -> str:
    """A citizen's actor name without who they were: "citizen:erased", "citizen@erased"."""
    if value.startswith(("citizen:", "citizen@")) and scrub(value) != value:
        return value[:8] + ERASED
    return str(scrub(value))


def _scrubbed(row: Base, scrub: Scrubber) -> int:
    """Scrub the row's declared fields; 1 when anything changed."""
    scrub.changed = False
    for name, kind in personal.BY_MODEL[type(row)].fields.items():
        value = getattr(row, name)
        new = _actor(value, scrub) if kind is Kind.ACTOR else scrub(value)
        if new != value:
            setattr(row, name, new)
            scrub.changed = True
    return int(scrub.changed)


def _scrub_logs(folder: Path, scrub: Scrubber, include_live: bool) -> int:
    """Rewrite each of Asterisk's log files that mentions the person (atomically, keeping its mode)."""
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
        kept = []
        for line in data.split(b"\n"):
            text = line.decode("utf-8", "surrogateescape")
            scrubbed = scrub(text)
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
