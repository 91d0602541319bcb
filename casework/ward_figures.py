"""The requests of a period by ward, for the maps: how many each ward had, how many are still open and
overdue, how many were answered, closed without being fixed, or merged into another. One GROUP BY over the
period's requests (an index on ward and creation time); an agency's map counts the requests it was sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from casework import workflow as wf
from hotline.db.models import AnswerOutcome, CitizenRequest, RequestAssignment
from hotline.db.models import RequestStatus as S

R = CitizenRequest


@dataclass(frozen=True)
class WardFigures:
    ward_code: str  # "" for the requests no ward could be told for
    received: int
    open: int
    overdue: int
    answered: int
    not_fixed: int
    merged: int

    def view(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "open": self.open,
            "overdue": self.overdue,
            "answered": self.answered,
            "not_fixed": self.not_fixed,
            "merged": self.merged,
        }


async def by_ward(
    db: async_sessionmaker[AsyncSession], since: datetime, until: datetime, now: datetime, agency: str = ""
) -> list[WardFigures]:
    """Requests opened in [since, until) by ward, as they stand at `now`; with `agency`, those it was
    sent in that period or has now."""

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    still_open = R.status.in_([s.value for s in wf.OPEN])
    closed = R.status == S.CLOSED.value
    stmt = select(
        R.ward_code,
        func.count(),
        count(still_open),
        count(and_(still_open, R.due_at < now)),
        count(and_(closed, R.outcome != AnswerOutcome.NOT_FIXABLE.value)),
        count(and_(closed, R.outcome == AnswerOutcome.NOT_FIXABLE.value)),
        count(R.status == S.MERGED.value),
    ).where(R.created_at >= since, R.created_at < until)
    if agency:
        sent = select(RequestAssignment.request_id).where(RequestAssignment.agency == agency)
        stmt = stmt.where((R.agency == agency) | R.id.in_(sent))
    async with db() as session:
        rows = await session.execute(stmt.group_by(R.ward_code).order_by(R.ward_code))
        return [WardFigures(code, *(int(v or 0) for v in values)) for code, *values in rows]
