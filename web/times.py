"""Times as people read them: in the site's time zone, the Vietnamese way (07/12/2026 08:00) or the
English way (7 Dec 2026 08:00), and a deadline as the time left to it. Pages get them as the Jinja filters
`when` and `left`; nothing a person reads is in UTC or cut from an ISO string."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import jinja2

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _moment(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return value


def shown(value: datetime | str | None, tz: ZoneInfo, lang: str = "vi", seconds: bool = False) -> str:
    """'07/12/2026 08:00' (vi) or '7 Dec 2026 08:00' (en) in `tz`; "" for no time."""
    moment = _moment(value)
    if moment is None:
        return ""
    local = moment.astimezone(tz)
    clock = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    if lang == "en":
        return f"{local.day} {MONTHS[local.month - 1]} {local.year} {clock}"
    return f"{local:%d/%m/%Y} {clock}"


def left(value: datetime | str | None, now: datetime, lang: str = "vi") -> str:
    """How long until a deadline ('còn 3 giờ 20 phút'), or how long past it ('quá hạn 2 ngày 1 giờ')."""
    moment = _moment(value)
    if moment is None:
        return ""
    seconds = int((moment - now).total_seconds())
    late, seconds = seconds < 0, abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if lang == "en":
        parts = [f"{days} d"] * bool(days) + [f"{hours} h"] * bool(hours) + [f"{minutes} min"] * (not days)
        span = " ".join(parts) or "0 min"
        return f"{span} overdue" if late else f"{span} left"
    parts = [f"{days} ngày"] * bool(days) + [f"{hours} giờ"] * bool(hours) + [f"{minutes} phút"] * (not days)
    span = " ".join(parts) or "0 phút"
    return f"quá hạn {span}" if late else f"còn {span}"


@jinja2.pass_context
def when_filter(context: jinja2.runtime.Context, value: datetime | str | None, seconds: bool = False) -> str:
    return shown(value, ZoneInfo(context["site"].timezone), context.get("lang", "vi"), seconds)


@jinja2.pass_context
def left_filter(context: jinja2.runtime.Context, value: datetime | str | None) -> str:
    return left(value, datetime.now(ZoneInfo(context["site"].timezone)), context.get("lang", "vi"))


def install(env: jinja2.Environment) -> None:
    env.filters["when"] = when_filter
    env.filters["left"] = left_filter
