"""Working time: deadlines are counted in the offices' working hours (hotline.settings.Calendar), in the
site's time zone. `add` finds when a number of working hours after a moment ends; `between` counts the
working hours between two moments. A moment outside working time counts from the next working minute."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hotline.settings import DAY_NAMES, Calendar

# A year of days without a working minute (a calendar with an empty week) ends the search.
_MOST_DAYS = 366


class WorkingCalendar:
    def __init__(self, calendar: Calendar, tz: str | ZoneInfo, holidays: list[date] | None = None) -> None:
        self.zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        self.weekly: dict[str, list[tuple[time, time]]] = {
            day: sorted(
                (time.fromisoformat(a), time.fromisoformat(b)) for a, b in (s.split("-") for s in spans)
            )
            for day, spans in calendar.weekly.items()
        }
        self.holidays = set(calendar.holidays or holidays or [])
        self.extra = set(calendar.extra_working_days)

    def spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's working spans, as aware datetimes."""
        if day in self.extra:
            name = "mon"
        elif day in self.holidays:
            return []
        else:
            name = DAY_NAMES[day.weekday()]
        return [
            (datetime.combine(day, a, self.zone), datetime.combine(day, b, self.zone))
            for a, b in self.weekly.get(name, [])
        ]

    def _from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working spans from `moment` on, the first one cut to start at `moment`."""
        local = moment.astimezone(self.zone)
        day = local.date()
        for _ in range(_MOST_DAYS * 10):
            for start, end in self.spans(day):
                if end <= local:
                    continue
                yield max(start, local), end
            day += timedelta(days=1)
        raise ValueError("the working calendar has no working time in ten years")

    def add(self, moment: datetime, hours: float) -> datetime:
        """The moment `hours` working hours after `moment`."""
        left = timedelta(hours=hours)
        for start, end in self._from(moment):
            if end - start >= left:
                return start + left
            left -= end - start
        raise AssertionError("unreachable")  # _from raises first

    def between(self, first: datetime, last: datetime) -> float:
        """Working hours from `first` to `last` (negative when `last` is earlier)."""
        if last < first:
            return -self.between(last, first)
        total = timedelta()
        for start, end in self._from(first):
            if start >= last:
                break
            total += min(end, last) - start
        return total.total_seconds() / 3600
