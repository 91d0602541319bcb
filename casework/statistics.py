"""How agencies answer: per agency and per topic, the forwardings made in a period (one per agency a request
was sent to) and what became of them: answered on time, answered late, overdue now, still in time, returned
as not theirs; average time to answer and the citizens' average rating; and a ranking of agencies by their
share answered on time. The database aggregates (one GROUP BY over the period's assignments, by an index
on the forwarding time): a province's year is millions of rows.

Answered means the answer standing: one the center sent back does not count until the agency completes
it. Share on time is on time / (on time + late + overdue now): a request still within its time counts for
nobody yet."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from casework.workflow import END_NOT_FIXABLE, END_RETURNED
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
    in_progress: int = 0  # accepted and not answered yet (overdue or not)
    not_fixable: int = 0  # answered, approved, as "it cannot be done"

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
            "in_progress": self.in_progress,
            "not_fixable": self.not_fixable,
            "share_on_time": None if self.share_on_time is None else round(self.share_on_time, 4),
            "average_answer_hours": None
            if self.answer_seconds is None
            else round(self.answer_seconds / 3600, 1),
            "ratings": self.ratings,
            "average_rating": None if self.rating is None else round(self.rating, 2),
        }


@dataclass
class _Sums:
    """What adds up across groups: counts, and sums with their counts (the averages are taken last)."""

    received: int = 0
    on_time: int = 0
    late: int = 0
    overdue_now: int = 0
    returned: int = 0
    took: float = 0.0
    ratings: int = 0
    rating_sum: float = 0.0
    in_progress: int = 0
    not_fixable: int = 0

    def add(self, row: Any) -> None:
        received, on_time, late, overdue, returned, took, ratings, rating_sum, in_progress, not_fixable = row
        self.in_progress += int(in_progress or 0)
        self.not_fixable += int(not_fixable or 0)
        self.received += int(received or 0)
        self.on_time += int(on_time or 0)
        self.late += int(late or 0)
        self.overdue_now += int(overdue or 0)
        self.returned += int(returned or 0)
        self.took += float(took or 0)
        self.ratings += int(ratings or 0)
        self.rating_sum += float(rating_sum or 0)

    def figures(self, key: str) -> Figures:
        answered = self.on_time + self.late
        return Figures(
            key,
            self.received,
            self.on_time,
            self.late,
            self.overdue_now,
            self.returned,
            self.took / answered if answered else None,
            self.ratings,
            self.rating_sum / self.ratings if self.ratings else None,
            self.in_progress,
            self.not_fixable,
        )


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
        count(A.end == END_RETURNED),
        func.sum(case((answered, took), else_=None)),
        func.count(A.rating),
        func.sum(A.rating),
        count(and_(still_open, A.accepted_at.is_not(None))),
        count(A.end == END_NOT_FIXABLE),
    ]


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
    agencies: dict[str, _Sums] = defaultdict(_Sums)
    topics: dict[str, _Sums] = defaultdict(_Sums)
    total = _Sums()
    async with db() as session:
        # One pass over the period's forwardings, by agency and topic (a few hundred groups); the agencies',
        # the topics' and the total figures are added up from them.
        grouped = select(A.agency, A.topic, *_columns(now, session.get_bind().dialect.name))
        for agency, topic, *row in await session.execute(
            grouped.where(*in_period).group_by(A.agency, A.topic)
        ):
            agencies[agency].add(row)
            topics[topic].add(row)
            total.add(row)
        made = (CitizenRequest.created_at >= since, CitizenRequest.created_at < until)
        requests, rejected = (
            await session.execute(
                select(
                    func.count(),
                    func.sum(case((CitizenRequest.status == RequestStatus.REJECTED.value, 1), else_=0)),
                ).where(*made)
            )
        ).one()
    per_agency = [sums.figures(key) for key, sums in agencies.items()]
    per_agency.sort(
        key=lambda f: (-(f.share_on_time if f.share_on_time is not None else -1), -f.received, f.key)
    )
    per_topic = [sums.figures(key) for key, sums in sorted(topics.items())]
    return Statistics(
        since, until, int(requests or 0), int(rejected or 0), total.figures(""), per_agency, per_topic
    )
