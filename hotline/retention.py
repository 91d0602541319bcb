"""Retention: each kind of personal data is deleted once it is older than the site keeps it ([retention] in
the settings; Decree 13/2023 asks for no longer than the purpose needs). Recordings and voice messages go
by the day folder they were filed in (recordings/YYYY/MM/DD/, the site's days); a case whose audio is
deleted says so on its timeline. Cases, timelines, the audit log, ended sessions and tokens go by their
own times; Asterisk's rotated logs (queue_log among them) by their files' age. Every run is audited."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline import personal
from hotline.db.models import (
    ApiToken,
    AuditEntry,
    Base,
    Case,
    CaseEvent,
    CitizenRequest,
    DeadLetter,
    InboundMessage,
    MissedCall,
    MissedCallTry,
    MissedStatus,
    OutboxMessage,
    QueuedCallback,
    RequestContact,
    RequestEvent,
    RequestFile,
    RequestStatus,
    WebSession,
    rows_changed,
)
from hotline.settings import Settings

# The tables hotline/personal.py declares, children before the rows they belong to.
_PARENTS_FIRST = [t.name for t in Base.metadata.sorted_tables]
DELETION_ORDER = [
    t.model for t in sorted(personal.TABLES, key=lambda t: -_PARENTS_FIRST.index(t.model.__tablename__))
]

log = logging.getLogger(__name__)

VOICE_MESSAGE_SUFFIX = "-message.wav"  # the dialplan's name for a voice message beside the recording
# Asterisk's log files once rotated (sequential .0, .1 or timestamp suffixes, Debian's logrotate .1.gz):
# the live files themselves are never touched.
ROTATED_LOG = re.compile(r"^(queue_log|messages|full|security|console|notice|debug)(\.log)?[.\-_].+$")
CHUNK = 500  # paths per UPDATE: SQLite allows few bound parameters per statement


@dataclass
class Report:
    requests: int = 0
    recordings: int = 0
    voice_messages: int = 0
    cases: int = 0
    events: int = 0
    audit: int = 0
    sessions: int = 0
    tokens: int = 0
    dead_letters: int = 0
    log_files: int = 0
    messages: int = 0  # to and from citizens (the outbox, the messages taken from the channels)
    callbacks: int = 0  # closed entries of the worklist and queued callbacks, kept as long as cases
    deleted_files: list[Path] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "deleted_files"}


def _folder_day(folder: Path) -> date | None:
    try:
        return date(int(folder.parent.parent.name), int(folder.parent.name), int(folder.name))
    except ValueError:
        return None


def expired_audio(
    root: Path, today: date, recordings_days: int, messages_days: int
) -> tuple[list[Path], list[Path]]:
    """Recordings and voice messages filed on a day older than their retention."""
    recordings: list[Path] = []
    messages: list[Path] = []
    for folder in sorted(root.glob("[0-9][0-9][0-9][0-9]/[0-9][0-9]/[0-9][0-9]")):
        day = _folder_day(folder)
        if day is None:
            continue  # not a day folder: leave it alone
        for file in sorted(p for p in folder.iterdir() if p.is_file()):
            if file.name.endswith(VOICE_MESSAGE_SUFFIX):
                if day < today - timedelta(days=messages_days):
                    messages.append(file)
            elif day < today - timedelta(days=recordings_days):
                recordings.append(file)
    return recordings, messages


def under(root: Path, path: Path) -> bool:
    """Whether `path` is inside `root`: a path read from the database is never trusted to be."""
    return path.resolve().is_relative_to(root.resolve())


def remove_files(files: Iterable[Path], root: Path) -> list[Path]:
    """Delete the files, then the day, month and year folders they leave empty inside `root` (never `root`
    itself: the app, Asterisk or logrotate writes into it next)."""
    removed = []
    top = root.resolve()
    for file in files:
        try:
            file.unlink()
        except FileNotFoundError:
            continue
        removed.append(file)
        for folder in (file.parent, file.parent.parent, file.parent.parent.parent):
            if folder.resolve() == top or not folder.resolve().is_relative_to(top):
                break
            try:
                folder.rmdir()  # only when empty
            except OSError:
                break
    return removed


async def forget_audio(
    session: AsyncSession, column: str, paths: list[Path], event: str, reason: str, at: datetime
) -> None:
    """The cases that pointed at these files no longer do, and their timelines say why."""
    attribute = getattr(Case, column)
    for start in range(0, len(paths), CHUNK):
        names = [str(p) for p in paths[start : start + CHUNK]]
        ids = list(await session.scalars(select(Case.id).where(attribute.in_(names))))
        if not ids:
            continue
        await session.execute(update(Case).where(Case.id.in_(ids)).values({column: ""}))
        session.add_all(CaseEvent(case_id=i, at=at, kind=event, detail={"reason": reason}) for i in ids)


async def apply(
    settings: Settings,
    db: async_sessionmaker[AsyncSession],
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    actor: str = "system:retention",
) -> Report:
    """Delete what the site keeps no longer; with `dry_run`, only count it. Audited either way."""
    keep = settings.retention
    now = now or datetime.now(UTC)
    today = now.astimezone(ZoneInfo(settings.site.timezone)).date()
    report = Report()
    recordings, messages = expired_audio(
        settings.recordings_path, today, keep.recordings, keep.voice_messages
    )
    logs = {folder: expired_logs(folder, now, keep.asterisk_logs) for folder in settings.asterisk_log_paths}

    def cutoff(model: type[Base]) -> datetime:
        """Before this, the rows of a table of personal data are kept no longer."""
        return now - timedelta(days=getattr(keep, personal.BY_MODEL[model].kept))

    async with db() as session, session.begin():
        old_cases = select(Case.id).where(Case.started_at < cutoff(Case), Case.ended_at.is_not(None))
        # A case kept no longer takes its audio along, whatever the audio's own retention.
        for path, voice in (
            await session.execute(select(Case.recording, Case.voicemail).where(Case.id.in_(old_cases)))
        ).all():
            recordings += [Path(path)] if path else []
            messages += [Path(voice)] if voice else []
        recordings = sorted({p for p in recordings if under(settings.recordings_path, p) and p.exists()})
        messages = sorted({p for p in messages if under(settings.recordings_path, p) and p.exists()})
        if dry_run:
            report.recordings, report.voice_messages, report.log_files = (
                len(recordings),
                len(messages),
                sum(len(files) for files in logs.values()),
            )
        else:
            removed = remove_files(recordings, settings.recordings_path)
            removed_messages = remove_files(messages, settings.recordings_path)
            report.recordings, report.voice_messages = len(removed), len(removed_messages)
            report.log_files = sum(len(remove_files(files, folder)) for folder, files in logs.items())
            report.deleted_files = [*removed, *removed_messages]
            await forget_audio(session, "recording", removed, "recording_deleted", "retention", now)
            await forget_audio(
                session, "voicemail", removed_messages, "voice_message_deleted", "retention", now
            )
            # The calls back's recordings went by their day folder like any other: their rows let go of them.
            names = [str(p) for p in removed]
            for start in range(0, len(names), CHUNK):
                chunk = names[start : start + CHUNK]
                for model in (MissedCallTry, QueuedCallback):
                    await session.execute(
                        update(model).where(model.recording.in_(chunk)).values(recording="")
                    )
        old_requests = select(CitizenRequest.id).where(
            CitizenRequest.closed_at < cutoff(CitizenRequest),
            CitizenRequest.status.in_([RequestStatus.CLOSED.value, RequestStatus.REJECTED.value]),
        )
        stored = list(
            await session.scalars(select(RequestFile.stored).where(RequestFile.request_id.in_(old_requests)))
        )
        folder = settings.request_files_path
        if not dry_run:
            report.deleted_files += remove_files((folder / name for name in stored), folder)
        old_missed = select(MissedCall.id).where(
            MissedCall.status != MissedStatus.OPEN.value, MissedCall.closed_at < cutoff(MissedCall)
        )
        # Each table of personal data (hotline/personal.py) by its own rule, after the days its declared
        # setting keeps it; a row goes with the row it belongs to. Children first.
        rules: dict[type[Base], tuple[str, ColumnElement[bool]]] = {
            Case: ("cases", Case.id.in_(old_cases)),
            CaseEvent: (
                "events",
                or_(CaseEvent.case_id.in_(old_cases), CaseEvent.at < cutoff(CaseEvent)),
            ),
            DeadLetter: ("dead_letters", DeadLetter.last_failed_at < cutoff(DeadLetter)),
            AuditEntry: ("audit", AuditEntry.at < cutoff(AuditEntry)),
            CitizenRequest: ("requests", CitizenRequest.id.in_(old_requests)),
            RequestEvent: ("events", RequestEvent.request_id.in_(old_requests)),
            RequestContact: ("", RequestContact.request_id.in_(old_requests)),
            RequestFile: ("", RequestFile.request_id.in_(old_requests)),
            # A request's messages carry the citizen's address and the answer: they go with it.
            OutboxMessage: ("messages", OutboxMessage.request_id.in_(old_requests)),
            InboundMessage: ("messages", InboundMessage.request_id.in_(old_requests)),
            MissedCall: ("callbacks", MissedCall.id.in_(old_missed)),
            MissedCallTry: ("", MissedCallTry.missed_call_id.in_(old_missed)),
            QueuedCallback: ("callbacks", QueuedCallback.closed_at < cutoff(QueuedCallback)),
        }
        ended = now - timedelta(days=keep.sessions)
        deletions = [rules[model] + (model,) for model in DELETION_ORDER]
        deletions += [
            ("sessions", WebSession.expires_at < ended, WebSession),
            ("tokens", or_(ApiToken.revoked_at < ended, ApiToken.expires_at < ended), ApiToken),
        ]
        for name, condition, table in deletions:
            if dry_run:
                found = await session.scalar(select(func.count()).select_from(table).where(condition))
            else:
                found = rows_changed(await session.execute(delete(table).where(condition)))
            if name:
                setattr(report, name, getattr(report, name) + int(found or 0))
        session.add(
            AuditEntry(
                at=now,
                actor=actor[:80],
                action="retention.dry_run" if dry_run else "retention.apply",
                target="",
                detail={"deleted": report.counts(), "kept_days": keep.model_dump(exclude={"run_at"})},
            )
        )
    log.info("retention%s: %s", " (dry run)" if dry_run else "", report.counts())
    return report


def expired_logs(folder: Path, now: datetime, days: int) -> list[Path]:
    """Asterisk's rotated log files last written before the retention began."""
    cutoff = (now - timedelta(days=days)).timestamp()
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and ROTATED_LOG.match(p.name) and p.stat().st_mtime < cutoff
    )
