"""Telling people by e-mail, over the site's SMTP relay ([mail]): an overdue request goes to the center's
supervisors and to the agency it is with. No relay configured: nothing is sent (the web app flags the
request all the same). A relay that fails is logged; the request stays flagged and escalated."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from zoneinfo import ZoneInfo

import aiosmtplib

from casework import workflow as wf
from hotline import secrets
from hotline.db.models import CitizenRequest
from hotline.settings import Settings

log = logging.getLogger(__name__)


def mail_domain(settings: Settings) -> str:
    """The domain of [mail] sender: what the hotline's Message-IDs end in."""
    address = getaddresses([settings.mail.sender])[0][1] if settings.mail.sender else ""
    return address.rpartition("@")[2] or "hotline.invalid"


def stamped(settings: Settings, message: EmailMessage) -> EmailMessage:
    """The message with the Date and Message-ID RFC 5322 requires, when it has none yet: a relay does not
    add them for a client that is not its own, and receivers score mail without them as spam."""
    if message["Date"] is None:
        message["Date"] = format_datetime(datetime.now(UTC))
    if message["Message-ID"] is None:
        message["Message-ID"] = make_msgid(domain=mail_domain(settings))
    return message


def escalation(settings: Settings, request: CitizenRequest) -> EmailMessage | None:
    """The e-mail about one overdue request, or None when there is no one to send it to."""
    to = list(settings.mail.supervisors)
    agency = next((a for a in settings.agencies if a.name == request.agency), None)
    if agency is not None and agency.email:
        to.append(agency.email)
    if not to:
        return None
    due, _ = wf.due(request)
    local = due.astimezone(ZoneInfo(settings.site.timezone)).strftime("%H:%M %d/%m/%Y") if due else "?"
    what = "tiếp nhận" if request.status == "forwarded" else "trả lời"
    message = EmailMessage()
    message["From"] = settings.mail.sender
    message["To"] = ", ".join(to)
    message["Subject"] = f"[{settings.site.name}] Quá hạn {what}: yêu cầu {request.number}"
    message.set_content(
        f"Yêu cầu {request.number} ({request.topic}) đã quá hạn {what} lúc {local}.\n"
        f"Cơ quan xử lý: {agency.label if agency else request.agency}.\n\n"
        "Đây là thư tự động của tổng đài; xem chi tiết trên trang quản lý yêu cầu.\n"
    )
    return message


@contextlib.asynccontextmanager
async def relay(settings: Settings) -> AsyncIterator[aiosmtplib.SMTP]:
    """Connected to [mail]'s relay, signed in when it asks for it (aiosmtplib errors and OSError raised)."""
    mail = settings.mail
    password = secrets.value(settings, secrets.MAIL_PASSWORD) if mail.username else None
    async with aiosmtplib.SMTP(
        hostname=mail.host, port=mail.port, start_tls=mail.starttls, timeout=30
    ) as smtp:
        if mail.username:
            await smtp.login(mail.username, password or "")
        yield smtp


async def send(settings: Settings, messages: list[EmailMessage]) -> int:
    """Send over one connection to the relay; returns how many went. Failures are logged, not raised."""
    if not settings.mail.host or not messages:
        return 0
    mail = settings.mail
    sent = 0
    try:
        async with relay(settings) as smtp:
            for message in messages:
                try:
                    await smtp.send_message(stamped(settings, message))
                    sent += 1
                except aiosmtplib.SMTPException as exc:
                    log.error("the relay refused the mail %r: %s", message["Subject"], exc)
    except (aiosmtplib.SMTPException, OSError) as exc:
        log.error(
            "could not send %d mail(s) through %s:%s: %s", len(messages) - sent, mail.host, mail.port, exc
        )
    return sent
