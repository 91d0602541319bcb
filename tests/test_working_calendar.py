"""Deadlines on the offices' working calendar: Monday to Friday, 07:30-11:30 and 13:30-17:00 in Vietnam,
without the holidays, with the odd Saturday worked."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from casework.calendar import WorkingCalendar
from hotline import settings as site_settings
from hotline.settings import Calendar
from tests.conftest import TEST_SETTINGS

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026 in Vietnam (the 20th is a Friday, the 23rd a Monday)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=VN)


@pytest.fixture
def calendar() -> WorkingCalendar:
    return WorkingCalendar(Calendar(), VN)


def test_hours_run_over_the_lunch_break_and_the_end_of_the_day(calendar: WorkingCalendar) -> None:
    assert calendar.add(at(23, 10), 1) == at(23, 11)
    assert calendar.add(at(23, 11), 1) == at(23, 14)  # 30 minutes before lunch, 30 after
    assert calendar.add(at(23, 16), 2) == at(24, 8, 30)  # one hour today, one tomorrow morning
    assert calendar.add(at(23, 7, 30), 7.5) == at(23, 17)  # a whole working day


def test_a_friday_afternoon_request_is_due_the_next_week(calendar: WorkingCalendar) -> None:
    assert calendar.add(at(20, 16), 4) == at(23, 10, 30)  # Friday 16:00 + 4 h: Monday 10:30
    assert calendar.add(at(21, 9), 1) == at(23, 8, 30)  # received on Saturday: counted from Monday


def test_holidays_are_skipped_and_a_worked_saturday_counts() -> None:
    cal = WorkingCalendar(
        Calendar(holidays=[date(2026, 11, 23)], extra_working_days=[date(2026, 11, 21)]), VN
    )
    assert cal.add(at(20, 16), 4) == at(21, 10, 30)  # the worked Saturday, with Monday's hours
    assert cal.add(at(21, 16), 4) == at(24, 10, 30)  # the holiday Monday skipped


def test_the_site_holidays_apply_when_the_calendar_lists_none() -> None:
    cal = WorkingCalendar(Calendar(), VN, holidays=[date(2026, 11, 23)])
    assert cal.add(at(20, 16), 2) == at(24, 8, 30)


def test_working_hours_between_two_moments(calendar: WorkingCalendar) -> None:
    assert calendar.between(at(20, 16), at(23, 10, 30)) == 4.0
    assert calendar.between(at(23, 10, 30), at(20, 16)) == -4.0
    assert calendar.between(at(21, 9), at(22, 18)) == 0.0  # a weekend


def test_a_week_without_working_time_is_refused_rather_than_looping() -> None:
    with pytest.raises(ValueError, match="no working time"):
        WorkingCalendar(Calendar(weekly={}), VN).add(at(23, 9), 1)


def test_the_deadline_of_a_topic_is_its_own_its_parents_or_the_default() -> None:
    site = site_settings.load(
        TEST_SETTINGS,
        overrides={
            "deadlines": [
                {"priority": "normal", "accept_hours": 8, "answer_hours": 80},
                {"priority": "urgent", "accept_hours": 4, "answer_hours": 16},
                {"topic": "health", "priority": "normal", "accept_hours": 4, "answer_hours": 40},
            ]
        },
    )
    assert site.deadline("health.testing", "normal").answer_hours == 40
    assert site.deadline("healthcare", "normal").answer_hours == 80  # a prefix is a whole part
    assert site.deadline("health", "urgent").answer_hours == 16
    with pytest.raises(site_settings.SettingsError, match="deadlines"):
        site_settings.load(
            TEST_SETTINGS,
            overrides={"deadlines": [{"priority": "normal", "accept_hours": 8, "answer_hours": 80}]},
        )
