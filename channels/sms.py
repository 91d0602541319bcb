"""SMS to and from citizens through an SMS gateway that speaks Kannel's HTTP interface (`sendsms`, and the
URLs it calls for messages that come in and for delivery reports); Kannel itself reaches the carriers'
SMSCs (SMPP 3.4 for brand-name SMS).

The segment rules: a text all in the GSM 7-bit alphabet costs 160 characters in one message, 153 a part
when it is split; any other character (Vietnamese with its diacritics) makes it UCS-2: 70, or 67 a part.
[sms] diacritics = false sends Vietnamese without its marks (GSM 7-bit: more than twice as long a text for
the same price). A text longer than [sms] most_parts parts is cut, with the link to read the rest."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import aiohttp

from hotline import secrets
from hotline.settings import Settings

GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")  # two septets each
SINGLE = {"gsm7": 160, "ucs2": 70}
PART = {"gsm7": 153, "ucs2": 67}


def without_diacritics(text: str) -> str:
    """Vietnamese without its marks: "Đã xử lý" -> "Da xu ly"."""
    text = text.replace("Đ", "D").replace("đ", "d")
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


def coding(text: str) -> str:
    return "gsm7" if all(ch in GSM7 or ch in GSM7_EXTENDED for ch in text) else "ucs2"


def units(text: str, code: str) -> int:
    """Septets (GSM 7-bit) or UTF-16 code units (UCS-2) the text takes."""
    if code == "gsm7":
        return sum(2 if ch in GSM7_EXTENDED else 1 for ch in text)
    return len(text.encode("utf-16-le")) // 2


def parts(text: str) -> int:
    code = coding(text)
    size = units(text, code)
    return 1 if size <= SINGLE[code] else -(-size // PART[code])


@dataclass(frozen=True)
class SmsText:
    text: str
    coding: str  # gsm7, ucs2
    parts: int
    cut: bool


def fit(text: str, diacritics: bool, most_parts: int, more: str = "") -> SmsText:
    """The text as it will be sent: marks kept or not, cut to most_parts parts (then ending with `more`)."""
    text = text if diacritics else without_diacritics(text)
    more = more if diacritics else without_diacritics(more)
    if parts(text) <= most_parts:
        return SmsText(text, coding(text), parts(text), False)
    tail = f"… {more}".rstrip()
    keep = len(text)
    while keep > 0 and parts(text[:keep].rstrip() + tail) > most_parts:
        keep -= max(1, (keep // 20))
    cut = text[:keep].rstrip() + tail
    return SmsText(cut, coding(cut), parts(cut), True)


class SmsNotSent(Exception):
    """The gateway is not configured, cannot be reached, or refused the message."""


async def send(settings: Settings, to: str, text: SmsText, dlr_url: str) -> str:
    """Through the gateway's sendsms; what it answered (Kannel: "0: Accepted for delivery")."""
    sms = settings.sms
    if not sms.url:
        raise SmsNotSent("no SMS gateway: set [sms] url")
    params = {
        "username": sms.username,
        "password": secrets.value(settings, secrets.SMS_PASSWORD),
        "from": sms.sender,
        "to": to,
        "text": text.text,
        "charset": "UTF-8",
        "coding": "2" if text.coding == "ucs2" else "0",
        "dlr-mask": "31",  # delivered, failed, buffered, accepted by the SMSC, rejected by it
        "dlr-url": dlr_url,
    }
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
            http.get(sms.url, params=params) as reply,
        ):
            body = (await reply.text())[:200]
            if reply.status not in (200, 202):
                raise SmsNotSent(f"{sms.url}: {reply.status} {body}")
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise SmsNotSent(f"{sms.url}: {exc}") from None
    return body


def callback_key(settings: Settings) -> str:
    """The secret in the URLs the gateway calls back (messages in, delivery reports): only it knows them."""
    return secrets.value(settings, secrets.SMS_CALLBACKS)


def callback_base(settings: Settings) -> str:
    return (settings.sms.callback_url or settings.web.base_url).rstrip("/")


def dlr_url(settings: Settings, message_id: int) -> str:
    # Kannel fills in %d (the report's type) when it calls.
    return f"{callback_base(settings)}/sms/dlr/{callback_key(settings)}?message={message_id}&status=%d"


# Kannel's delivery report types (the %d of a dlr-url).
DELIVERY = {1: "delivered", 2: "failed", 4: "buffered", 8: "accepted by the SMSC", 16: "rejected by the SMSC"}
