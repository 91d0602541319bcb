"""Messages to citizens: queued in the same transaction as the step that calls for them (the request
opened from a mail, the answer approved), sent by `deliver` with retries spaced further and further apart;
after the last one a message is failed and the request's history says so, for a person to reach the
citizen another way. Each message sent is in the request's history."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels import callback, chat, email, sms, texts
from hotline import contact_channels
from hotline.db.errors import is_transient
from hotline.db.models import CitizenRequest, OutboxMessage, OutboxStatus, RequestEvent
from hotline.errors import AMIError
from hotline.links import follow_url
from hotline.settings import Settings
from hotline.values import mask_email, mask_number

log = logging.getLogger(__name__)
# After the first try: a minute, five, half an hour, two hours, then every six hours; nine tries in all.
RETRY_AFTER = (60, 300, 1800, 7200, 21600, 21600, 21600, 21600)
BATCH = 50
# A message is claimed before it is sent: no other round takes it for this long. Rounds run under the
# outbox's lease (shell/centers.py), so two overlap only while a lease changes hands; the claim outlasts a
# database fail-over's write outage (measured: docs/high-availability.md), during which the record of a
# message sent just before waits. A sender killed between the gateway's acceptance and that record leaves
# the message to be sent again after the claim: at least once, never lost.
CLAIM_SECONDS = 60
# How long a message the gateway took waits for the database to record it (a fail-over takes seconds).
RECORD_SECONDS = 120.0
_RECORDING: set[asyncio.Future[int]] = set()  # records in flight, kept alive past a cancelled round


class NoGateway(Exception):
    """The channel is not configured on this site."""


def channel_for(request: CitizenRequest) -> tuple[str, str] | None:
    """(channel, address) the citizen asked to be told on, or the way they came; None: no way to."""
    wanted = request.notify_by or (
        "email"
        if request.contact_email and not request.contact_phone
        else "phone"
        if request.contact_phone
        else ""
    )
    to = contact_channels.address(request, wanted)
    return (wanted, to) if to else None


def queue(
    request: CitizenRequest,
    kind: str,
    channel: str,
    to: str,
    subject: str,
    body: str,
    at: datetime,
    reply_to: str = "",
) -> OutboxMessage:
    return OutboxMessage(
        request_id=request.id,
        channel=channel,
        kind=kind,
        to=to,
        subject=subject,
        body=body,
        in_reply_to=reply_to,
        status=OutboxStatus.PENDING.value,
        attempts=0,
        created_at=at,
        next_at=at,
        error="",
        external_id="",
    )


def answer_message(
    settings: Settings, request: CitizenRequest, at: datetime, by_agent: bool = False
) -> OutboxMessage | None:
    """The approved answer, on the citizen's channel (None when they are told by phone and call backs are
    off); `by_agent`: a call back has an agent tell it (the supervisor's choice)."""
    way = channel_for(request)
    if way is None or (way[0] == "phone" and not settings.callbacks.enabled):
        return None
    channel, to = way
    return queue(
        request,
        callback.BY_AGENT if by_agent and channel == "phone" else "answer",
        channel,
        to,
        texts.subject(request, request.words.split("\n", 1)[0][:120] if channel == "email" else ""),
        texts.answer(settings, request, follow_url(settings, request.number)),
        at,
    )


def merged_message(settings: Settings, request: CitizenRequest, at: datetime) -> OutboxMessage | None:
    """To the citizen of a request merged into another: the number they will be told the answer of. Not
    by phone: a call for this alone would cost more than it tells; the answer's call will say it."""
    way = channel_for(request)
    if way is None or way[0] == "phone":
        return None
    channel, to = way
    return queue(
        request,
        "merged",
        channel,
        to,
        texts.subject(request, request.words.split("\n", 1)[0][:120] if channel == "email" else ""),
        texts.merged(settings, request, follow_url(settings, request.number)),
        at,
    )


async def _send_email(settings: Settings, message: OutboxMessage, number: str) -> str:
    mail = email.compose(settings, number, message.to, message.subject, message.body, message.in_reply_to)
    return await email.send(settings, mail)


async def _send_sms(settings: Settings, message: OutboxMessage, number: str) -> str:
    text = sms.fit(
        message.body,
        settings.sms.diacritics,
        settings.sms.most_parts,
        follow_url(settings, number) if number else "",
    )
    answer = await sms.send(settings, message.to, text, sms.dlr_url(settings, message.id))
    return f"{answer} ({text.parts} part{'s' if text.parts > 1 else ''}, {text.coding})"


async def _send_chat(settings: Settings, message: OutboxMessage, number: str) -> str:
    return await chat.send(settings, message.channel, message.to, message.body, message.kind == "answer")


Sender = Callable[[Settings, OutboxMessage, str], Awaitable[str]]
# How each channel of hotline/contact_channels.py sends (a phone call back goes through Asterisk, below).
SENDERS: dict[str, Sender] = {
    "email": _send_email,
    "sms": _send_sms,
    **{name: _send_chat for name in contact_channels.CHATS},
}


async def _send(settings: Settings, message: OutboxMessage, number: str) -> str:
    """The gateway's id for the message sent, or MailNotSent / NoGateway with the reason."""
    sender = SENDERS.get(message.channel)
    if sender is None:
        raise NoGateway(f"no {message.channel} gateway is configured")
    return await sender(settings, message, number)


async def record_delivery(
    db: async_sessionmaker[AsyncSession], message_id: int, status: int, at: datetime
) -> bool:
    """A gateway's delivery report, on the request's history; a message the phone will not get is failed
    (for a person to reach the citizen another way). False for a message we do not know."""
    async with db() as session, session.begin():
        kept = await session.get(OutboxMessage, message_id)
        if kept is None:
            return False
        what = sms.DELIVERY.get(status, f"report {status}")
        if status in (2, 16):  # failed, rejected by the SMSC
            kept.status, kept.error = OutboxStatus.FAILED.value, what
        _history(session, kept, at, "message_delivery", report=what)
    return True


async def _call_back(
    settings: Settings, db: async_sessionmaker[AsyncSession], message: OutboxMessage, now: datetime, ami: Any
) -> None:
    """One attempt of a voice call back, within the allowed hours; the last one unanswered fails it. The
    call itself marks the message sent once the citizen answers (channels/callback.py)."""
    later = callback.next_window(settings, now)
    async with db() as session, session.begin():
        kept = await session.get(OutboxMessage, message.id)
        if kept is None or kept.status != OutboxStatus.PENDING.value:
            return
        if later is not None:
            kept.next_at = later
            return
        if kept.attempts >= settings.callbacks.attempts:
            kept.status, kept.error = OutboxStatus.FAILED.value, "no answer"
            _history(session, kept, now, "callback", outcome="not reached", attempts=str(kept.attempts))
            log.warning(
                "call back %d to %s: not reached after %d attempts", kept.id, _masked(kept), kept.attempts
            )
            return
        kept.attempts += 1
        kept.next_at = now + timedelta(seconds=settings.callbacks.wait_seconds)
        answer = ""
        if kept.request_id is not None:
            answer = str(
                await session.scalar(
                    select(CitizenRequest.answer).where(CitizenRequest.id == kept.request_id)
                )
                or ""
            )
        attempt = kept.attempts
    try:
        if ami is None:
            raise NoGateway("no AMI connection to dial with")
        await callback.dial(settings, ami, message, answer)
    except (AMIError, NoGateway, OSError) as exc:
        async with db() as session, session.begin():
            kept = await session.get(OutboxMessage, message.id)
            if kept is not None:
                kept.error = str(exc)[:2000]
        log.warning("call back %d: attempt %d could not be dialled: %s", message.id, attempt, exc)
        return
    async with db() as session, session.begin():
        kept = await session.get(OutboxMessage, message.id)
        if kept is not None:
            _history(session, kept, now, "callback", outcome="dialled", attempt=str(attempt))


async def deliver(
    settings: Settings, db: async_sessionmaker[AsyncSession], now: datetime, ami: Any = None
) -> int:
    """Send what is due; returns how many went (a call back counts when the citizen answers it)."""
    sent = 0
    async with db() as session:
        # With the number of the request each is about, which the messages quote.
        due = (
            await session.execute(
                select(OutboxMessage, CitizenRequest.number)
                .outerjoin(CitizenRequest, CitizenRequest.id == OutboxMessage.request_id)
                .where(OutboxMessage.status == OutboxStatus.PENDING.value, OutboxMessage.next_at <= now)
                .order_by(OutboxMessage.next_at, OutboxMessage.id)
                .limit(BATCH)
            )
        ).all()
    for message, number in due:
        if not await _claim(db, message.id, now):
            continue
        try:
            if message.channel == "phone":
                await _call_back(settings, db, message, now, ami)
            else:
                sent += await _deliver_one(settings, db, message, str(number or ""), now)
        except Exception as exc:
            # One message must never hold up the others (it would be first in every round): whatever it
            # raised counts as a failed try, and the round goes on.
            log.exception("message %d: sending failed unexpectedly", message.id)
            await _failed_try(db, message.id, now, f"{type(exc).__name__}: {exc}")
    return sent


async def _claim(db: async_sessionmaker[AsyncSession], message_id: int, now: datetime) -> bool:
    """Take the message for this round, or learn that another round took it (False)."""
    async with db() as session, session.begin():
        taken = await session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message_id,
                OutboxMessage.status == OutboxStatus.PENDING.value,
                OutboxMessage.next_at <= now,
            )
            .values(next_at=now + timedelta(seconds=CLAIM_SECONDS))
        )
        return bool(getattr(taken, "rowcount", 0))


async def _deliver_one(
    settings: Settings,
    db: async_sessionmaker[AsyncSession],
    message: OutboxMessage,
    number: str,
    now: datetime,
) -> int:
    """Send one message and record the outcome on it and its request; 1 if it went."""
    hopeless = False
    try:
        external, error = await _send(settings, message, number), ""
    except (email.MailNotSent, sms.SmsNotSent, chat.ChatNotSent, NoGateway) as exc:
        external, error = "", str(exc)[:2000]
    except email.Unsendable as exc:
        external, error, hopeless = "", str(exc)[:2000], True
    if error:
        async with db() as session, session.begin():
            kept = await session.get(OutboxMessage, message.id)
            if kept is not None:
                _count_failure(session, kept, now, error, hopeless)
        return 0
    # Shielded: a lease lost meanwhile (a database fail-over ends the lease's session) cancels the round,
    # never the record of what the gateway took, which then lands before the claim ends.
    recording = asyncio.ensure_future(_record_sent(db, message.id, external, now))
    _RECORDING.add(recording)
    recording.add_done_callback(_RECORDING.discard)
    return await asyncio.shield(recording)


async def _record_sent(
    db: async_sessionmaker[AsyncSession], message_id: int, external: str, now: datetime
) -> int:
    """The gateway took the message: say so, waiting out a database that is away (a fail-over takes
    seconds). Were it given up, the message would be sent again once its claim ends."""
    waited, delay = 0.0, 0.5
    while True:
        try:
            async with db() as session, session.begin():
                kept = await session.get(OutboxMessage, message_id)
                if kept is None:
                    return 0
                kept.attempts += 1
                kept.status, kept.sent_at, kept.external_id, kept.error = (
                    OutboxStatus.SENT.value,
                    now,
                    external,
                    "",
                )
                _history(session, kept, now, "message_sent")
                return 1
        except Exception as exc:
            if not is_transient(exc) or waited >= RECORD_SECONDS:
                raise
            log.warning("message %d sent; recording it waits for the database (%s)", message_id, exc)
        await asyncio.sleep(delay)
        waited += delay
        delay = min(delay * 2, 5.0)


async def _failed_try(
    db: async_sessionmaker[AsyncSession], message_id: int, now: datetime, error: str
) -> None:
    """Record a try that raised; if even that fails (the database), the message stays as it was and the
    next round tries again."""
    try:
        async with db() as session, session.begin():
            kept = await session.get(OutboxMessage, message_id)
            if kept is not None and kept.status == OutboxStatus.PENDING.value:
                _count_failure(session, kept, now, error[:2000], hopeless=False)
    except Exception:
        log.exception("message %d: could not record its failed try", message_id)


def _count_failure(
    session: AsyncSession, kept: OutboxMessage, now: datetime, error: str, hopeless: bool
) -> None:
    """A failed try: later again, spaced further apart; after the last (or at once for a message that can
    never go) parked as failed with its reason, for an admin to see and send again once fixed."""
    kept.attempts += 1
    to = _masked(kept)
    if hopeless or kept.attempts > len(RETRY_AFTER):
        kept.status, kept.error = OutboxStatus.FAILED.value, error
        log.error("message %d to %s given up after %d tries: %s", kept.id, to, kept.attempts, error)
        _history(session, kept, now, "message_failed", error=error)
        return
    kept.error, kept.next_at = error, now + timedelta(seconds=RETRY_AFTER[kept.attempts - 1])
    log.warning("message %d to %s not sent (try %d): %s", kept.id, to, kept.attempts, error)


async def send_again(
    db: async_sessionmaker[AsyncSession], now: datetime, message_id: int | None = None
) -> int:
    """Parked messages (all, or one) back to pending, due now with their tries counted afresh: once the
    cause is fixed. Returns how many."""
    async with db() as session, session.begin():
        query = select(OutboxMessage).where(OutboxMessage.status == OutboxStatus.FAILED.value)
        if message_id is not None:
            query = query.where(OutboxMessage.id == message_id)
        parked = list(await session.scalars(query))
        for kept in parked:
            kept.status, kept.attempts, kept.next_at = OutboxStatus.PENDING.value, 0, now
        return len(parked)


def _masked(message: OutboxMessage) -> str:
    if message.channel == "email":
        return mask_email(message.to)
    reach = (
        contact_channels.CHANNELS[message.channel].reach
        if message.channel in contact_channels.CHANNELS
        else None
    )
    return mask_number(message.to) if reach is contact_channels.Reach.PHONE else f"{message.channel} user"


def _history(session: AsyncSession, message: OutboxMessage, at: datetime, kind: str, **detail: str) -> None:
    """What became of a message to the citizen, on its request's history."""
    if message.request_id is not None:
        session.add(
            RequestEvent(
                request_id=message.request_id,
                at=at,
                actor=f"system:{message.channel}",
                kind=kind,
                detail={
                    "channel": message.channel,
                    "to": _masked(message),
                    "message": message.kind,
                    **detail,
                },
            )
        )
