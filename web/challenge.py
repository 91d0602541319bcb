"""A question a person answers and a script must at least read: a sum of two small numbers written in
Vietnamese words, answered in digits. It needs no third-party service and no script in the browser; each
question is signed (it cannot be made up) and answered once (it cannot be replayed)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from hotline.values import same_secret

WORDS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín", "mười")
LIFETIME = 3600.0
_KEY = secrets.token_bytes(32)  # per process: a question outlives no restart, which costs a reload


@dataclass(frozen=True)
class Question:
    text: str
    token: str


def ask(now: float | None = None) -> Question:
    a, b = secrets.randbelow(9) + 1, secrets.randbelow(9) + 1
    until = int((now if now is not None else time.time()) + LIFETIME)
    nonce = secrets.token_hex(8)
    body = f"{a + b}.{until}.{nonce}"
    mac = hmac.new(_KEY, body.encode(), hashlib.sha256).hexdigest()[:32]
    return Question(f"{WORDS[a].capitalize()} cộng {WORDS[b]} bằng bao nhiêu?", f"{until}.{nonce}.{mac}")


class Answers:
    """Checks answers; remembers the questions answered until they would have expired anyway."""

    def __init__(self) -> None:
        self._used: dict[str, float] = {}

    def check(self, token: str, answer: str, now: float | None = None) -> bool:
        now = now if now is not None else time.time()
        parts = token.split(".")
        if len(parts) != 3 or not parts[0].isdigit() or not answer.strip().isdigit():
            return False
        until, nonce, mac = int(parts[0]), parts[1], parts[2]
        body = f"{int(answer.strip())}.{until}.{nonce}"
        good = hmac.new(_KEY, body.encode(), hashlib.sha256).hexdigest()[:32]
        if not same_secret(good, mac) or now > until or nonce in self._used:
            return False
        self._used = {n: t for n, t in self._used.items() if t >= now}
        self._used[nonce] = until
        return True
