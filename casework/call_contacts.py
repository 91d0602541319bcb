"""A call about a request (an agent called the citizen back from the request's page) becomes one of the
request's contacts when the call's case is written."""

from __future__ import annotations

from sqlalchemy import exists, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.closed_calls import ClosedCall
from hotline.db.models import CitizenRequest, RequestContact, UTCDateTime, table

REQUESTS = table(CitizenRequest)
CONTACTS = table(RequestContact)


async def note_call_back(session: AsyncSession, call: ClosedCall) -> None:
    """Once per call (a second hang-up report of the same call adds none; a request retention deleted
    meanwhile gets none)."""
    if not call.request_number:
        return
    known = select(CONTACTS.c.id).where(
        CONTACTS.c.request_id == REQUESTS.c.id, CONTACTS.c.case_id == call.case_id
    )
    await session.execute(
        insert(CONTACTS).from_select(
            ["request_id", "case_id", "channel", "at", "note"],
            select(
                REQUESTS.c.id,
                literal(call.case_id),
                literal("call"),
                literal(call.ended_at, UTCDateTime()),
                literal("call back"),
            ).where(REQUESTS.c.number == call.request_number, ~exists(known)),
        )
    )
