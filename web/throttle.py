"""Limits on what the public may try, kept in the database so that every center counts the same tries: an
attacker who spreads guesses over several centers gets no more than from one.

- `Throttle`: growing delays between wrong passwords (or wrong follow pairs), per key. Three tries are
  free, then each wrong one closes the door for twice as long as the last (2 s, 4 s, ... up to 15 min). A
  guess made while the door is closed is not even checked. The lockout itself is on the account
  (web/auth.py).
- `RateLimit`: at most `limit` events per key within `window` seconds (a sliding window); `take` looks
  and counts in one step, so submissions sent at once cannot all pass before the first is counted.

Keys are stored as keyed hashes (the site's secret): the tables say how often, never who. Old marks are
pruned as new ones are written, so a flood of distinct keys costs rows for an hour at most."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db.leases import lock_key
from hotline.db.models import RateMark, ThrottleMark

FREE_TRIES = 3
LONGEST = 900.0
FORGET_AFTER = 3600.0  # a key with no wrong try for an hour starts afresh
PRUNE_EVERY = 256  # writes between two sweeps of marks no limit needs any more

Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


class _Keyed:
    def __init__(self, db: async_sessionmaker[AsyncSession], scope: str, secret: bytes, clock: Clock) -> None:
        self.db, self.scope, self._secret, self._clock = db, scope, secret, clock
        bind = db.kw.get("bind")
        self._postgres = bind is not None and bind.dialect.name == "postgresql"
        # On SQLite (one process, no row locks) this process's looks and counts go one at a time; on
        # PostgreSQL each key's transaction takes an advisory lock instead (`_lock`), which holds across
        # centers and leaves other keys alone.
        self._serial: contextlib.AbstractAsyncContextManager[object] = (
            contextlib.nullcontext() if self._postgres else asyncio.Lock()
        )
        self._writes = 0

    def hidden(self, key: str) -> str:
        return hmac.new(self._secret, f"{self.scope}:{key}".encode(), hashlib.sha256).hexdigest()

    async def _lock(self, session: AsyncSession, key: str) -> None:
        """Across centers: one transaction at a time per key (PostgreSQL; SQLite has one writer anyway)."""
        if self._postgres:
            await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(key)})

    def _due_for_pruning(self) -> bool:
        self._writes += 1
        return self._writes % PRUNE_EVERY == 1


class Throttle(_Keyed):
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        scope: str,
        secret: bytes,
        *,
        free_tries: int = FREE_TRIES,
        clock: Clock = _now,
    ) -> None:
        super().__init__(db, scope, secret, clock)
        self.free_tries = free_tries

    async def wait(self, keys: list[str]) -> float:
        """Seconds until any of these keys may try again (0: now)."""
        now = self._clock()
        async with self.db() as session:
            until = await session.scalar(
                select(func.max(ThrottleMark.closed_until)).where(
                    ThrottleMark.scope == self.scope, ThrottleMark.key.in_([self.hidden(k) for k in keys])
                )
            )
        return max(0.0, (until - now).total_seconds()) if until is not None else 0.0

    async def failed(self, keys: list[str]) -> None:
        now = self._clock()
        async with self._serial, self.db() as session, session.begin():
            for key in keys:
                hidden = self.hidden(key)
                await self._lock(session, hidden)
                mark = await session.get(ThrottleMark, (self.scope, hidden))
                if mark is None:
                    mark = ThrottleMark(
                        scope=self.scope, key=hidden, failures=0, last_at=now, closed_until=now
                    )
                    session.add(mark)
                elif (now - mark.last_at).total_seconds() > FORGET_AFTER:
                    mark.failures = 0
                mark.failures += 1
                mark.last_at = now
                extra = mark.failures - self.free_tries
                mark.closed_until = now + timedelta(seconds=min(LONGEST, 2.0**extra) if extra > 0 else 0.0)
            if self._due_for_pruning():
                await session.execute(
                    delete(ThrottleMark).where(ThrottleMark.last_at < now - timedelta(seconds=FORGET_AFTER))
                )

    async def succeeded(self, key: str) -> None:
        async with self.db() as session, session.begin():
            await session.execute(
                delete(ThrottleMark).where(
                    ThrottleMark.scope == self.scope, ThrottleMark.key == self.hidden(key)
                )
            )


class RateLimit(_Keyed):
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        scope: str,
        secret: bytes,
        limit: int,
        window: float,
        *,
        clock: Clock = _now,
    ) -> None:
        super().__init__(db, scope, secret, clock)
        self.limit, self.window = limit, window

    async def take(self, key: str) -> float:
        """Count one event for `key` if the limit allows it now (0.0), else the seconds until it would
        (nothing counted)."""
        now = self._clock()
        since = now - timedelta(seconds=self.window)
        hidden = self.hidden(key)
        async with self._serial, self.db() as session, session.begin():
            await self._lock(session, hidden)
            recent = list(
                await session.scalars(
                    select(RateMark.at)
                    .where(RateMark.scope == self.scope, RateMark.key == hidden, RateMark.at > since)
                    .order_by(RateMark.at)
                    .limit(self.limit)
                )
            )
            if len(recent) >= self.limit:
                return max(0.001, (recent[0] + timedelta(seconds=self.window) - now).total_seconds())
            await session.execute(insert(RateMark).values(scope=self.scope, key=hidden, at=now))
            if self._due_for_pruning():
                await session.execute(
                    delete(RateMark).where(RateMark.scope == self.scope, RateMark.at <= since)
                )
        return 0.0

    async def forget(self, key: str) -> None:
        """Start the key afresh (an operator's or a test's word)."""
        async with self.db() as session, session.begin():
            await session.execute(
                delete(RateMark).where(RateMark.scope == self.scope, RateMark.key == self.hidden(key))
            )
