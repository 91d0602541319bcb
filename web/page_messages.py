"""A message for the next page, carried in its address after a redirect (`?error=...&sig=...`): shown only
when this site wrote it. A link that carries text of someone else's choosing ("your session expired, call
0900 ...") shows nothing on a staff page."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode

from hotline import secrets
from hotline.settings import Settings
from hotline.values import clean, same_secret

LONGEST = 300


def _signature(settings: Settings, text: str) -> str:
    key = secrets.value(settings, secrets.PAGE_MESSAGES).encode()
    return hmac.new(key, f"page-message:{text}".encode(), hashlib.sha256).hexdigest()[:32]


def carried(settings: Settings, text: str) -> str:
    """The query string that carries `text` to the next page."""
    text = clean(text, LONGEST)
    return urlencode({"error": text, "sig": _signature(settings, text)})


def shown(settings: Settings, query: dict[str, str] | object) -> str:
    """The message the address carries, if this site wrote it; '' otherwise."""
    get = getattr(query, "get", None)
    if get is None:
        return ""
    text, signature = str(get("error", "")), str(get("sig", ""))
    if not text or len(text) > LONGEST or not same_secret(signature, _signature(settings, text)):
        return ""
    return text
