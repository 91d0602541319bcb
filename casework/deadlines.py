"""Chasing due times: requests whose agency has let the accept or answer time pass are escalated once to
the center's supervisors (their request lists show them first, flagged; mail goes out once the site has
it configured: shell/housekeeping.py sends it). Run every minute by `hotline serve`."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from casework import workflow as wf
from hotline.db.models import AuditEntry, CitizenRequest, RequestStatus
from hotline.settings import Settings


async def escalate_overdue(
    settings: Settings, db: async_sessionmaker[AsyncSession], at: datetime
) -> list[CitizenRequest]:
    """Escalate what became overdue since the last run; returns the requests escalated."""
    async with db() as session, session.begin():
        candidates = list(
            await session.scalars(
                select(CitizenRequest)
                .where(
                    CitizenRequest.escalated_at.is_(None),
                    or_(
                        (CitizenRequest.status == RequestStatus.FORWARDED.value)
                        & (CitizenRequest.accept_due_at <= at),
                        (CitizenRequest.status == RequestStatus.ACCEPTED.value)
                        & (CitizenRequest.answer_due_at <= at),
                    ),
                )
                .options(selectinload(CitizenRequest.events))
            )
        )
        escalated = wf.escalate(settings, candidates, at)
        for request in escalated:
            session.add(
                AuditEntry(
                    at=at,
                    actor="system:deadlines",
                    action="request.escalated",
                    target=request.number,
                    detail={"agency": request.agency, "status": request.status},
                )
            )
    return escalated
