"""Device cookies: a browser in which a user once signed in carries a cookie the site signed for that user.
Wrong passwords sent without it count towards locking the account; with it, they are throttled for that
browser alone, and a locked account still opens there. So whoever guesses from elsewhere locks out
themselves, never the person at their own desk (OWASP's "device cookies")."""

from __future__ import annotations

import hashlib
import hmac
import secrets as random

from hotline import secrets
from hotline.settings import Settings
from hotline.values import same_secret

COOKIE = "hotline_device"
DAYS = 365


def _mac(settings: Settings, username: str, device: str) -> str:
    key = secrets.value(settings, secrets.DEVICE_COOKIES).encode()
    return hmac.new(key, f"device:{username.casefold()}:{device}".encode(), hashlib.sha256).hexdigest()[:32]


def issue(settings: Settings, username: str) -> str:
    """The cookie's value for a browser `username` just signed in from."""
    device = random.token_urlsafe(12)
    return f"{device}.{_mac(settings, username, device)}"


def recognised(settings: Settings, username: str, cookie: str) -> str:
    """The device's id if the cookie is one this site gave `username`'s browser; '' otherwise."""
    device, _, mac = cookie.partition(".")
    if not device or len(cookie) > 100 or not same_secret(mac, _mac(settings, username, device)):
        return ""
    return device
