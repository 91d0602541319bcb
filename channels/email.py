"""E-mail to and from citizens: messages about one request thread together (a root Message-ID of the
request's, the citizen's own message replied to), carry the request's number in the subject, and say they
are automatic (so that responders do not answer them, and a loop cannot start). What comes in is read
with the standard library's parser; auto-replies, bounces, lists and the hotline's own mail are told
apart from what a person wrote."""

from __future__ import annotations

import contextlib
import html
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid

import aiosmtplib

from hotline import secrets
from hotline.db.numbers import is_valid
from hotline.settings import Settings
from hotline.values import clean

NUMBER_IN_SUBJECT = re.compile(r"#(\d{8})\b")
TEXT_LIMIT = 20_000
log = logging.getLogger(__name__)

SUBJECT_LIMIT = 255
# A message id as RFC 5322 writes it: <left@right>, no space, no control character, no angle inside.
MESSAGE_ID = re.compile(r"<[^<>\s@\x00-\x1f\x7f]{1,200}@[^<>\s@\x00-\x1f\x7f]{1,200}>")


class Unsendable(Exception):
    """The message can never go as it is (an address that is not one): no retry will help."""


def header_text(value: str, limit: int = SUBJECT_LIMIT) -> str:
    """A header's words on one line: an encoded word in a Subject may decode to CR/LF or other control
    characters, which the standard library rightly refuses to write into a header."""
    return " ".join(clean(value, limit).split())


def message_ids(value: str) -> list[str]:
    """The well-formed message ids in a References or In-Reply-To header, in order (others dropped)."""
    return MESSAGE_ID.findall(value)[:20]


def thread_root(settings: Settings, number: str) -> str:
    return f"<request.{number}@{mail_domain(settings)}>"


_THREAD_ROOT = re.compile(r"<request\.(\d{8})@([^<>\s]+)>")


def compose(
    settings: Settings, number: str, to: str, subject: str, body: str, in_reply_to: str = ""
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail.sender
    try:
        message["To"] = to
    except (ValueError, IndexError) as exc:
        raise Unsendable(f"not an e-mail address: {to[:80]!r} ({exc})") from None
    if len(message["To"].addresses) != 1 or not message["To"].addresses[0].domain:
        raise Unsendable(f"not one e-mail address: {header_text(to, 80)!r}")
    message["Subject"] = header_text(subject)
    message["Message-ID"] = make_msgid(domain=mail_domain(settings))
    message["Date"] = format_datetime(datetime.now(UTC))
    root = thread_root(settings, number)
    replied = (message_ids(in_reply_to) or [""])[0]
    message["In-Reply-To"] = replied or root
    message["References"] = " ".join(dict.fromkeys(r for r in (root, replied) if r))
    message["Auto-Submitted"] = "auto-replied" if in_reply_to else "auto-generated"
    if settings.mailbox.address:
        message["Reply-To"] = settings.mailbox.address
        message["X-Loop"] = settings.mailbox.address
    message.set_content(body)
    return message


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


@contextlib.asynccontextmanager
async def _relay(settings: Settings) -> AsyncIterator[aiosmtplib.SMTP]:
    """Connected to [mail]'s relay, signed in when it asks for it (aiosmtplib errors and OSError raised)."""
    mail = settings.mail
    password = secrets.value(settings, secrets.MAIL_PASSWORD) if mail.username else None
    async with aiosmtplib.SMTP(
        hostname=mail.host, port=mail.port, start_tls=mail.starttls, timeout=30
    ) as smtp:
        if mail.username:
            await smtp.login(mail.username, password or "")
        yield smtp


async def send_all(settings: Settings, messages: list[EmailMessage]) -> int:
    """Send over one connection to the relay (the escalations of a round); returns how many went. Failures
    are logged, not raised: the requests are escalated on their pages whether or not the mail went."""
    if not settings.mail.host or not messages:
        return 0
    mail = settings.mail
    sent = 0
    try:
        async with _relay(settings) as smtp:
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


class MailNotSent(Exception):
    """The relay is not configured, cannot be reached, or refused the message."""


async def send(settings: Settings, message: EmailMessage) -> str:
    """Send one message through [mail]; its Message-ID, or MailNotSent with the reason."""
    mail = settings.mail
    if not mail.host:
        raise MailNotSent("no SMTP relay: set [mail] host and sender")
    try:
        async with _relay(settings) as smtp:
            await smtp.send_message(stamped(settings, message))
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise MailNotSent(f"{mail.host}:{mail.port}: {exc}") from None
    return str(message["Message-ID"])


@dataclass
class Incoming:
    message_id: str
    sender: str  # the address
    name: str
    subject: str
    text: str
    references: list[str]
    files: list[tuple[str, bytes]] = field(default_factory=list)
    automatic: str = ""  # why no person wrote it ("" when one did)
    verified: bool = False  # the receiving server vouches for the sender (DMARC, or DKIM aligned with From)

    def number(self, own_domain: str = "") -> str | None:
        """The request it is about: a number of ours in the subject, else the thread of ours it replies
        to (In-Reply-To and References name the request's root message id, thread_root)."""
        for found in NUMBER_IN_SUBJECT.findall(self.subject):
            if is_valid(found):
                return str(found)
        if own_domain:
            for reference in self.references:
                found = _THREAD_ROOT.fullmatch(reference)
                if found and found.group(2).lower() == own_domain.lower() and is_valid(found.group(1)):
                    return found.group(1)
        return None


_RESULT = re.compile(r"(?i)\b(dmarc|dkim)\s*=\s*(\w+)([^;]*)")
_DKIM_DOMAIN = re.compile(r"(?i)\bheader\.(?:d|i)\s*=\s*@?([a-z0-9.-]+)")


def sender_verified(message: EmailMessage, sender: str, authserv_id: str) -> bool:
    """The receiving server's verdict (RFC 8601): the topmost Authentication-Results header with the
    trusted authserv-id (the server adds its own on top, and removes any a sender forged with its id) says
    dmarc=pass, or dkim=pass for the From address's domain (or a domain it lies under)."""
    if not authserv_id or "@" not in sender:
        return False
    domain = sender.rpartition("@")[2].lower()
    for value in message.get_all("Authentication-Results") or []:
        text = " ".join(str(value).split())
        served_by = text.split(";", 1)[0].split()[0].lower() if text.split(";", 1)[0].split() else ""
        if served_by != authserv_id.lower():
            continue
        for method, result, properties in _RESULT.findall(text):
            if result.lower() != "pass":
                continue
            if method.lower() == "dmarc":
                return True
            signer = _DKIM_DOMAIN.search(properties)
            if signer and (
                domain == signer.group(1).lower() or domain.endswith("." + signer.group(1).lower())
            ):
                return True
        return False  # the topmost trusted header decides
    return False


def parse(raw: bytes, own_address: str, authserv_id: str = "") -> Incoming:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    sender, name = _from(message)
    # Every header value is cleaned where it enters: it may come back out in a header of ours.
    incoming = Incoming(
        message_id=(message_ids(_header(message, "Message-ID")) or [""])[0],
        sender=sender[:254] if _one_line(sender) else "",
        name=header_text(name, 128),
        subject=header_text(_header(message, "Subject")),
        text=_text(message),
        references=message_ids(_header(message, "References")) + message_ids(_header(message, "In-Reply-To")),
    )
    incoming.automatic = _automatic(message, sender, own_address)
    try:
        incoming.verified = sender_verified(message, sender, authserv_id)
    except (ValueError, IndexError, TypeError, LookupError):
        incoming.verified = False
    for part in message.iter_attachments():
        filename = part.get_filename()
        payload = part.get_payload(decode=True)
        if filename and isinstance(payload, bytes):
            incoming.files.append((filename, payload))
    return incoming


# An address to answer: one @, a dotted domain, nothing a display name or a quoted string brings along.
_ADDRESS = re.compile(
    r"[^\s\"<>()\[\],;:\\@]{1,64}@[A-Za-z0-9\u0080-\uffff-]+(?:\.[A-Za-z0-9\u0080-\uffff-]+)+"
)


def _from(message: EmailMessage) -> tuple[str, str]:
    """The sender's address and name. Some programs put both in one encoded word
    (=?utf-8?B?...?= decoding to "Name" <address>), which the parser takes for one odd local part: the
    header is then decoded whole and read again. No address found: "" (the request is opened all the
    same, with no one to answer by mail)."""
    try:
        addresses = message["From"].addresses if message["From"] else ()
        first: Address | None = addresses[0] if addresses else None
    except (AttributeError, IndexError, ValueError, TypeError):
        first = None
    if first is not None and _ADDRESS.fullmatch(first.addr_spec):
        return first.addr_spec.lower(), first.display_name
    # The header as it came (the parsed one has already quoted the decoded words as a local part).
    raw = next((str(value) for key, value in message.raw_items() if key.lower() == "from"), None)
    if raw is None:
        return "", ""
    try:
        decoded = str(make_header(decode_header(" ".join(raw.split()))))
    except (ValueError, LookupError, UnicodeError, TypeError):
        decoded = str(raw)
    for name, address in getaddresses([decoded]):
        if _ADDRESS.fullmatch(address):
            return address.lower(), name
    return "", ""


def _header(message: EmailMessage, name: str) -> str:
    """A header's decoded value, or '' when it cannot be read (a defect in it is the sender's, not ours)."""
    try:
        return str(message[name] or "")
    except (ValueError, IndexError, TypeError, LookupError):
        return ""


def _one_line(value: str) -> bool:
    return not any(c in value for c in "\r\n\x00") and value == clean(value)


def _automatic(message: EmailMessage, sender: str, own: str) -> str:
    auto = (_header(message, "Auto-Submitted") or "no").strip().lower()
    if auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = _header(message, "Precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for header in ("X-Autoreply", "X-Autorespond", "List-Id", "List-Unsubscribe"):
        if message[header] is not None:
            return header
    if own and (sender == own.lower() or _header(message, "X-Loop").strip().lower() == own.lower()):
        return "the hotline's own mail (a loop)"
    if (
        message["From"] is None
        or _header(message, "Return-Path").strip() == "<>"
        or sender.split("@")[0]
        in (
            "mailer-daemon",
            "postmaster",
        )
    ):
        return "a bounce"
    return ""


def _text(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain", "html"))
    if body is None:
        return ""
    try:
        content = body.get_content()
    except (LookupError, UnicodeDecodeError, AssertionError):
        payload = body.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if body.get_content_subtype() == "html":
        content = html.unescape(
            re.sub(r"<[^>]+>", " ", re.sub(r"(?is)<(script|style).*?</\1>", " ", content))
        )
    return str(content).replace("\x00", "").strip()[:TEXT_LIMIT]
