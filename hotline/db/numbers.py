"""Human case numbers: a sequence with a Luhn check digit, so a mistyped number is refused instead of
finding someone else's case. At least 8 digits (1000000 + sequence, then the check digit); longer only past
nine million cases."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker

from hotline.db.models import CaseNumberCounter

log = logging.getLogger(__name__)

BASE = 1_000_000


def luhn_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:  # doubled: the digit next to the check digit, then every other one
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str((10 - total % 10) % 10)


def case_number(sequence: int) -> str:
    body = str(BASE + sequence)
    return body + luhn_digit(body)


def is_valid(number: str) -> bool:
    return len(number) >= 8 and number.isdigit() and luhn_digit(number[:-1]) == number[-1]


class NumberAllocator:
    """Hands out case numbers from blocks of the shared counter: one database round trip per block, so
    the IVR does not touch the database on every call. The next block is reserved in the background while
    half of the current one is left, so a caller never waits for the database while numbers remain: a
    database that is locked or slow for a while is not heard on the line. Numbers left in a block when a
    process stops are never used; numbers need to be unique, not contiguous."""

    def __init__(self, sessions: async_sessionmaker[Any], block_size: int = 100) -> None:
        self.sessions = sessions
        self.block_size = block_size
        self._next = 0
        self._end = 0
        self._spare: tuple[int, int] | None = None
        self._refill: asyncio.Task[None] | None = None

    @property
    def available(self) -> int:
        spare = self._spare[1] - self._spare[0] if self._spare else 0
        return self._end - self._next + spare

    async def next_number(self, wait: float | None = None) -> str:
        """The next number; with `wait`, raise TimeoutError rather than wait longer for the database
        (the reservation goes on in the background for the next caller)."""
        if self._next >= self._end:
            if self._spare is None:
                await asyncio.wait_for(asyncio.shield(self.reserve()), wait)
            if self._next >= self._end and self._spare is not None:
                (self._next, self._end), self._spare = self._spare, None
        if self._next >= self._end:  # another caller took the last one while this one waited
            return await self.next_number(wait)
        sequence = self._next
        self._next += 1
        if self._end - self._next < self.block_size // 2 and self._spare is None:
            self.reserve()  # ahead of need, in the background
        return case_number(sequence)

    def reserve(self) -> asyncio.Task[None]:
        """Reserve the next block (one task at a time; awaiting it raises if the database failed)."""
        if self._refill is None or self._refill.done():
            self._refill = asyncio.create_task(self._take_spare(), name="case-number-block")
            self._refill.add_done_callback(_log_failure)
        return self._refill

    async def _take_spare(self) -> None:
        if self._spare is None:
            self._spare = await self._take_block()

    async def _take_block(self) -> tuple[int, int]:
        stmt = (
            update(CaseNumberCounter)
            .where(CaseNumberCounter.id == 1)
            .values(next_value=CaseNumberCounter.next_value + self.block_size)
            .returning(CaseNumberCounter.next_value)
        )
        async with self.sessions() as session, session.begin():
            end = await session.scalar(stmt)
        if end is None:
            raise RuntimeError("case_number_counter has no row; run 'hotline db upgrade'")
        return end - self.block_size, end


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning(
            "reserving case numbers failed: %s (tried again when a number is next needed)", task.exception()
        )
