"""Growing delays between wrong passwords, per account and per address: three tries are free, then each
wrong one closes the door for twice as long as the last (2 s, 4 s, ... up to 15 min). A guess made while
the door is closed is not even checked. Kept in memory: a restart forgets the delays, never the lockout,
which is on the account (web/auth.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

FREE_TRIES = 3
LONGEST = 900.0
FORGET_AFTER = 3600.0  # a key with no wrong password for an hour starts afresh
MOST_KEYS = 100_000  # beyond this, keys are forgotten oldest first: an attacker cannot fill the memory


@dataclass
class _Record:
    failures: int
    last: float
    closed_until: float


class Throttle:
    def __init__(self, clock: Callable[[], float] = time.monotonic, free_tries: int = FREE_TRIES) -> None:
        self._clock = clock
        self.free_tries = free_tries
        self._keys: dict[str, _Record] = {}

    def wait(self, keys: list[str]) -> float:
        """Seconds until any of these keys may try again (0: now)."""
        now = self._clock()
        return max((max(0.0, r.closed_until - now) for k in keys if (r := self._keys.get(k))), default=0.0)

    def failed(self, keys: list[str]) -> None:
        now = self._clock()
        for key in keys:
            record = self._keys.pop(key, None)
            if record is None or now - record.last > FORGET_AFTER:
                record = _Record(0, now, now)
            record.failures += 1
            record.last = now
            extra = record.failures - self.free_tries
            record.closed_until = now + (min(LONGEST, 2.0**extra) if extra > 0 else 0.0)
            self._keys[key] = record  # re-inserted: the dict stays ordered by last failure
        while len(self._keys) > MOST_KEYS:
            del self._keys[next(iter(self._keys))]

    def succeeded(self, key: str) -> None:
        self._keys.pop(key, None)


class RateLimit:
    """At most `limit` events per key within `window` seconds (a sliding window), in memory."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self._clock = limit, window, clock
        self._events: dict[str, list[float]] = {}

    def wait(self, key: str) -> float:
        """Seconds until key may have one more (0: now)."""
        now = self._clock()
        recent = [t for t in self._events.get(key, []) if now - t < self.window]
        if recent:
            self._events[key] = recent
        else:
            self._events.pop(key, None)
        return 0.0 if len(recent) < self.limit else recent[0] + self.window - now

    def add(self, key: str) -> None:
        self._events.setdefault(key, []).append(self._clock())
        while len(self._events) > MOST_KEYS:
            del self._events[next(iter(self._events))]
