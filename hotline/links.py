"""Links that open one request's follow page without the phone's digits: given to the citizen on the form's
answer page, by e-mail and by SMS, so they last (the key is the site's, in the secrets file)."""

from __future__ import annotations

import hashlib
import hmac

from hotline import secrets
from hotline.settings import Settings


def site_key(settings: Settings) -> bytes:
    return secrets.value(settings, secrets.FOLLOW_LINKS).encode()


def link_code(key: bytes, number: str) -> str:
    return hmac.new(key, f"follow:{number}".encode(), hashlib.sha256).hexdigest()[:24]


def follow_path(key: bytes, number: str) -> str:
    return f"/follow/{number}/k/{link_code(key, number)}"


def follow_url(settings: Settings, number: str) -> str:
    """The whole address, for a message read outside the site."""
    return settings.web.base_url + follow_path(site_key(settings), number)
