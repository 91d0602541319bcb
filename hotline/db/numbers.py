"""Human case numbers: a sequence with a Luhn check digit, so a mistyped number is refused instead of
finding someone else's case. At least 8 digits (1000000 + sequence, then the check digit); longer only past
nine million cases."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import async_sessionmaker

from hotline.db.models import CaseNumberCounter

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
    the IVR does not touch the database on every call. Numbers left in a block when a process stops are
    never used; numbers need to be unique, not contiguous."""

    def __init__(self, sessions: async_sessionmaker[Any], block_size: int = 100) -> None:
        self.sessions = sessions
        self.block_size = block_size
        self._next = 0
        self._end = 0
        self._lock = asyncio.Lock()

    async def next_number(self) -> str:
        async with self._lock:
            if self._next >= self._end:
                self._next, self._end = await self._take_block()
            sequence = self._next
            self._next += 1
        return case_number(sequence)

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
