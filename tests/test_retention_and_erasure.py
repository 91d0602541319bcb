"""Retention and erasure on real databases (SQLite and PostgreSQL) and real folders: what is older than
the site keeps goes, what is newer stays; one person's number leaves no trace in cases, timelines, the
audit log, recordings or Asterisk's logs."""

from __future__ import annotations

import asyncio
import gzip
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ami_bridge.calls import Call
from ami_bridge.case_writer import CaseWriter
from casework import workflow as wf
from channels import outbox
from hotline import privacy, retention
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import (
    ApiToken,
    AuditEntry,
    Case,
    CaseEvent,
    CitizenRequest,
    MissedCall,
    MissedCallTry,
    OutboxMessage,
    QueuedCallback,
    RequestAssignment,
    RequestFile,
    Role,
    User,
    WebSession,
)
from hotline.db.numbers import NumberAllocator
from hotline.settings import Settings
from shell.service import with_closed_call_hooks
from tests.conftest import TEST_SETTINGS

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam
PERSON = "0912345678"


@pytest.fixture
async def site(
    database: str, tmp_path: Path
) -> AsyncIterator[tuple[Settings, async_sessionmaker[AsyncSession]]]:
    log_dir = tmp_path / "asterisk-log"
    log_dir.mkdir()
    settings = site_settings.load(
        TEST_SETTINGS,
        overrides={
            "database.url": database,
            "state_dir": str(tmp_path / "state"),
            "recordings.dir": str(tmp_path / "recordings"),
            "ami.queue_log": str(log_dir / "queue_log"),
        },
    )
    await upgrade_async(database)
    engine = make_engine(database)
    try:
        yield settings, sessions(engine)
    finally:
        await engine.dispose()


async def answered_call(
    settings: Settings, db: async_sessionmaker[AsyncSession], linkedid: str, started: datetime, caller: str
) -> Path:
    """An answered call's case, with its recording and voice message filed in the day folder."""
    day = started.astimezone(ZoneInfo(settings.site.timezone)).strftime("%Y/%m/%d")
    folder = settings.recordings_path / day
    folder.mkdir(parents=True, exist_ok=True)
    recording, message = folder / f"{linkedid}.wav", folder / f"{linkedid}-message.wav"
    for path in (recording, message):
        path.write_bytes(b"RIFF audio")
    call = Call(
        linkedid=linkedid, started_at=started, caller=caller, caller_name="Nguyễn Thị Dân", did="1022"
    )
    call.queue, call.queued_at, call.answered_at = "health", started, started + timedelta(seconds=5)
    call.agent, call.recording, call.voicemail = "101", str(recording), str(message)
    call.mark("entered", at=started, did="1022", caller=caller)
    call.finish(started + timedelta(seconds=60), "16 Normal Clearing")
    await with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), settle_seconds=0)).write([call])
    async with db() as session, session.begin():
        case = await session.scalar(select(Case).where(Case.linkedid == linkedid))
        assert case is not None
        case.recording, case.voicemail, case.notes = str(recording), str(message), f"gọi lại {caller}"
    return recording


async def called_back(
    settings: Settings, db: async_sessionmaker[AsyncSession], number: str, at: datetime, closed: bool = True
) -> tuple[Path, Path]:
    """A worklist entry with an agent's try, and a queued callback, both for `number` and recorded."""
    day = at.astimezone(ZoneInfo(settings.site.timezone)).strftime("%Y/%m/%d")
    folder = settings.recordings_path / day
    folder.mkdir(parents=True, exist_ok=True)
    tried, callback = folder / f"worklist-{number}.wav", folder / f"qcb-{number}.wav"
    for path in (tried, callback):
        path.write_bytes(b"RIFF audio")
    async with db() as session, session.begin():
        entry = MissedCall(
            caller=number,
            status="reached" if closed else "open",
            calls=1,
            topic="health",
            outcome="abandoned_queue",
            first_at=at,
            last_at=at,
            closed_at=at if closed else None,
        )
        session.add(entry)
        await session.flush()
        session.add(MissedCallTry(missed_call_id=entry.id, at=at, by="an", phone="101", recording=str(tried)))
        session.add(
            QueuedCallback(
                linkedid=f"cb-{number}",
                queue="health",
                number=number,
                joined_at=at,
                asked_at=at,
                expires_at=at + timedelta(hours=1),
                next_at=at,
                status="reached" if closed else "waiting",
                recording=str(callback),
                closed_at=at if closed else None,
            )
        )
    return tried, callback


async def citizens_request(
    settings: Settings,
    db: async_sessionmaker[AsyncSession],
    phone: str,
    words: str,
    closed_days_ago: float | None = None,
) -> Path:
    """A request from `phone` with a photo the citizen sent; answered by the health department and closed
    that many days ago, or open."""
    center = wf.Actor("giamsat", Role.SUPERVISOR)
    folder = settings.request_files_path
    folder.mkdir(parents=True, exist_ok=True)
    stored = f"{phone[-4:]}-{len(list(folder.iterdir()))}.jpg"
    (folder / stored).write_bytes(b"JPEG")
    async with db() as session, session.begin():
        count = len(list(await session.scalars(select(CitizenRequest.id))))
        request = wf.open_request(
            f"2000{count:04d}", center, NOW, topic="welfare", words=words, channel="web", contact_phone=phone
        )
        request.files.append(
            RequestFile(
                purpose="citizen",
                name="anh.jpg",
                content_type="image/jpeg",
                size=4,
                stored=stored,
                uploaded_by="web",
                at=NOW,
            )
        )
        if closed_days_ago is not None:
            then = NOW - timedelta(days=closed_days_ago)
            health = wf.Actor("soyte", Role.AGENCY, agency="so_y_te")
            wf.forward(settings, request, center, "so_y_te", then)
            wf.accept(request, health, then)
            wf.answer(request, health, then, "Đã hỗ trợ")
            wf.approve(request, center, then)
        session.add(request)
    return folder / stored


def rotated_log(folder: Path, name: str, age_days: float, lines: list[str]) -> Path:
    path = folder / name
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    stamp = NOW.timestamp() - age_days * 86400  # aged against the test's clock, not the machine's
    os.utime(path, (stamp, stamp))
    return path


async def test_retention_deletes_what_is_older_than_each_kind_is_kept_and_nothing_newer(
    site: tuple[Settings, async_sessionmaker[AsyncSession]],
) -> None:
    settings, db = site
    keep = settings.retention
    ancient = await answered_call(settings, db, "1.old", NOW - timedelta(days=keep.cases + 3), "0900000001")
    yearly = await answered_call(
        settings, db, "2.year", NOW - timedelta(days=keep.recordings + 3), "0900000002"
    )
    recent = await answered_call(settings, db, "3.new", NOW - timedelta(days=2), "0900000003")
    old_request = await citizens_request(settings, db, "0900000004", "cũ", closed_days_ago=keep.requests + 1)
    async with db() as session, session.begin():  # the answer it was told by SMS goes with it
        told = await session.scalar(
            select(CitizenRequest).where(CitizenRequest.contact_phone == "0900000004")
        )
        assert told is not None
        session.add(outbox.queue(told, "answer", "sms", "0900000004", "", "Đã hỗ trợ", NOW))
    open_request = await citizens_request(settings, db, "0900000005", "vẫn mở")
    logs = settings.asterisk_log_path
    old_log = rotated_log(
        logs, "queue_log.1700000000", keep.asterisk_logs + 1, ["1|x|NONE|NONE|HOTLINE_END|a"]
    )
    new_log = rotated_log(logs, "queue_log.1790000000", 1, ["2|x|NONE|NONE|HOTLINE_END|b"])
    live = rotated_log(logs, "queue_log", keep.asterisk_logs + 5, ["3|x|NONE|NONE|ENTERQUEUE|c"])
    async with db() as session, session.begin():
        user = User(username="u", password_hash="x", role="agent", created_at=NOW)
        session.add(user)
        await session.flush()
        session.add_all(
            [
                WebSession(
                    token_hash="a" * 64,
                    user_id=user.id,
                    csrf="c",
                    created_at=NOW,
                    expires_at=NOW - timedelta(days=keep.sessions + 1),
                ),
                WebSession(
                    token_hash="b" * 64,
                    user_id=user.id,
                    csrf="c",
                    created_at=NOW,
                    expires_at=NOW + timedelta(hours=1),
                ),
                ApiToken(
                    name="gone",
                    token_hash="c" * 64,
                    role="agent",
                    created_at=NOW,
                    revoked_at=NOW - timedelta(days=keep.sessions + 1),
                ),
                ApiToken(
                    name="kept",
                    token_hash="d" * 64,
                    role="agent",
                    created_at=NOW,
                    expires_at=NOW + timedelta(days=9),
                ),
                AuditEntry(
                    at=NOW - timedelta(days=keep.audit + 1), actor="x", action="case.view", target="1"
                ),
                AuditEntry(
                    at=NOW - timedelta(days=keep.audit - 1), actor="x", action="case.view", target="2"
                ),
            ]
        )

    long_ago = await called_back(settings, db, "0900000006", NOW - timedelta(days=keep.cases + 3))
    last_year = await called_back(settings, db, "0900000007", NOW - timedelta(days=keep.recordings + 3))
    lately = await called_back(settings, db, "0900000008", NOW - timedelta(days=2), closed=False)
    dry = await retention.apply(settings, db, now=NOW, dry_run=True, actor="test")
    assert (dry.cases, dry.recordings, dry.voice_messages, dry.log_files, dry.callbacks) == (1, 6, 2, 1, 2)
    assert ancient.exists() and old_log.exists()

    done = await retention.apply(settings, db, now=NOW, actor="test")
    assert done.counts() == dry.counts() | {"events": done.events}
    assert (done.cases, done.requests, done.audit, done.sessions, done.tokens) == (1, 1, 1, 1, 1)
    assert not old_request.exists() and open_request.exists()
    assert not ancient.exists() and not ancient.parent.exists()  # the emptied day folder goes too
    assert not yearly.exists() and not yearly.with_name("2.year-message.wav").exists()
    assert recent.exists() and recent.with_name("3.new-message.wav").exists()
    assert not old_log.exists() and new_log.exists() and live.exists()  # a live log is never removed
    async with db() as session:
        kept = {c.linkedid: c for c in await session.scalars(select(Case))}
        assert set(kept) == {"2.year", "3.new"}
        # The case outlives its audio, and says so; the newer one keeps both.
        assert (kept["2.year"].recording, kept["2.year"].voicemail) == ("", "")
        kinds = list(
            await session.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == kept["2.year"].id))
        )
        assert {"recording_deleted", "voice_message_deleted"} <= set(kinds)
        # The year-old case's timeline is older than timelines are kept: only the deletion notes remain.
        assert "entered" not in kinds
        assert kept["3.new"].recording == str(recent)
        assert list(await session.scalars(select(WebSession.token_hash))) == ["b" * 64]
        assert list(await session.scalars(select(ApiToken.name))) == ["kept"]
        assert list(await session.scalars(select(OutboxMessage))) == []
        # The request is gone with the citizen's data; its forwarding stays for the agencies' figures.
        (forwarding,) = list(await session.scalars(select(RequestAssignment)))
        assert (forwarding.request_id, forwarding.agency, forwarding.end) == (None, "so_y_te", "approved")
        runs = list(await session.scalars(select(AuditEntry).where(AuditEntry.action.like("retention.%"))))
    assert [r.action for r in runs] == ["retention.dry_run", "retention.apply"]
    assert runs[1].detail["deleted"]["cases"] == 1 and runs[1].actor == "test"
    # The worklist and the callbacks: closed ones older than cases are kept go; the year-old ones lose
    # their recordings (gone with their day folder) and stay; the recent ones keep everything.
    assert not any(p.exists() for p in (*long_ago, *last_year)) and all(p.exists() for p in lately)
    async with db() as session:
        entries = {m.caller: m.id for m in await session.scalars(select(MissedCall))}
        assert set(entries) == {"0900000007", "0900000008"}
        tries = {t.missed_call_id: t.recording for t in await session.scalars(select(MissedCallTry))}
        assert tries == {entries["0900000007"]: "", entries["0900000008"]: str(lately[0])}
        callbacks = {c.number: c.recording for c in await session.scalars(select(QueuedCallback))}
        assert callbacks == {"0900000007": "", "0900000008": str(lately[1])}


async def test_erasure_leaves_no_trace_of_the_number_in_cases_timelines_audit_recordings_or_logs(
    site: tuple[Settings, async_sessionmaker[AsyncSession]],
) -> None:
    settings, db = site
    theirs = await answered_call(settings, db, "9.1", NOW - timedelta(days=3), PERSON)
    again = await answered_call(
        settings, db, "9.2", NOW - timedelta(days=1), "+84912345678"
    )  # the same person
    other = await answered_call(settings, db, "9.3", NOW - timedelta(days=1), "0987654321")
    async with db() as session, session.begin():
        session.add(
            AuditEntry(
                at=NOW, actor="sup", action="case.search", target="", detail={"filters": {"number": PERSON}}
            )
        )
    photo = await citizens_request(settings, db, PERSON, f"Gọi lại cho tôi số {PERSON}")
    async with db() as session, session.begin():  # an SMS to them, waiting in the outbox
        request = await session.scalar(select(CitizenRequest).where(CitizenRequest.contact_phone == PERSON))
        assert request is not None
        session.add(outbox.queue(request, "answer", "sms", PERSON, "", "Đã xử lý", NOW))
    person_calls_back = await called_back(settings, db, PERSON, NOW - timedelta(days=1), closed=False)
    other_calls_back = await called_back(settings, db, "0987654321", NOW - timedelta(days=1), closed=False)
    logs = settings.asterisk_log_path
    rotated = rotated_log(
        logs,
        "queue_log.1790000000",
        1,
        [f"1|9.1|NONE|NONE|HOTLINE_END|1|x|{PERSON}|", "2|9.3|NONE|NONE|HOTLINE_END|1|x|0987654321|"],
    )
    packed = rotated_log(logs, "messages.log.1.gz", 2, ["caller %2B84912345678 hung up"])
    live = rotated_log(logs, "queue_log", 0, [f"3|9.2|NONE|NONE|HOTLINE_END|1|x|{PERSON}|"])

    done = await privacy.erase(
        settings, db, "+84 912345678".replace(" ", ""), actor="test", include_live_logs=False
    )
    assert (done.cases, done.requests, done.files, done.messages, done.callbacks) == (2, 1, 7, 1, 2)
    assert not any(p.exists() for p in person_calls_back) and all(p.exists() for p in other_calls_back)
    assert not photo.exists()
    assert not theirs.exists() and not again.exists() and other.exists()
    # No form of the number anywhere in the database: every text column of every table, read as text.
    async with db() as session:
        tables = (
            "cases",
            "case_events",
            "audit_log",
            "dead_letters",
            "requests",
            "request_events",
            "outbox",
            "missed_calls",
            "missed_call_tries",
            "queued_callbacks",
        )
        for table in tables:
            rows = (await session.execute(text(f"SELECT * FROM {table}"))).all()
            dump = "\n".join(str(tuple(row)) for row in rows)
            for form in ("912345678", "%2B849"):
                assert form not in dump, (table, form)
        erased = list(await session.scalars(select(Case).where(Case.linkedid.in_(["9.1", "9.2"]))))
        assert {(c.caller, c.caller_name, c.notes, c.recording) for c in erased} == {("erased", "", "", "")}
        assert (await session.scalar(select(Case.caller).where(Case.linkedid == "9.3"))) == "0987654321"
        (entry,) = await session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.erase"))
        assert entry.target == "0912***678" and entry.detail["cases"] == 2
    assert "912345678" not in rotated.read_text() and "0987654321" in rotated.read_text()
    assert "912345678" not in gzip.decompress(packed.read_bytes()).decode()
    # The live queue_log is Asterisk's while it runs: left for the rotation the command asks for first.
    assert PERSON in live.read_text()
    await privacy.erase(settings, db, PERSON, actor="test", include_live_logs=True)
    assert PERSON not in live.read_text()


def test_a_value_that_is_no_identifier_is_refused() -> None:
    settings = site_settings.load(TEST_SETTINGS)
    for value in (
        "",
        "12",
        "anonymous",
        "zalo:",
        "zalo:a b",
        "facebook:%",
        "a@b",
        "hoa @example.vn",
        "x@y@z.vn",
    ):
        with pytest.raises(ValueError):
            asyncio.run(privacy.erase(settings, None, value, actor="t", include_live_logs=False))  # type: ignore[arg-type]
