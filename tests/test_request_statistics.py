"""The agencies' figures on a seeded set whose answers are known: per agency and per topic, on time, late,
overdue now, returned, average time to answer and rating, and the ranking by share on time; counted by the
real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from casework import workflow as wf
from casework.statistics import statistics
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import CitizenRequest, Role
from hotline.settings import Settings
from tests.conftest import TEST_SETTINGS

VN = ZoneInfo("Asia/Ho_Chi_Minh")
AGENT = wf.Actor("canbo101", Role.AGENT)
SUPERVISOR = wf.Actor("giamsat", Role.SUPERVISOR)
CITIZEN = wf.Actor("citizen@web", None)


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=VN)


@pytest.fixture
def site() -> Settings:
    # Every topic: 1 working hour to accept, 4 to answer; the calendar's default working day.
    return site_settings.load(
        TEST_SETTINGS,
        overrides={
            "agencies": [
                {"name": "so_y_te", "label": "Sở Y tế"},
                {"name": "quan_1", "label": "UBND Quận 1"},
                {"name": "quan_3", "label": "UBND Quận 3"},
            ],
            "deadlines": [
                {"topic": "", "priority": "normal", "accept_hours": 1, "answer_hours": 4},
                {"topic": "", "priority": "urgent", "accept_hours": 1, "answer_hours": 2},
            ],
        },
    )


def handled(
    site: Settings, n: int, topic: str, agency: str, answer_at: datetime | None, rating: int | None = None
) -> CitizenRequest:
    """A request forwarded on Monday 23rd at 08:00 (due at 12:00, the answer by 4 working hours), answered
    at `answer_at` and approved an hour later, or not answered."""
    r = wf.open_request(f"9{n:07d}", AGENT, at(23, 8), topic=topic, words="…", contact_phone="0912345678")
    wf.forward(site, r, AGENT, agency, at(23, 8))
    who = wf.Actor(agency, Role.AGENCY, agency=agency)
    wf.accept(r, who, at(23, 8))
    if answer_at is not None:
        wf.answer(r, who, answer_at, "Đã xử lý")
        wf.approve(r, SUPERVISOR, answer_at + timedelta(hours=1))
        if rating is not None:
            wf.rate(r, CITIZEN, answer_at + timedelta(hours=2), rating)
    return r


async def test_on_time_late_and_overdue_per_agency_and_topic(site: Settings, database: str) -> None:
    await upgrade_async(database)
    engine = make_engine(database)
    try:
        seeded = [
            # Sở Y tế: 3 on time (2 h and 3 h after forwarding), 1 late; ratings 5, 4, 2.
            handled(site, 1, "health", "so_y_te", at(23, 10), 5),
            handled(site, 2, "health", "so_y_te", at(23, 11), 4),
            handled(site, 3, "health.testing", "so_y_te", at(23, 10)),
            handled(site, 4, "health", "so_y_te", at(23, 15), 2),
            # Quận 1: 1 on time, 2 still unanswered (overdue by the time the figures are taken).
            handled(site, 5, "violation", "quan_1", at(23, 9)),
            handled(site, 6, "violation", "quan_1", None),
            handled(site, 7, "suggestion", "quan_1", None),
        ]
        # Quận 3 returns one as not theirs, and it goes to Quận 1 (which has not answered it either).
        returned = wf.open_request("90000008", AGENT, at(23, 8), topic="violation", words="…")
        wf.forward(site, returned, AGENT, "quan_3", at(23, 8))
        wf.return_to_center(returned, wf.Actor("q3", Role.AGENCY, agency="quan_3"), at(23, 9), "Không phải")
        wf.forward(site, returned, AGENT, "quan_1", at(23, 9))
        # Forwarded outside the period: not counted.
        outside = handled(site, 9, "health", "so_y_te", None)
        outside.assignments[0].forwarded_at = at(20, 8)
        async with sessions(engine)() as session, session.begin():
            session.add_all([*seeded, returned, outside])
        s = await statistics(sessions(engine), at(23, 0), at(24, 0), now=at(24, 9))
    finally:
        await engine.dispose()
    agencies = {f.key: f for f in s.per_agency}
    health, district1, district3 = agencies["so_y_te"], agencies["quan_1"], agencies["quan_3"]
    assert (health.received, health.on_time, health.late, health.overdue_now) == (4, 3, 1, 0)
    assert health.share_on_time == 0.75 and health.ratings == 3 and health.rating == pytest.approx(11 / 3)
    # 2 h, 3 h, 2 h and 7 h from forwarding to answer.
    assert health.answer_seconds == pytest.approx(3.5 * 3600)
    assert (district1.received, district1.on_time, district1.late, district1.overdue_now) == (4, 1, 0, 3)
    assert district1.share_on_time == 0.25 and district1.rating is None
    assert (district3.received, district3.returned, district3.pending, district3.share_on_time) == (
        1,
        1,
        0,
        None,
    )
    # Ranked by share on time; an agency with nothing due yet comes last.
    assert [f.key for f in s.per_agency] == ["so_y_te", "quan_1", "quan_3"]
    topics = {f.key: (f.received, f.on_time, f.late, f.overdue_now) for f in s.per_topic}
    assert topics == {
        "health": (3, 2, 1, 0),
        "health.testing": (1, 1, 0, 0),
        "violation": (4, 1, 0, 2),
        "suggestion": (1, 0, 0, 1),
    }
    assert (s.total.received, s.total.on_time, s.total.late, s.total.overdue_now) == (9, 4, 1, 3)
    assert s.requests == 9 and s.rejected == 0  # the one forwarded on the 20th was received on the 23rd
    # Before the due times have passed, nothing is overdue yet: the unanswered ones are pending.
    engine = make_engine(database)
    try:
        early = await statistics(sessions(engine), at(23, 0), at(24, 0), now=at(23, 9))
    finally:
        await engine.dispose()
    district1 = {f.key: f for f in early.per_agency}["quan_1"]
    assert (district1.overdue_now, district1.pending) == (0, 3)
