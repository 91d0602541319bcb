"""The IVR's case desk on the database: this call's case number, and what a caller who keys in a number
hears of it: the request's status when the center opened a request under it, else the call's case's."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from casework import citizen_status
from hotline.db.models import Case, CitizenRequest
from hotline.db.numbers import NumberAllocator, is_valid
from ivr.channel import CallInfo

REMEMBERED_CALLS = 10_000
# The longest a caller may wait for a case number: past it they hear none (their case still gets one).
NUMBER_WAIT_SECONDS = 1.5
# A request's status is heard as its prompt case_status_request_<status as the citizen is told it>
# (casework/citizen_status.py).
REQUEST_PROMPT = "request_{}"


class DatabaseCaseDesk:
    def __init__(
        self, sessions: async_sessionmaker[Any], block_size: int = 100, numbers: NumberAllocator | None = None
    ) -> None:
        self.sessions = sessions
        # The process's one allocator when it has one (shell/service.py): the web app's and the case
        # writer's numbers then come from the same block.
        self.numbers = numbers or NumberAllocator(sessions, block_size)
        # A caller who goes back and picks another topic keeps the number already read to them.
        self._issued: OrderedDict[str, str] = OrderedDict()

    async def reserve_case_number(self, call: CallInfo) -> str:
        if number := self._issued.get(call.linkedid):
            return number
        number = await self.numbers.next_number(wait=NUMBER_WAIT_SECONDS)
        self._issued[call.linkedid] = number
        while len(self._issued) > REMEMBERED_CALLS:
            self._issued.popitem(last=False)
        return number

    async def case_status(self, number: str) -> str | None:
        """None for a mistyped number (bad check digit) or one no request and no written case has."""
        if not is_valid(number):
            return None
        async with self.sessions() as session:
            request = await session.scalar(select(CitizenRequest).where(CitizenRequest.number == number))
            if request is not None:
                return REQUEST_PROMPT.format(citizen_status.shown(request).value)
            status = await session.scalar(select(Case.status).where(Case.number == number))
        return str(status) if status else None
