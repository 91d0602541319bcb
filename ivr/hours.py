"""Business hours and holidays in the site's time zone."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from hotline.settings import DAY_NAMES, Hours


def is_open(hours: Hours, tz: str, now: datetime | None = None) -> bool:
    zone = ZoneInfo(tz)
    now = now or hours.clock or datetime.now(zone)
    local = now.replace(tzinfo=zone) if now.tzinfo is None else now.astimezone(zone)
    if hours.always_open:
        return True
    if local.date() in hours.holidays:
        return False
    span = hours.weekly.get(DAY_NAMES[local.weekday()])
    if not span:
        return False
    start, end = (time.fromisoformat(t) for t in span.split("-"))
    return start <= local.time().replace(tzinfo=None) < end
