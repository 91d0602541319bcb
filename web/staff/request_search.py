"""The center's list of requests, and an agency's of its own: search (a request's number, a phone number
written any way, or words of the citizen's text, name or place), filters (status, agency, topic, ward,
channel, overdue or due soon, the days received), sorting and pages. The list page, its CSV and the JSON
API read one query from here; an agency's user is always held to their agency's requests."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from casework import workflow as wf
from hotline.cases import day_bounds
from hotline.db.models import CitizenRequest, RequestStatus, Role, open_only, searched_text
from hotline.values import number_forms
from web.auth import Principal
from web.context import Context
from web.errors import bad

R = CitizenRequest
PAGE = 50
MOST_PAGES = 2000  # 100,000 rows deep: past that, narrow the search
MOST_EXPORTED = 50_000
MOST_COUNTED = 10_000
SOON = timedelta(hours=24)  # "due soon": what is due from its agency within a day
WORDS_DAYS = 365  # a search by words looks at a year of requests unless the days are given
STATUSES = ("open", "all", *(s.value for s in RequestStatus))
DUE = ("", "overdue", "soon")
SORTS = ("due", "newest", "oldest")
CHANNELS = ("call", "center", "web", "email", "sms", "zalo", "facebook", "open311")
_NUMBER = re.compile(r"^[0-9]{8}$")
_PHONE = re.compile(r"^\+?[0-9][0-9 .\-]{7,18}$")
# LIKE's own wildcards and escape, and control characters (a line break is what keeps the searched columns
# apart), taken as spaces.
_AS_SPACE = re.compile(r"[\\%_\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Search:
    q: str = ""
    status: str = "open"
    agency: str = ""
    topic: str = ""
    ward: str = ""
    channel: str = ""
    due: str = ""
    first: date | None = None  # received from this day
    last: date | None = None  # to this day, included
    sort: str = "due"
    page: int = 1

    def query(self, **changes: Any) -> str:
        """This search as a query string, with `changes` (another page, another sort)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)} | changes
        kept = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items() if v}
        defaults = {("status", "open"), ("sort", "due"), ("page", 1)}
        return urlencode({k: v for k, v in kept.items() if (k, v) not in defaults})


def _choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str:
    value = request.query.get(name, allowed[0])
    if value not in allowed:
        raise bad(f"{name} must be one of {', '.join(v or '(empty)' for v in allowed)}")
    return value


def _day(request: web.Request, name: str) -> date | None:
    raw = request.query.get(name, "")
    try:
        return date.fromisoformat(raw) if raw else None
    except ValueError:
        raise bad(f"{name}={raw[:20]!r}: a date as YYYY-MM-DD") from None


def parse(request: web.Request, principal: Principal) -> Search:
    page = request.query.get("page", "1")
    if not page.isdigit() or not 1 <= int(page) <= MOST_PAGES:
        raise bad(f"page is a number from 1 to {MOST_PAGES}")
    first, last = _day(request, "from"), _day(request, "to")
    if first and last and last < first:
        raise bad("'to' must be on or after 'from'")
    return Search(
        q=request.query.get("q", "")[:100].strip(),
        status=_choice(request, "status", STATUSES),
        # An agency's user sees their agency's requests, whatever the address says.
        agency=principal.agency if principal.role is Role.AGENCY else request.query.get("agency", "")[:32],
        topic=request.query.get("topic", "")[:64],
        ward=request.query.get("ward", "")[:8],
        channel=_choice(request, "channel", ("", *CHANNELS)),
        due=_choice(request, "due", DUE),
        first=first,
        last=last,
        sort=_choice(request, "sort", SORTS),
        page=int(page),
    )


def statement(c: Context, s: Search, now: datetime) -> Select[tuple[CitizenRequest]]:
    """The requests the search finds, sorted, without paging."""
    stmt = select(R)
    if s.status == "open":
        stmt = stmt.where(open_only())  # as the partial index on the open requests says it
    elif s.status != "all":
        stmt = stmt.where(R.status == s.status)
    if s.agency:
        stmt = stmt.where(R.agency == s.agency)
    if s.topic:
        stmt = stmt.where((R.topic == s.topic) | R.topic.startswith(f"{s.topic}."))
    if s.ward:
        stmt = stmt.where(R.ward_code == s.ward)
    if s.channel:
        stmt = stmt.where(R.channel == s.channel)
    if s.due == "overdue":
        stmt = stmt.where(R.due_at < now)
    elif s.due == "soon":
        stmt = stmt.where(R.due_at >= now, R.due_at < now + SOON)
    first = s.first
    if s.q and _NUMBER.match(s.q):
        stmt = stmt.where(R.number == s.q)
    elif s.q and _PHONE.match(s.q):
        digits = re.sub(r"[ .\-]", "", s.q)
        stmt = stmt.where(R.contact_phone.in_(sorted(number_forms(digits) | {s.q})))
    elif by_words(s):
        # Words: within the days asked for, or the last year, so the scan stays bounded.
        first = first or (now.astimezone(c.tz).date() - timedelta(days=WORDS_DAYS))
        # One expression, which PostgreSQL's trigram index serves (migration 0027).
        stmt = stmt.where(searched_text().ilike(f"%{_AS_SPACE.sub(' ', s.q)}%"))
    if first:
        stmt = stmt.where(R.created_at >= day_bounds(first, c.tz)[0])
    if s.last:
        stmt = stmt.where(R.created_at < day_bounds(s.last, c.tz)[1])
    ended = s.status not in ("open", *(x.value for x in wf.OPEN))
    if s.sort == "newest" or (s.sort == "due" and ended):
        # Ended requests have nothing due: newest first, which the index on the creation time serves.
        return stmt.order_by(R.created_at.desc(), R.id.desc())
    if s.sort == "oldest":
        return stmt.order_by(R.created_at, R.id)
    # What is due soonest first, so the overdue lead; then those with nothing due, newest first.
    return stmt.order_by(R.due_at.asc().nulls_last(), R.created_at.desc(), R.id.desc())


def by_words(s: Search) -> bool:
    """A search by the citizen's words (not a request's number, nor a phone number)."""
    return bool(s.q) and not _NUMBER.match(s.q) and not _PHONE.match(s.q)


async def plan_for_the_words(session: AsyncSession, s: Search) -> None:
    """On PostgreSQL, a search by words is planned for its own words every time. The statement is prepared
    once per connection, and after a few runs PostgreSQL may keep one plan for any words; but a word in one
    request of twenty is found fastest by walking the newest requests, and a name in one of a thousand by
    the trigram index (at 5 M requests, the wrong choice costs seconds: docs/benchmarks.md). SET LOCAL ends
    with the session's transaction."""
    if by_words(s) and session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


def counted(stmt: Select[tuple[CitizenRequest]]) -> Select[tuple[int]]:
    """How many it finds, counted up to MOST_COUNTED (a province's years are millions: past that, the list
    says "more than")."""
    found = stmt.order_by(None).with_only_columns(R.id).limit(MOST_COUNTED + 1).subquery()
    return select(func.count()).select_from(found)
