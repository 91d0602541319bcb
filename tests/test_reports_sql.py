"""Reports are aggregated by the database (SQLite and PostgreSQL): the same figures as counting the cases
one by one in the site's time zone, for calls of every outcome spread over days and hours."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert

from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import Case
from web.stats import Tally, report

SITE = ZoneInfo("Asia/Ho_Chi_Minh")
OUTCOMES = ["answered", "answered", "abandoned_queue", "abandoned_ivr", "overflow", "voicemail"]


def cases(count: int) -> list[dict[str, object]]:
    rng = random.Random(1022)
    start = datetime(2026, 11, 1, tzinfo=SITE).astimezone(UTC)
    rows = []
    for i in range(count):
        started = start + timedelta(seconds=rng.randrange(0, 30 * 86400))
        outcome = rng.choice(OUTCOMES)
        queued = outcome != "abandoned_ivr"
        answered = outcome == "answered"
        rows.append(
            {
                "number": f"n{i}",
                "linkedid": f"r.{i}",
                "caller": "0912345678",
                "caller_name": "",
                "did": "1022",
                "started_at": started,
                "ended_at": started + timedelta(seconds=120),
                "queued_at": started + timedelta(seconds=20) if queued else None,
                "wait_seconds": rng.choice([None, rng.uniform(0, 60)]) if queued else None,
                "talk_seconds": rng.uniform(10, 300) if answered else None,
                "outcome": outcome,
                "topic": rng.choice(["health.testing", "health.vaccines", "violation", "operator", ""]),
                "agent": rng.choice(["101", "102"]) if answered else "",
                "agent_name": "An" if answered else "",
            }
        )
    return rows


def by_hand(rows: list[dict[str, object]], first: date, last: date, sl: int) -> dict[str, object]:
    hours: dict[int, Tally] = defaultdict(Tally)
    topics: dict[str, Tally] = defaultdict(Tally)
    agents: dict[str, Tally] = defaultdict(Tally)
    total, calls = Tally(), 0
    for r in rows:
        local = r["started_at"].astimezone(SITE)  # type: ignore[attr-defined]
        if not first <= local.date() <= last:
            continue
        calls += 1
        args = (r["outcome"], r["queued_at"] is not None, r["wait_seconds"], r["talk_seconds"], sl)
        for tally in (hours[local.hour], topics[str(r["topic"]).split(".")[0] or "-"], total):
            tally.add(*args)  # type: ignore[arg-type]
        if r["agent"]:
            agents[str(r["agent"])].add(*args)  # type: ignore[arg-type]
    return {
        "calls": calls,
        "total": total.view(),
        "per_hour": [{"hour": h, **hours[h].view()} for h in range(24)],
        "per_topic": [{"topic": t, **v.view()} for t, v in sorted(topics.items())],
        "per_agent": [{"agent": a, "name": "An", **v.view()} for a, v in sorted(agents.items())],
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/cases.db"
    return str(request.getfixturevalue("fresh_postgres_url"))


async def test_the_databases_figures_are_the_call_by_call_figures(url: str) -> None:
    await upgrade_async(url)
    engine = make_engine(url)
    rows = cases(3000)
    try:
        async with sessions(engine)() as session, session.begin():
            await session.execute(insert(Case), rows)
        for first, last in ((date(2026, 11, 1), date(2026, 11, 30)), (date(2026, 11, 7), date(2026, 11, 7))):
            got = await report(sessions(engine), first, last, SITE, 20)
            want = by_hand(rows, first, last, 20)
            assert got["calls"] == want["calls"] and got["calls"] > 0
            for key in ("total", "per_hour", "per_topic", "per_agent"):
                assert got[key] == want[key], key
    finally:
        await engine.dispose()
