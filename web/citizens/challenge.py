"""A question a person answers and a script must at least read: small sums, differences, products and
comparisons of numbers written in Vietnamese words, in several forms, answered in digits. It needs no
third-party service and no script in the browser; each question is signed (it cannot be made up) and used
up by its first answer, right or wrong (a script cannot try answers one after another).

It slows down naive scripts only: one written for these forms reads them. What bounds a determined sender
is the form's limits per address and per contact (web/portal.py), counted as each submission starts."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db.models import UsedChallenge
from hotline.values import same_secret

WORDS = ("không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín", "mười")
LIFETIME = 3600.0
PRUNE_EVERY = 256  # answers between two sweeps of the questions that expired


@dataclass(frozen=True)
class Question:
    text: str
    token: str


def _n(k: int) -> int:
    return secrets.randbelow(k)


def _sum() -> tuple[str, int]:
    a, b = _n(9) + 1, _n(9) + 1
    form = ("{a} cộng {b} bằng bao nhiêu?", "Lấy {a} thêm {b} được mấy?", "Tổng của {a} và {b} là bao nhiêu?")
    return form[_n(3)].format(a=WORDS[a], b=WORDS[b]), a + b


def _difference() -> tuple[str, int]:
    a, b = _n(6) + 5, _n(5) + 1
    form = ("{a} trừ {b} còn bao nhiêu?", "Có {a} quả cam, ăn {b} quả, còn mấy quả?")
    return form[_n(2)].format(a=WORDS[a], b=WORDS[b]), a - b


def _product() -> tuple[str, int]:
    a, b = _n(4) + 2, _n(4) + 2
    return f"{WORDS[a]} nhân {WORDS[b]} bằng bao nhiêu?", a * b


def _larger() -> tuple[str, int]:
    a, b = secrets.SystemRandom().sample(range(1, 11), 2)
    return f"Trong hai số {WORDS[a]} và {WORDS[b]}, số nào lớn hơn?", max(a, b)


def _next() -> tuple[str, int]:
    a = _n(10)
    return f"Số liền sau số {WORDS[a]} là số mấy?", a + 1


FORMS: tuple[Callable[[], tuple[str, int]], ...] = (_sum, _difference, _product, _larger, _next)


def _mac(key: bytes, body: str) -> str:
    return hmac.new(key, f"challenge:{body}".encode(), hashlib.sha256).hexdigest()[:32]


def ask(key: bytes, now: float | None = None) -> Question:
    """A question signed with the site's key (from the secrets file every center shares): any center
    checks the answer."""
    text, answer = FORMS[_n(len(FORMS))]()
    until = int((now if now is not None else time.time()) + LIFETIME)
    nonce = secrets.token_hex(8)
    # Two signatures: one says the token is ours (so any answer uses it up), one says which answer is right.
    token = f"{until}.{nonce}.{_mac(key, f'token.{until}.{nonce}')}.{_mac(key, f'{answer}.{until}.{nonce}')}"
    return Question(text[0].upper() + text[1:], token)


class Answers:
    """Checks answers; a question is used up in the database (every center's), until it would have expired
    anyway."""

    def __init__(self, db: async_sessionmaker[AsyncSession], key: bytes) -> None:
        self.db, self.key = db, key
        self._checks = 0

    async def check(self, token: str, answer: str, now: float | None = None) -> bool:
        now = now if now is not None else time.time()
        parts = token.split(".")
        if len(parts) != 4 or not parts[0].isdigit() or len(parts[0]) > 12:
            return False
        until, nonce, ours, right = int(parts[0]), parts[1], parts[2], parts[3]
        if not same_secret(ours, _mac(self.key, f"token.{until}.{nonce}")) or now > until:
            return False
        if not await self._use_up(nonce[:32], datetime.fromtimestamp(until, UTC), now):
            return False
        given = answer.strip()
        if not (given.isascii() and given.isdigit() and len(given) <= 4):
            return False
        return same_secret(right, _mac(self.key, f"{int(given)}.{until}.{nonce}"))

    async def _use_up(self, nonce: str, until: datetime, now: float) -> bool:
        """True the first time a question is answered (whatever the answer), on any center."""
        self._checks += 1
        try:
            async with self.db() as session, session.begin():
                session.add(UsedChallenge(nonce=nonce, until=until))
                await session.flush()
                if self._checks % PRUNE_EVERY == 1:
                    await session.execute(
                        delete(UsedChallenge).where(UsedChallenge.until < datetime.fromtimestamp(now, UTC))
                    )
        except IntegrityError:
            return False
        return True
