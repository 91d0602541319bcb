"""Which cases a request finds and may open: the search both the cases page and the JSON API run, and the
rule that an agent sees only the cases they answered or are on."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from hotline import cases
from hotline.db.models import Case, Role
from web.auth import Principal
from web.context import Context, ctx
from web.errors import bad, not_found

PAGE = 100
SEARCH_PARAMS = (
    ("from", "query", "first day, YYYY-MM-DD (site time; default a week ago)"),
    ("to", "query", "last day, YYYY-MM-DD (default today)"),
    ("number", "query", "a case number or the caller's number"),
    ("topic", "query", "topic, or its first part (health matches health.testing)"),
    ("outcome", "query", "answered, abandoned_queue, abandoned_ivr, voicemail, after_hours, overflow, ..."),
    ("status", "query", "new, in_progress, resolved"),
    ("agent", "query", "agent extension"),
    ("queue", "query", "queue name"),
    ("limit", "query", f"at most this many, newest first (default {PAGE})"),
)


def count_param(request: web.Request, name: str, default: int, most: int) -> int:
    raw = request.query.get(name, "")
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise bad(f"{name}={raw!r}: give a whole number")
    return min(int(raw), most)


def sees_full_numbers(principal: Principal, c: Context) -> bool:
    return principal.can(Role(c.settings.privacy.full_numbers_role))


def search_filters(request: web.Request) -> dict[str, str]:
    """The search as given, for the audit log."""
    return {
        name: request.query[name]
        for name, where, _ in SEARCH_PARAMS
        if where == "query" and name in request.query
    }


def day_param(request: web.Request, name: str, default: date) -> date:
    raw = request.query.get(name, "")
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise bad(f"{name}={raw!r}: give a date as YYYY-MM-DD") from None


async def search_cases(request: web.Request) -> list[Case]:
    c = ctx(request)
    today = datetime.now(c.tz).date()
    first = day_param(request, "from", today - timedelta(days=6))
    last = day_param(request, "to", today)
    filters = {name: request.query.get(name, "") for name in ("topic", "outcome", "status", "agent", "queue")}
    filters["number"] = request.query.get("number", "")
    stmt = cases.search(c.tz, first, last, filters, limit=count_param(request, "limit", PAGE, 5000))
    async with c.db() as session:
        return list(await session.scalars(stmt))


async def load_case(c: Context, number: str, events: bool = False) -> Case:
    async with c.db() as session:
        stmt = select(Case).where(Case.number == number)
        if events:
            stmt = stmt.options(selectinload(Case.events))
        case = await session.scalar(stmt)
    if case is None:
        raise not_found("no such case")
    return case


def may_see(principal: Principal, case: Case, c: Context) -> bool:
    """Supervisors see every case; an agent the cases they answered and the one ringing/talking to them."""
    if principal.can_supervise:
        return True
    if case.agent and case.agent == principal.extension:
        return True
    agent = c.board.agents.get(principal.extension)
    live = c.board.calls.get(agent.call) if agent and agent.call else None
    return live is not None and live.linkedid == case.linkedid
