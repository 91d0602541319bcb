"""Values from outside (caller IDs, DIDs, keys, channel variables, form fields) made safe to keep: cleaned
and bounded where they enter, kept verbatim where they are already clean and fit."""

from __future__ import annotations

import hmac
import re

# C0 and C1 control characters (NUL among them: PostgreSQL refuses it in text), lone surrogates (not
# encodable as UTF-8) and the bidirectional overrides that make a name display as another.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
ELLIPSIS = "…"
# What a value from a call may hold before a column's own bound applies (keeps memory bounded too).
MAX_TEXT = 512


def clean(value: object, limit: int = MAX_TEXT) -> str:
    """`value` as text without control characters, at most `limit` characters (a cut value ends in '…')."""
    text = value if isinstance(value, str) else str(value)
    if _UNSAFE.search(text):
        text = _UNSAFE.sub(" ", text).strip()
    if len(text) > limit:
        text = text[: max(limit - 1, 0)] + ELLIPSIS
    return text


def mask_number(number: str) -> str:
    """A phone number with its middle hidden, enough to tell two callers apart: 0944***888. For lists
    shown to people who need not know the number, and for every log line."""
    if len(number) >= 10:
        return f"{number[:4]}***{number[-3:]}"
    if len(number) >= 6:
        return f"{number[:2]}***{number[-2:]}"
    return "***" if number else ""


def mask_email(address: str) -> str:
    """An e-mail address with its name hidden but its first letter: t***@gmail.com."""
    name, at, domain = address.partition("@")
    return f"{name[:1]}***@{domain}" if at else ("***" if address else "")


def number_forms(number: str) -> set[str]:
    """The ways one Vietnamese number is written (0912345678, +84912345678, 84912345678): a person's
    calls are found under any of them."""
    digits = number.strip()
    forms = {digits} if digits else set()
    national = ""
    if digits.startswith("+84"):
        national = digits[3:]
    elif digits.startswith("84") and len(digits) >= 11:
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    if national.isdigit():
        forms |= {"0" + national, "+84" + national, "84" + national}
    return forms


def mask_actor(actor: str) -> str:
    """Who took a step, as someone who may not know the citizen's contacts sees it: a citizen's phone or
    e-mail masked, their address on the network and their chat ids not at all; staff as they are."""
    if actor.startswith("citizen@"):
        return "citizen"
    if not actor.startswith("citizen:"):
        return actor
    said = actor.removeprefix("citizen:")
    if "@" in said:
        return f"citizen:{mask_email(said)}"
    if said.lstrip("+").isdigit():
        return f"citizen:{mask_number(said)}"
    return "citizen"


def contact_key(phone: str, email: str) -> str:
    """One key per person for a limit per contact: a phone in its national form whichever way it was
    written (0914..., +84914..., 0084914..., 84914...), else the e-mail address in lower case."""
    if phone:
        digits = re.sub(r"\D", "", phone, flags=re.ASCII)
        if digits.startswith("00"):
            digits = digits[2:]
        forms = sorted(
            f for f in number_forms(("+" if digits.startswith("84") else "") + digits) if f[:1] == "0"
        )
        return forms[0] if forms else digits
    return email.strip().lower()


def same_secret(given: str, expected: str) -> bool:
    """A constant-time comparison of two texts: `hmac.compare_digest` refuses a str with any non-ASCII
    character (a TypeError, so a server error that tells which values exist); their UTF-8 bytes it takes."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )
