"""Call statistics: today's per-queue counters for the wallboard (loaded once, then moved by each case the
bridge closes) and reports over any range of days (from the cases table)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ami_bridge.calls import Call
from hotline.db.models import Case, Outcome

ABANDONED = frozenset({Outcome.ABANDONED_QUEUE.value})


@dataclass
class Tally:
    offered: int = 0  # calls that reached the queue
    answered: int = 0
    abandoned: int = 0
    within_sl: int = 0
    wait_answered: float = 0.0
    talk: float = 0.0

    def add(self, outcome: str, queued: bool, wait: float | None, talk: float | None, sl: int) -> None:
        if not queued:
            return
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
        }


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tz)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


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
                select(Case.queue, Case.outcome, Case.queued_at, Case.wait_seconds, Case.talk_seconds).where(
                    Case.started_at >= since, Case.started_at < until, Case.ended_at.is_not(None)
                )
            )
            for queue, outcome, queued_at, wait, talk in rows:
                queues[queue].add(outcome, queued_at is not None, wait, talk, self.service_level_seconds)
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
        )

    def view(self) -> dict[str, dict[str, Any]]:
        self.roll()
        return {name: tally.view() for name, tally in self.queues.items()}


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
    total = Tally()
    calls = 0
    async with db() as session:
        rows = await session.execute(
            select(
                Case.started_at,
                Case.topic,
                Case.agent,
                Case.agent_name,
                Case.outcome,
                Case.queued_at,
                Case.wait_seconds,
                Case.talk_seconds,
            ).where(Case.started_at >= since, Case.started_at < until, Case.ended_at.is_not(None))
        )
        names: dict[str, str] = {}
        for started, topic, agent, agent_name, outcome, queued_at, wait, talk in rows:
            calls += 1
            queued = queued_at is not None
            for tally in (hours[started.astimezone(tz).hour], topics[topic.split(".")[0] or "-"], total):
                tally.add(outcome, queued, wait, talk, sl)
            if agent:
                names[agent] = agent_name
                agents[agent].add(outcome, queued, wait, talk, sl)
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "calls": calls,
        "total": total.view(),
        "per_hour": [{"hour": h, **hours[h].view()} for h in range(24)],
        "per_topic": [{"topic": t, **v.view()} for t, v in sorted(topics.items())],
        "per_agent": [{"agent": a, "name": names[a], **v.view()} for a, v in sorted(agents.items())],
    }
