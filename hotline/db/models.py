"""Tables. A case is the record of one call, keyed by Asterisk's linkedid; the AMI bridge is its only
writer. Case numbers come from a shared counter in blocks (the IVR reads a number to the caller before the
case exists and leaves it on the channel as HOTLINE_CASE_NO), so the bridge stays the single writer of
cases and no number is ever given twice."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    literal_column,
    text,
)
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement, TextClause
from sqlalchemy.types import TypeDecorator

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit key.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Times are stored and returned in UTC, timezone-aware, on every database (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: give times with a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Outcome(StrEnum):
    ANSWERED = "answered"
    ABANDONED_IVR = "abandoned_ivr"
    ABANDONED_QUEUE = "abandoned_queue"
    VOICEMAIL = "voicemail"
    AFTER_HOURS = "after_hours"
    OVERFLOW = "overflow"
    ENDED_IN_IVR = "ended_in_ivr"
    REJECTED = "rejected"
    CALLBACK = "callback"  # left the queue asking to be called back at their place (queued_callbacks)


class Status(StrEnum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"


class CaseNumberCounter(Base):
    """One row: the next free case sequence. Processes take blocks of it with one atomic UPDATE."""

    __tablename__ = "case_number_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    next_value: Mapped[int] = mapped_column(BigInteger)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    linkedid: Mapped[str] = mapped_column(String(64), unique=True)
    caller: Mapped[str] = mapped_column(String(64), default="")
    caller_name: Mapped[str] = mapped_column(String(128), default="")
    did: Mapped[str] = mapped_column(String(32), default="")
    started_at: Mapped[datetime]
    ivr_ended_at: Mapped[datetime | None]
    queued_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ivr_path: Mapped[str] = mapped_column(String(64), default="")
    # The menu the caller was in when they left the IVR (chose, hung up, or failed): where callers give up.
    ivr_node: Mapped[str] = mapped_column(String(64), default="")
    ivr_result: Mapped[str] = mapped_column(String(32), default="")
    # Each node the caller entered, when, and the silences and wrong keys there (hotline.menu_steps).
    ivr_steps: Mapped[str] = mapped_column(String(1024), default="")
    topic: Mapped[str] = mapped_column(String(64), default="")
    # A call back the center handed to an agent: the request it is about (the call is one of its contacts).
    request_number: Mapped[str] = mapped_column(String(16), default="")
    # The caller's keypad rating of the call, "1" to "5" ("": none given), as HOTLINE_RATING carried it.
    rating: Mapped[str] = mapped_column(String(2), default="", server_default="")
    queue: Mapped[str] = mapped_column(String(64), default="")
    wait_seconds: Mapped[float | None]
    talk_seconds: Mapped[float | None]
    agent: Mapped[str] = mapped_column(String(32), default="")
    agent_name: Mapped[str] = mapped_column(String(128), default="")
    recording: Mapped[str] = mapped_column(String(512), default="")
    recording_seconds: Mapped[float | None]
    voicemail: Mapped[str] = mapped_column(String(512), default="")
    outcome: Mapped[str] = mapped_column(String(32), default="")
    hangup_cause: Mapped[str] = mapped_column(String(64), default="")
    # Filled in by the agent.
    category: Mapped[str] = mapped_column(String(64), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default=Status.NEW.value)
    follow_up: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]

    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.at", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("ix_cases_started_at", "started_at"),
        Index("ix_cases_caller", "caller"),
        Index("ix_cases_agent", "agent"),
    )


class CaseEvent(Base):
    """The call's timeline: what happened when (entered the IVR, joined a queue, an agent rang, ...)."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(48))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    case: Mapped[Case] = relationship(back_populates="events")


class DeadLetter(Base):
    """A record the database refused for a reason a retry will not cure (a value it rejects): kept whole
    here, with the reason, so that the rest of its batch is written, an admin sees it, and it is written
    once the cause is fixed. One row per record (a later failure of the same call updates it)."""

    __tablename__ = "dead_letters"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_dead_letters_kind_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # "case"
    key: Mapped[str] = mapped_column(String(64))  # the call's linkedid
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[dict[str, Any]] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_failed_at: Mapped[datetime]
    last_failed_at: Mapped[datetime]


class Role(StrEnum):
    """Each role of the center can do what the ones below it can. An agency's user is below them all:
    they see their agency's requests and nothing of the center's (calls, recordings, wallboard)."""

    AGENCY = "agency"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class User(Base):
    """Someone who signs in to the web app. An agent's `extension` ties them to their phone and queues; a
    supervisor's is the phone that listen-in calls ring."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    extension: Mapped[str] = mapped_column(String(8), default="")
    agency: Mapped[str] = mapped_column(String(32), default="")  # an agency user's agency, by name
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    # Wrong passwords since the last right one; at LOCK_AFTER the account is locked until an admin unlocks it.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[datetime | None]
    # The second factor: a TOTP secret (empty: none) and the last time step used, so no code works twice.
    totp_secret: Mapped[str] = mapped_column(String(64), default="")
    totp_last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    # A supervisor's PIN (argon2) for the emergency switches from their phone (*1022): the phone says who,
    # the PIN that it is them.
    phone_pin_hash: Mapped[str] = mapped_column(String(255), default="")


class WebSession(Base):
    """A signed-in browser. Only a hash of the cookie's token is stored: a copy of the database does not
    sign anyone in."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token for integrations (e.g. the province's web portal), with a role of its own."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # None: never (only when asked for explicitly)
    revoked_at: Mapped[datetime | None]


class AuditEntry(Base):
    """Who did what through the web app: supervisor actions, case changes, every recording played."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(48))
    target: Mapped[str] = mapped_column(String(128), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RequestStatus(StrEnum):
    """Where a citizen's request is: with the center (received), with an agency (forwarded, accepted),
    answered and waiting for the center's approval, or ended (closed, rejected)."""

    RECEIVED = "received"
    FORWARDED = "forwarded"
    ACCEPTED = "accepted"
    ANSWERED = "answered"
    CLOSED = "closed"
    REJECTED = "rejected"
    MERGED = "merged"  # one problem, one request: it joined the request named in merged_into


# Not ended: with the center, with an agency, or answered and waiting for the center's approval.
_S = RequestStatus
OPEN_STATUSES = (_S.RECEIVED, _S.FORWARDED, _S.ACCEPTED, _S.ANSWERED)
# As SQL, with the values written out: the partial index on the open requests is declared with it, and a
# query that says it the same way is one PostgreSQL and SQLite both see the index serves (a parameter, or
# the values in another order, would hide that from them).
OPEN_SQL = "status IN (" + ", ".join(f"'{s.value}'" for s in OPEN_STATUSES) + ")"


def open_only() -> TextClause:
    return text(f"requests.{OPEN_SQL}")


class AnswerOutcome(StrEnum):
    """What the agency's answer says of the problem."""

    FIXED = "fixed"
    NOT_FIXABLE = "not_fixable"  # it cannot be done (the answer says why): closed without being fixed


class Priority(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"


class CitizenRequest(Base):
    """What a citizen asks (a report, a suggestion, a request for support, a question): the unit the
    center tracks to an answer, under the number the IVR read to the caller. Calls and messages about it
    are its contacts; each call keeps its own case."""

    __tablename__ = "requests"
    __table_args__ = (
        Index("ix_requests_status_agency", "status", "agency"),
        Index("ix_requests_contact_phone", "contact_phone"),
        Index("ix_requests_contact_chat", "contact_chat"),
        Index("ix_requests_answer_due_at", "answer_due_at"),
        # An agency's list: its open requests, what is due soonest (the overdue ones) first.
        Index("ix_requests_agency_due_at", "agency", "due_at"),
        # The requests a period received (the figures, Open311's date filters).
        Index("ix_requests_created_at_status", "created_at", "status"),
        Index("ix_requests_ward_code_created_at", "ward_code", "created_at"),
        Index("ix_requests_channel_created_at", "channel", "created_at"),
        # The center's list: the open requests (a few thousand of a province's millions), what is due
        # soonest first, which also finds the overdue and those due soon.
        Index(
            "ix_requests_open_due_at",
            "due_at",
            "created_at",
            postgresql_where=text(OPEN_SQL),
            sqlite_where=text(OPEN_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.RECEIVED.value)
    topic: Mapped[str] = mapped_column(String(64), default="")
    priority: Mapped[str] = mapped_column(String(8), default=Priority.NORMAL.value)
    words: Mapped[str] = mapped_column(Text, default="")  # the citizen's words, or the agent's summary
    contact_phone: Mapped[str] = mapped_column(String(32), default="")
    contact_name: Mapped[str] = mapped_column(String(128), default="")
    contact_email: Mapped[str] = mapped_column(String(254), default="")
    # The citizen on a chat platform, as "zalo:<user id>" or "facebook:<page-scoped id>".
    contact_chat: Mapped[str] = mapped_column(String(128), default="")
    # How the citizen wants to be told of the answer: phone, sms, email, zalo, facebook ("": as they came).
    notify_by: Mapped[str] = mapped_column(String(16), default="")
    # The citizen asked to stay anonymous to the agency (a whistle-blower): the center sees their contact and
    # tells them the answer; the agency sees no one.
    anonymous: Mapped[bool] = mapped_column(default=False, server_default=false())
    # How it came in: call, center, web, email, sms, zalo, facebook, open311 (its first contact's channel).
    channel: Mapped[str] = mapped_column(String(16), default="", server_default="")
    address: Mapped[str] = mapped_column(String(255), default="")
    # The place as the citizen or the agent said it ("Phường Điện Biên, TP Thanh Hóa"), kept as said.
    district: Mapped[str] = mapped_column(String(128), default="")
    # The ward of the 2025 map it is in (hotline/places), by code; "" when none could be told, and how it
    # was found: said, old_name, position, words, picked ("" not yet looked for; none: looked, not found).
    ward_code: Mapped[str] = mapped_column(String(8), default="", server_default="")
    ward_basis: Mapped[str] = mapped_column(String(16), default="", server_default="")
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    agency: Mapped[str] = mapped_column(String(32), default="")  # the agency it is with, by name
    instructions: Mapped[str] = mapped_column(Text, default="")  # the center's, to the agency
    answer: Mapped[str] = mapped_column(Text, default="")
    remark: Mapped[str] = mapped_column(Text, default="")  # the center's, when it sends an answer back
    reason: Mapped[str] = mapped_column(Text, default="")  # why it was rejected (the citizen reads it)
    outcome: Mapped[str] = mapped_column(String(16), default="", server_default="")  # AnswerOutcome
    # The last agency that returned it as not theirs (the citizen reads who, and where it went next).
    returned_by: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # The request it was merged into (status merged): its citizen is told that one's answer.
    merged_into: Mapped[str] = mapped_column(String(16), default="", server_default="", index=True)
    created_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(80), default="")
    forwarded_at: Mapped[datetime | None]
    accept_due_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    answer_due_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]  # when supervisors were told it is overdue
    # One extension per forwarding: asked by the agency, granted or refused by a supervisor.
    extension_hours: Mapped[float | None]
    extension_reason: Mapped[str] = mapped_column(Text, default="")
    extension_decision: Mapped[str] = mapped_column(String(8), default="")  # "", asked, granted, refused
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    # What is due from the agency now (the acceptance, then the answer); None when nothing is.
    due_at: Mapped[datetime | None]
    rating: Mapped[int | None]  # the citizen's, 1 to 5, of the answer they were given
    rated_at: Mapped[datetime | None]
    # The center may publish an answer, under a question it words without personal data, as a text of its
    # own: the agency's answer may name people, places and numbers.
    public: Mapped[bool] = mapped_column(default=False)
    public_question: Mapped[str] = mapped_column(Text, default="")
    public_answer: Mapped[str] = mapped_column(Text, default="")
    # The citizen was erased (hotline privacy erase): the matter stays counted, its links open nothing.
    erased_at: Mapped[datetime | None]

    events: Mapped[list[RequestEvent]] = relationship(
        back_populates="request", order_by="RequestEvent.id", cascade="all, delete-orphan"
    )
    contacts: Mapped[list[RequestContact]] = relationship(
        back_populates="request", order_by="RequestContact.at", cascade="all, delete-orphan"
    )
    files: Mapped[list[RequestFile]] = relationship(
        back_populates="request", order_by="RequestFile.id", cascade="all, delete-orphan"
    )
    # Not deleted with the request: the figures outlive the citizen's data (the database sets request_id
    # to NULL when retention deletes the request).
    assignments: Mapped[list[RequestAssignment]] = relationship(
        back_populates="request", order_by="RequestAssignment.id", passive_deletes=True
    )


# A search by words looks in the citizen's words, name, address and place as one text, so that on PostgreSQL
# one trigram index (pg_trgm, migration 0027) serves it whatever the words. That index is optional: where the
# database's role may not create the extension, the search stays a scan bounded by time, and the schema
# comparison (`compared`) leaves the index out.
WORDS_INDEX = "ix_requests_searched_trgm"
SEARCH_SEPARATOR = "'\n'"  # a line break, as SQL


def searched_text() -> ColumnElement[str]:
    """The expression the trigram index is built on, written as the migration writes it: the separators
    are literals, not parameters, or PostgreSQL would not match the index; and they are line breaks, which
    a search never holds (request_search makes them spaces), so no search matches across two columns."""
    apart = literal_column(SEARCH_SEPARATOR, Text)
    r = CitizenRequest
    return r.words + apart + r.contact_name + apart + r.address + apart + r.district


def compared(item: object, name: str | None, kind: str, reflected: bool, other: object) -> bool:
    """Alembic's include_object: what the schema comparison looks at (not the optional trigram index)."""
    return not (kind == "index" and name == WORDS_INDEX)


class RequestEvent(Base):
    """The request's history: every step, who took it and when."""

    __tablename__ = "request_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(80))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    request: Mapped[CitizenRequest] = relationship(back_populates="events")


class RequestContact(Base):
    """A call or message that concerns a request: the call that opened it, later calls, later messages.
    A call's own record stays its case (`case_id`)."""

    __tablename__ = "request_contacts"
    __table_args__ = (UniqueConstraint("request_id", "case_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # call, web, email, sms, zalo, facebook
    at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")

    request: Mapped[CitizenRequest] = relationship(back_populates="contacts")


class RequestFile(Base):
    """A photo or document: the citizen's, or an agency's with its answer. The bytes are in the state
    folder under `stored` (a name of ours, never the uploader's)."""

    __tablename__ = "request_files"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("requests.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # citizen, answer
    name: Mapped[str] = mapped_column(String(255))  # as uploaded, for display only
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    stored: Mapped[str] = mapped_column(String(255), unique=True)
    uploaded_by: Mapped[str] = mapped_column(String(80))
    at: Mapped[datetime]

    request: Mapped[CitizenRequest] = relationship(back_populates="files")


COVERED_BY_PERIOD = [
    "agency",
    "topic",
    "accept_due_at",
    "answer_due_at",
    "accepted_at",
    "answered_at",
    "ended_at",
    "end",
    "rating",
]


class RequestAssignment(Base):
    """One forwarding of a request to an agency, from the forwarding to its end (the answer approved, or
    the request returned): what the agencies' on-time figures are counted from. A request returned and
    forwarded elsewhere, or reopened and sent back, has one per forwarding. It holds nothing of the
    citizen's, and stays when retention deletes the request."""

    __tablename__ = "request_assignments"
    # The figures of a period read only this index on PostgreSQL (an index-only scan: no table pages).
    __table_args__ = (
        Index("ix_request_assignments_forwarded_at", "forwarded_at", postgresql_include=COVERED_BY_PERIOD),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"), index=True)
    agency: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(8))
    forwarded_at: Mapped[datetime]
    accept_due_at: Mapped[datetime]
    answer_due_at: Mapped[datetime]  # moved by a granted extension
    accepted_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]  # of the answer standing (one sent back does not count)
    ended_at: Mapped[datetime | None]
    end: Mapped[str] = mapped_column(String(16), default="")  # "", approved, returned
    rating: Mapped[int | None]  # the citizen's rating of the answer approved from it

    request: Mapped[CitizenRequest | None] = relationship(back_populates="assignments")


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # given up after the last retry: a person must reach the citizen another way


class OutboxMessage(Base):
    """A message to a citizen (the request's number, the approved answer) on the channel they chose, kept
    in the same transaction as the step that calls for it and sent by the outbox: a gateway that is down
    delays it, never loses it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_at", "status", "next_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # email, sms
    kind: Mapped[str] = mapped_column(String(16))  # received, answer
    to: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255), default="")
    body: Mapped[str] = mapped_column(Text)
    in_reply_to: Mapped[str] = mapped_column(String(255), default="")  # the citizen's message, to thread
    status: Mapped[str] = mapped_column(String(8), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    error: Mapped[str] = mapped_column(Text, default="")
    external_id: Mapped[str] = mapped_column(String(255), default="")  # the gateway's id (Message-ID, SMS id)


class InboundMessage(Base):
    """A message that reached the hotline on a channel, by the channel's own id: taken once, whatever
    happens between taking it and marking it read."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(255))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("requests.id", ondelete="SET NULL"), index=True)
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))  # opened, joined, ignored


class MissedStatus(StrEnum):
    OPEN = "open"
    REACHED = "reached"  # an agent's call back reached the citizen, or the citizen got through again
    WRONG_NUMBER = "wrong_number"
    GIVEN_UP = "given_up"  # no answer after the set number of tries


class MissedCall(Base):
    """A caller whose calls ended without reaching an agent (after choosing a topic, in the queue, as an
    overflow, a voice message, after hours): one open entry per caller number however often they tried,
    written in the same transaction as the case, so no missed call is forgotten."""

    __tablename__ = "missed_calls"
    __table_args__ = (
        # Never two open entries for one number: an agent calls each citizen back once.
        Index(
            "ux_missed_calls_open_caller",
            "caller",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        Index("ix_missed_calls_status_last_at", "status", "last_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    caller: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=MissedStatus.OPEN.value)
    first_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    last_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    calls: Mapped[int] = mapped_column(Integer, default=1)
    topic: Mapped[str] = mapped_column(String(64), default="")
    outcome: Mapped[str] = mapped_column(String(32), default="")  # the last missed call's
    voicemail_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"))
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    tries: Mapped[int] = mapped_column(Integer, default=0)
    last_result: Mapped[str] = mapped_column(String(16), default="")
    last_try_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]


class MissedCallCase(Base):
    """Each call counted on the worklist, once: the same call written twice is not counted twice."""

    __tablename__ = "missed_call_cases"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    missed_call_id: Mapped[int] = mapped_column(ForeignKey("missed_calls.id", ondelete="CASCADE"), index=True)


class MissedCallTry(Base):
    """An agent's call back to a missed caller: who, from which phone, when, and what came of it."""

    __tablename__ = "missed_call_tries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    missed_call_id: Mapped[int] = mapped_column(ForeignKey("missed_calls.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    by: Mapped[str] = mapped_column(String(64))  # the user
    phone: Mapped[str] = mapped_column(String(32))  # the agent's extension that rang first
    recording: Mapped[str] = mapped_column(String(512), default="")
    result: Mapped[str] = mapped_column(String(16), default="")  # reached | no_answer | wrong_number


class CallbackStatus(StrEnum):
    WAITING = "waiting"  # holds its place in the queue (or waits for its next try)
    CONNECTED = "connected"  # an agent took it: Asterisk dials the citizen
    REACHED = "reached"
    FAILED = "failed"  # not answered after the set number of tries
    EXPIRED = "expired"  # no agent took it in the set time


ACTIVE_CALLBACK = (CallbackStatus.WAITING.value, CallbackStatus.CONNECTED.value)


class QueuedCallback(Base):
    """A caller who pressed the key to be called back rather than hold: their place in the queue is kept
    (ordered by when they joined it), the next free agent of the queue takes it at its turn, and only
    then does Asterisk dial the citizen. Part of the call's case (by its linkedid)."""

    __tablename__ = "queued_callbacks"
    __table_args__ = (
        # Never two callbacks to one number at once.
        Index(
            "ux_queued_callbacks_active_number",
            "number",
            unique=True,
            sqlite_where=text("status IN ('waiting', 'connected')"),
            postgresql_where=text("status IN ('waiting', 'connected')"),
        ),
        Index("ix_queued_callbacks_status_queue", "status", "queue"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    linkedid: Mapped[str] = mapped_column(String(64), index=True)  # the call that asked for it
    case_number: Mapped[str] = mapped_column(String(32), default="")  # the number the IVR read out
    queue: Mapped[str] = mapped_column(String(64))
    number: Mapped[str] = mapped_column(String(32))  # the citizen's, confirmed or keyed in
    topic: Mapped[str] = mapped_column(String(64), default="")
    joined_at: Mapped[datetime]  # when the caller joined the queue: their place
    asked_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=CallbackStatus.WAITING.value)
    tries: Mapped[int] = mapped_column(Integer, default=0)  # dials of the citizen made
    next_at: Mapped[datetime]  # not offered to an agent before this (after a try nobody answered)
    last_result: Mapped[str] = mapped_column(String(16), default="")  # Asterisk's DIALSTATUS
    # The linkedid of the stand-in placed for the try under way: a report counts only for it, once.
    stand_in: Mapped[str] = mapped_column(String(64), default="")
    agent: Mapped[str] = mapped_column(String(32), default="")  # the extension that took the last try
    recording: Mapped[str] = mapped_column(String(512), default="")
    closed_at: Mapped[datetime | None]


class SiteSwitch(Base):
    """A switch a supervisor throws in an emergency: the announcement before the menu, or the hotline
    forced open or closed whatever its hours. One row per switch; off is no row (or one past its end)."""

    __tablename__ = "switches"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)  # announcement | hours
    value: Mapped[str] = mapped_column(String(255))  # the announcement's prompt | open | closed
    text: Mapped[str] = mapped_column(Text, default="")  # what the announcement says, as typed
    until: Mapped[datetime | None]
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime]


class AgentPresence(Base):
    """An agent's log-in and pause as the center keeps them, so they follow the agent to whichever node
    rings them (ami_bridge/presence.py): not in one node's astdb, which dies with it."""

    __tablename__ = "agent_presence"

    extension: Mapped[str] = mapped_column(String(8), primary_key=True)
    queues: Mapped[str] = mapped_column(String(512), default="")  # the queues logged in to, comma-separated
    paused: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(String(64), default="")
    changed_at: Mapped[datetime]
    node: Mapped[str] = mapped_column(String(32), default="")  # where the change was made


class ThrottleMark(Base):
    """Wrong tries counted for one key (an account, an address, a request number), shared by every center
    so that spreading guesses over them gains nothing (web/throttle.py). The key is a keyed hash: the
    table says how often, never who."""

    __tablename__ = "throttle_marks"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_at: Mapped[datetime] = mapped_column(index=True)
    closed_until: Mapped[datetime]


class RateMark(Base):
    """One counted event (a form submitted) for a key within a limit's window (web/throttle.py)."""

    __tablename__ = "rate_marks"
    __table_args__ = (Index("ix_rate_marks_scope_key_at", "scope", "key", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(index=True)


class UsedChallenge(Base):
    """A question of the citizens' form already answered (web/citizens/challenge.py): used up on every
    center, kept until it would have expired anyway."""

    __tablename__ = "used_challenges"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    until: Mapped[datetime] = mapped_column(index=True)


def table(model: type[Base]) -> Table:
    """A model's Core table, for bulk statements (SQLAlchemy types `__table__` as any FromClause)."""
    found = model.__table__
    assert isinstance(found, Table), model
    return found


def rows_changed(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE changed: its result is a CursorResult, which `execute` types as a
    plain Result."""
    return int(cast("CursorResult[Any]", result).rowcount or 0)
