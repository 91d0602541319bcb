"""A citizen's request by its number, with everything its pages show (history, contacts, files,
assignments), for the staff's pages and API and the citizen's follow page alike; 404 when there is none."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from hotline.db.models import CitizenRequest
from web.errors import not_found


async def load_request(session: AsyncSession, number: str) -> CitizenRequest:
    request = await session.scalar(
        select(CitizenRequest)
        .where(CitizenRequest.number == number)
        .options(
            selectinload(CitizenRequest.events),
            selectinload(CitizenRequest.contacts),
            selectinload(CitizenRequest.files),
            selectinload(CitizenRequest.assignments),
        )
    )
    if request is None:
        raise not_found("no such request")
    return request
