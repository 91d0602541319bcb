"""Call statistics: today's per-queue counters for the wallboard (loaded once, then moved by each case the
bridge closes) and reports over any range of days (from the cases table)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ami_bridge.calls import Call
from hotline.cases import day_bounds
from hotline.db.models import Case, Outcome
from hotline.db.sql import epoch_seconds

ABANDONED = frozenset({Outcome.ABANDONED_QUEUE.value})
RATINGS = frozenset("12345")


@dataclass
class Tally:
    offered: int = 0  # calls that reached the queue
    answered: int = 0
    abandoned: int = 0
    within_sl: int = 0
    wait_answered: float = 0.0
    talk: float = 0.0
    ratings: int = 0  # callers who rated their call by keypad after the agent hung up
    rating_sum: int = 0

    def add(
        self, outcome: str, queued: bool, wait: float | None, talk: float | None, sl: int, rating: str = ""
    ) -> None:
        if not queued:
            return
        if rating in RATINGS:
            self.ratings += 1
            self.rating_sum += int(rating)
        self.offered += 1
        if outcome == Outcome.ANSWERED.value:
            self.answered += 1
            self.wait_answered += wait or 0.0
            self.talk += talk or 0.0
            if (wait or 0.0) <= sl:
                self.within_sl += 1
        elif outcome in ABANDONED:
            self.abandoned += 1

    def view(self) -> dict[str, Any]:
        return {
            "offered": self.offered,
            "answered": self.answered,
            "abandoned": self.abandoned,
            "service_level": round(100 * self.within_sl / self.answered, 1) if self.answered else None,
            "average_answer": round(self.wait_answered / self.answered, 1) if self.answered else None,
            "average_handle": round(self.talk / self.answered, 1) if self.answered else None,
            "ratings": self.ratings,
            "average_rating": round(self.rating_sum / self.ratings, 2) if self.ratings else None,
        }


@dataclass
class Today:
    """Per-queue tallies for the site's current day. They start from zero at the site's midnight: every
    reader and every new case first checks the day (a process that was down at midnight loads the day
    from the cases when it starts)."""

    tz: ZoneInfo
    service_level_seconds: int
    day: date | None = None
    queues: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def today(self) -> date:
        return self.clock().astimezone(self.tz).date()

    async def load(self, db: async_sessionmaker[AsyncSession]) -> None:
        day = self.today()
        queues: dict[str, Tally] = defaultdict(Tally)
        since, until = day_bounds(day, self.tz)
        async with db() as session:
            rows = await session.execute(
                select(
                    Case.queue,
                    Case.outcome,
                    Case.queued_at,
                    Case.wait_seconds,
                    Case.talk_seconds,
                    Case.rating,
                ).where(Case.started_at >= since, Case.started_at < until, Case.ended_at.is_not(None))
            )
            for queue, outcome, queued_at, wait, talk, rating in rows:
                queues[queue].add(
                    outcome, queued_at is not None, wait, talk, self.service_level_seconds, rating
                )
        self.day, self.queues = day, queues

    def roll(self) -> None:
        """Past the site's midnight, start the new day from zero."""
        day = self.today()
        if day != self.day:
            self.day, self.queues = day, defaultdict(Tally)

    def add(self, call: Call) -> None:
        """The case writer's callback: a call that ended counts at once."""
        if call.ended_at is None or not call.queue:
            return
        self.roll()
        if call.started_at.astimezone(self.tz).date() != self.day:
            return  # a call of yesterday written late: yesterday's reports count it
        wait = call.wait_seconds
        self.queues[call.queue].add(
            call.outcome().value,
            call.queued_at is not None,
            wait,
            call.talk_seconds,
            self.service_level_seconds,
            call.variable("rating"),
        )

    def view(self) -> dict[str, dict[str, Any]]:
        self.roll()
        return {name: tally.view() for name, tally in self.queues.items()}


# Reports are aggregated by the database, not on the event loop that every call shares: calls are grouped
# by the site's hour of day when the site's clock kept one offset over the period (24 groups), else by
# quarter hour of UTC (exact for every zone whose offset is a whole number of quarter hours).
QUARTER = 900


def _fixed_offset(tz: ZoneInfo, since: datetime, until: datetime) -> int | None:
    """The zone's UTC offset in seconds if it did not change between since and until (checked day by day:
    a summer time lasts months), else None."""
    offsets: set[timedelta | None] = set()
    day = since
    while day <= until and len(offsets) < 2:
        offsets.add(day.astimezone(tz).utcoffset())
        day += timedelta(days=1)
    offsets.add(until.astimezone(tz).utcoffset())
    if len(offsets) != 1:
        return None
    only = offsets.pop()
    return int(only.total_seconds()) if only is not None else None


def _tally_columns(sl: int) -> list[Any]:
    queued = Case.queued_at.is_not(None)
    answered = and_(queued, Case.outcome == Outcome.ANSWERED.value)
    wait = func.coalesce(Case.wait_seconds, 0.0)

    def count(condition: Any) -> Any:
        return func.sum(case((condition, 1), else_=0))

    return [
        count(queued),
        count(answered),
        count(and_(queued, Case.outcome.in_(ABANDONED))),
        count(and_(answered, wait <= sl)),
        func.sum(case((answered, wait), else_=0.0)),
        func.sum(case((answered, func.coalesce(Case.talk_seconds, 0.0)), else_=0.0)),
        func.count(),
        count(Case.rating.in_(sorted(RATINGS))),
        func.sum(case((Case.rating.in_(sorted(RATINGS)), cast(Case.rating, Integer)), else_=0)),
    ]


def _merge(tally: Tally, row: Any) -> int:
    offered, answered, abandoned, within, wait, talk, calls, ratings, rating_sum = row
    tally.ratings += int(ratings or 0)
    tally.rating_sum += int(rating_sum or 0)
    tally.offered += int(offered or 0)
    tally.answered += int(answered or 0)
    tally.abandoned += int(abandoned or 0)
    tally.within_sl += int(within or 0)
    tally.wait_answered += float(wait or 0.0)
    tally.talk += float(talk or 0.0)
    return int(calls or 0)


async def report(
    db: async_sessionmaker[AsyncSession], first: date, last: date, tz: ZoneInfo, sl: int
) -> dict[str, Any]:
    """Offered, answered and abandoned per hour of the day, per topic and per agent; service level and
    average wait and handle times, for the days first..last (site time)."""
    since, _ = day_bounds(first, tz)
    _, until = day_bounds(last, tz)
    hours: dict[int, Tally] = defaultdict(Tally)
    topics: dict[str, Tally] = defaultdict(Tally)
    agents: dict[str, Tally] = defaultdict(Tally)
    names: dict[str, str] = {}
    total = Tally()
    calls = 0
    ended = (Case.started_at >= since, Case.started_at < until, Case.ended_at.is_not(None))
    async with db() as session:
        dialect = session.get_bind().dialect.name
        epoch = epoch_seconds(Case.started_at, dialect)
        offset = _fixed_offset(tz, since, until)
        tallies = _tally_columns(sl)
        if offset is not None:  # the site's clock kept one offset over the period: 24 groups
            hour = (((epoch + offset) // 3600) % 24).label("hour")
            for h, *row in await session.execute(select(hour, *tallies).where(*ended).group_by(hour)):
                calls += _merge(hours[int(h)], row)
                _merge(total, row)
        else:
            quarter = (epoch // QUARTER).label("quarter")
            for q, *row in await session.execute(select(quarter, *tallies).where(*ended).group_by(quarter)):
                start = datetime.fromtimestamp(int(q) * QUARTER, UTC)
                calls += _merge(hours[start.astimezone(tz).hour], row)
                _merge(total, row)
        for topic, *row in await session.execute(
            select(Case.topic, *tallies).where(*ended).group_by(Case.topic)
        ):
            _merge(topics[topic.split(".")[0] or "-"], row)
        by_agent = select(Case.agent, Case.agent_name, *tallies).where(*ended, Case.agent != "")
        for agent, agent_name, *row in await session.execute(by_agent.group_by(Case.agent, Case.agent_name)):
            names[agent] = agent_name
            _merge(agents[agent], row)
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "calls": calls,
        "total": total.view(),
        "per_hour": [{"hour": h, **hours[h].view()} for h in range(24)],
        "per_topic": [{"topic": t, **v.view()} for t, v in sorted(topics.items())],
        "per_agent": [{"agent": a, "name": names[a], **v.view()} for a, v in sorted(agents.items())],
    }
