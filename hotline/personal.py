"""Which fields hold a citizen's personal data, declared once (Decree 13/2023). Erasure (hotline/privacy.py)
finds a person by every identifier declared here and clears or scrubs every field declared here; retention
(hotline/retention.py) deletes every table declared here after the days its `kept` setting says; masking
(`masked`) hides every contact declared here from those who need not reach the citizen. A column added to a
table is either declared here or named in NOT_PERSONAL (tests/test_personal_data.py fails otherwise), so
the three cannot drift apart."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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
)
from hotline.values import mask_actor, mask_email, mask_number


class Kind(StrEnum):
    PHONE = "phone"  # a phone number: finds the person, masked as 0912***678
    EMAIL = "email"  # an e-mail address: finds the person, masked as t***@example.vn
    CHAT = "chat"  # "zalo:<id>" or "facebook:<id>": finds the person, masked as the platform alone
    RECIPIENT = "recipient"  # a message's address: a phone, an e-mail or a chat id, by its channel
    NAME = "name"  # what they are called: cleared
    ADDRESS = "address"  # where they live or where the matter is, as written: cleared
    POSITION = "position"  # a latitude or longitude (shared in a chat, or read from a photo's EXIF): cleared
    NOTES = "notes"  # what staff wrote about the person on a call: cleared
    WORDS = "words"  # free text about a matter that may quote any of the above: scrubbed of it
    DETAIL = "detail"  # JSON that may quote any of the above: scrubbed, personal keys cleared
    ACTOR = "actor"  # who took a step: "citizen:<phone, e-mail or chat id>", "citizen@<network address>"
    AUDIO = "audio"  # a recording's path: the file is deleted
    FILE = "file"  # a file the citizen sent: deleted with its row


IDENTIFIERS = frozenset({Kind.PHONE, Kind.EMAIL, Kind.CHAT, Kind.RECIPIENT})
CONTACTS = frozenset({Kind.PHONE, Kind.EMAIL, Kind.CHAT})


class OnErasure(StrEnum):
    ANONYMISE = "anonymise"  # the row stays for the reports, without the person
    DELETE = "delete"  # the row is nothing but the person (a message to them, a number to call back)
    SCRUB = "scrub"  # the row is someone's record of what happened: the person's data is taken out of it


@dataclass(frozen=True)
class Table:
    model: type[Base]
    fields: dict[str, Kind]
    erasure: OnErasure
    kept: str  # the [retention] setting that says how many days its rows are kept


TABLES: tuple[Table, ...] = (
    Table(
        Case,
        {
            "caller": Kind.PHONE,
            "caller_name": Kind.NAME,
            "notes": Kind.NOTES,
            "ivr_steps": Kind.WORDS,  # may hold digits the caller keyed in
            "recording": Kind.AUDIO,
            "voicemail": Kind.AUDIO,
        },
        OnErasure.ANONYMISE,
        "cases",
    ),
    Table(CaseEvent, {"detail": Kind.DETAIL}, OnErasure.SCRUB, "timelines"),
    Table(DeadLetter, {"payload": Kind.DETAIL, "reason": Kind.WORDS}, OnErasure.SCRUB, "cases"),
    Table(
        AuditEntry,
        {"actor": Kind.ACTOR, "target": Kind.WORDS, "detail": Kind.DETAIL},
        OnErasure.SCRUB,
        "audit",
    ),
    Table(
        CitizenRequest,
        {
            "contact_phone": Kind.PHONE,
            "contact_email": Kind.EMAIL,
            "contact_chat": Kind.CHAT,
            "contact_name": Kind.NAME,
            "address": Kind.ADDRESS,
            "latitude": Kind.POSITION,
            "longitude": Kind.POSITION,
            "words": Kind.WORDS,
            "instructions": Kind.WORDS,
            "answer": Kind.WORDS,
            "remark": Kind.WORDS,
            "reason": Kind.WORDS,
            "extension_reason": Kind.WORDS,
            "public_question": Kind.WORDS,
            "public_answer": Kind.WORDS,
            "created_by": Kind.ACTOR,
        },
        OnErasure.ANONYMISE,
        "requests",
    ),
    Table(RequestEvent, {"actor": Kind.ACTOR, "detail": Kind.DETAIL}, OnErasure.SCRUB, "requests"),
    Table(RequestContact, {"note": Kind.WORDS}, OnErasure.SCRUB, "requests"),
    Table(
        RequestFile,
        {"stored": Kind.FILE, "name": Kind.WORDS, "uploaded_by": Kind.ACTOR},
        OnErasure.SCRUB,
        "requests",
    ),
    Table(
        OutboxMessage,
        {
            "to": Kind.RECIPIENT,
            "subject": Kind.WORDS,
            "body": Kind.WORDS,
            "in_reply_to": Kind.WORDS,
            "error": Kind.WORDS,
        },
        OnErasure.DELETE,
        "requests",
    ),
    Table(InboundMessage, {"external_id": Kind.WORDS}, OnErasure.DELETE, "requests"),
    Table(MissedCall, {"caller": Kind.PHONE}, OnErasure.DELETE, "cases"),
    Table(MissedCallTry, {"recording": Kind.AUDIO}, OnErasure.DELETE, "cases"),
    Table(QueuedCallback, {"number": Kind.PHONE, "recording": Kind.AUDIO}, OnErasure.DELETE, "cases"),
)

# Every other column of those tables: keys, times, counts, the menu, queue, agent, agency and outcome, what
# the reports count. A request's district (the place as said) and ward stay: they place the matter, not the
# person, in the
# statistics. tests/test_personal_data.py checks that every column is here or declared above.
NOT_PERSONAL: dict[str, frozenset[str]] = {
    "audit_log": frozenset({"id", "at", "action"}),
    "cases": frozenset(
        {"id", "number", "linkedid", "did", "started_at", "ivr_ended_at", "queued_at", "answered_at"}
        | {
            "ended_at",
            "ivr_path",
            "ivr_node",
            "ivr_result",
            "topic",
            "request_number",
            "queue",
            "wait_seconds",
        }
        | {"talk_seconds", "agent", "agent_name", "recording_seconds", "outcome", "hangup_cause", "category"}
        | {"rating"}
        | {"status", "follow_up", "updated_at"}
    ),
    "dead_letters": frozenset({"id", "kind", "key", "attempts", "first_failed_at", "last_failed_at"}),
    "queued_callbacks": frozenset(
        {"id", "linkedid", "case_number", "queue", "topic", "joined_at", "asked_at", "expires_at", "status"}
        | {"tries", "next_at", "last_result", "stand_in", "agent", "closed_at"}
    ),
    "requests": frozenset(
        {"id", "number", "status", "topic", "priority", "notify_by", "district", "agency", "created_at"}
        | {"forwarded_at", "accept_due_at", "accepted_at", "answer_due_at", "answered_at", "closed_at"}
        | {
            "escalated_at",
            "extension_hours",
            "extension_decision",
            "reopened",
            "due_at",
            "rating",
            "rated_at",
        }
        | {"public", "erased_at", "ward_code", "ward_basis", "outcome", "returned_by", "merged_into"}
        | {"channel", "anonymous"}
    ),
    "case_events": frozenset({"id", "case_id", "at", "kind"}),
    "inbound_messages": frozenset({"id", "channel", "request_id", "at", "outcome"}),
    "missed_calls": frozenset(
        {"id", "status", "first_case_id", "last_case_id", "calls", "topic", "outcome", "voicemail_case_id"}
        | {"first_at", "last_at", "tries", "last_result", "last_try_at", "closed_at"}
    ),
    "outbox": frozenset(
        {"id", "request_id", "channel", "kind", "status", "attempts", "created_at", "next_at", "sent_at"}
        | {"external_id"}
    ),
    "request_contacts": frozenset({"id", "request_id", "case_id", "channel", "at"}),
    "request_events": frozenset({"id", "request_id", "at", "kind"}),
    "request_files": frozenset({"id", "request_id", "purpose", "content_type", "size", "at"}),
    "missed_call_tries": frozenset({"id", "missed_call_id", "at", "by", "phone", "result"}),
    # The public limits' counts: keyed hashes of who tried (web/throttle.py), gone within an hour of the
    # last try; and the form's questions answered, by their random nonce.
    "throttle_marks": frozenset({"scope", "key", "failures", "last_at", "closed_until"}),
    "rate_marks": frozenset({"id", "scope", "key", "at"}),
    "used_challenges": frozenset({"nonce", "until"}),
}
# Staff accounts, sessions, tokens and switches are the center's; assignments and the worklist's links hold
# keys, agencies and deadlines only.
STAFF_TABLES = frozenset(
    {"users", "web_sessions", "api_tokens", "switches", "case_number_counter", "request_assignments"}
    | {"missed_call_cases", "agent_presence"}
)

BY_MODEL: dict[type[Base], Table] = {t.model: t for t in TABLES}


def fields(model: type[Base], *kinds: Kind) -> list[str]:
    """The model's columns of these kinds (every declared one when none is given)."""
    declared = BY_MODEL[model].fields if model in BY_MODEL else {}
    return [name for name, kind in declared.items() if not kinds or kind in kinds]


def detail_keys() -> frozenset[str]:
    """The keys that, inside a JSON detail, hold a personal value: every declared column's name, and the
    names the timelines and the audit log give a person's values."""
    named = {name for t in TABLES for name, kind in t.fields.items() if kind not in (Kind.DETAIL, Kind.WORDS)}
    return frozenset(named | {"address", "position", "phone", "email", "to", "from", "sender", "name"})


def _mask_chat(value: str) -> str:
    platform, _, user = value.partition(":")
    return f"{platform}:***" if user else ("***" if value else "")


MASKS = {
    Kind.PHONE: mask_number,
    Kind.EMAIL: mask_email,
    Kind.CHAT: _mask_chat,
    Kind.ACTOR: mask_actor,
}


def masked(model: type[Base], values: dict[str, Any]) -> dict[str, Any]:
    """`values` (a row as a dict) with every declared contact and actor masked: for those who handle the
    matter but need not reach the citizen."""
    out = dict(values)
    for name, kind in BY_MODEL[model].fields.items():
        if name in out and kind in MASKS and isinstance(out[name], str):
            out[name] = MASKS[kind](out[name])
    return out
