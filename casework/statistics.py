"""How agencies answer: per agency and per topic, the forwardings made in a period (one per agency a request
was sent to) and what became of them: answered on time, answered late, overdue now, still in time, returned
as not theirs; average time to answer and the citizens' average rating; and a ranking of agencies by their
share answered on time. The database aggregates (one GROUP BY over the period's assignments, by an index
on the forwarding time): a province's year is millions of rows.

Answered means the answer standing: one the center sent back does not count until the agency completes
it. Share on time is on time / (on time + late + overdue now): a request still within its time counts for
nobody yet."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db.models import CitizenRequest, RequestAssignment, RequestStatus
from hotline.db.sql import epoch_seconds

A = RequestAssignment


@dataclass(frozen=True)
class Figures:
    key: str  # the agency's or topic's name
    received: int
    on_time: int
    late: int
    overdue_now: int
    returned: int
    answer_seconds: float | None  # average, over the answered
    ratings: int
    rating: float | None  # average

    @property
    def pending(self) -> int:
        return self.received - self.on_time - self.late - self.overdue_now - self.returned

    @property
    def share_on_time(self) -> float | None:
        due = self.on_time + self.late + self.overdue_now
        return self.on_time / due if due else None

    def view(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "on_time": self.on_time,
            "late": self.late,
            "overdue_now": self.overdue_now,
            "pending": self.pending,
            "returned": self.returned,
            "share_on_time": None if self.share_on_time is None else round(self.share_on_time, 4),
            "average_answer_hours": None
            if self.answer_seconds is None
            else round(self.answer_seconds / 3600, 1),
            "ratings": self.ratings,
            "average_rating": None if self.rating is None else round(self.rating, 2),
        }


def _columns(now: datetime, dialect: str) -> list[Any]:
    answered = A.answered_at.is_not(None)
    still_open = and_(A.answered_at.is_(None), A.ended_at.is_(None))
    overdue = and_(
        still_open, (A.answer_due_at < now) | (and_(A.accepted_at.is_(None), A.accept_due_at < now))
    )

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    took = epoch_seconds(A.answered_at, dialect) - epoch_seconds(A.forwarded_at, dialect)
    return [
        func.count(),
        count(and_(answered, A.answered_at <= A.answer_due_at)),
        count(and_(answered, A.answered_at > A.answer_due_at)),
        count(overdue),
        count(and_(A.end == "returned", A.answered_at.is_(None))),
        func.avg(case((answered, took), else_=None)),
        func.count(A.rating),
        func.avg(A.rating),
    ]


def _figures(key: str, row: Any) -> Figures:
    received, on_time, late, overdue, returned, took, ratings, rating = row
    return Figures(
        key,
        int(received or 0),
        int(on_time or 0),
        int(late or 0),
        int(overdue or 0),
        int(returned or 0),
        None if took is None else float(took),
        int(ratings or 0),
        None if rating is None else float(rating),
    )


@dataclass(frozen=True)
class Statistics:
    since: datetime
    until: datetime
    requests: int  # received by the center in the period, whatever became of them
    rejected: int
    total: Figures
    per_agency: list[Figures]  # ranked: share on time, highest first; then most received
    per_topic: list[Figures]


async def statistics(
    db: async_sessionmaker[AsyncSession], since: datetime, until: datetime, now: datetime
) -> Statistics:
    """Forwardings made in [since, until), as they stand at `now`."""
    in_period = (A.forwarded_at >= since, A.forwarded_at < until)
    async with db() as session:
        columns = _columns(now, session.get_bind().dialect.name)
        agencies = [
            _figures(agency, row)
            for agency, *row in await session.execute(
                select(A.agency, *columns).where(*in_period).group_by(A.agency)
            )
        ]
        topics = [
            _figures(topic, row)
            for topic, *row in await session.execute(
                select(A.topic, *columns).where(*in_period).group_by(A.topic)
            )
        ]
        total = _figures("", (await session.execute(select(*columns).where(*in_period))).one())
        made = (CitizenRequest.created_at >= since, CitizenRequest.created_at < until)
        requests, rejected = (
            await session.execute(
                select(
                    func.count(),
                    func.sum(case((CitizenRequest.status == RequestStatus.REJECTED.value, 1), else_=0)),
                ).where(*made)
            )
        ).one()
    agencies.sort(
        key=lambda f: (-(f.share_on_time if f.share_on_time is not None else -1), -f.received, f.key)
    )
    topics.sort(key=lambda f: f.key)
    return Statistics(since, until, int(requests or 0), int(rejected or 0), total, agencies, topics)
