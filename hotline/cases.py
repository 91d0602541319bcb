"""A case as people see it, defined once for the command line, the pages, the JSON API and CSV: its fields,
its timeline, the site's days, and the query that finds cases by them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import selectinload

from hotline import personal
from hotline.db.engine import make_engine, sessions
from hotline.db.models import Case
from hotline.settings import Settings

# The case's fields in the order people read them; `has_recording` says whether there is audio to play
# (the file's place on the server is not shown: the API streams it).
FIELDS = (
    "number",
    "linkedid",
    "caller",
    "caller_name",
    "did",
    "started_at",
    "ivr_ended_at",
    "queued_at",
    "answered_at",
    "ended_at",
    "ivr_path",
    "ivr_node",
    "ivr_result",
    "ivr_steps",
    "topic",
    "request_number",
    "queue",
    "wait_seconds",
    "talk_seconds",
    "agent",
    "agent_name",
    "recording_seconds",
    "outcome",
    "rating",
    "hangup_cause",
    "category",
    "notes",
    "status",
    "follow_up",
)
COLUMNS = (*FIELDS, "has_recording")
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {name: {"type": ["string", "number", "null"]} for name in FIELDS}
    | {"has_recording": {"type": "boolean"}},
}
# Search filters: each matches its column exactly, except these two.
FILTERS = ("topic", "outcome", "status", "agent", "queue", "caller", "number")


# What someone who may not open a case still sees of it (an agent, of a caller's earlier cases).
SUMMARY = ("number", "started_at", "topic", "status")
# Characters that make a spreadsheet read a cell as a formula (or, with tab and CR, shift it there).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def callback_number(caller: str) -> bool:
    """Whether a caller ID is a number that belongs to one caller: not withheld or unknown (anonymous,
    empty, letters) and long enough not to be a switchboard's short code."""
    digits = caller.removeprefix("+")
    return digits.isascii() and digits.isdigit() and len(digits) >= 8 and len(set(digits)) > 1


def view(case: Case, masked: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in FIELDS:
        value = getattr(case, name)
        out[name] = value.isoformat() if isinstance(value, datetime) else value
    out["has_recording"] = bool(case.recording)
    return personal.masked(Case, out) if masked else out


def summary(case: Case) -> dict[str, Any]:
    full = view(case)
    return {name: full[name] for name in SUMMARY}


def spreadsheet_cell(value: Any) -> Any:
    """A value a spreadsheet shows as text: a leading quote before what would start a formula
    (`=HYPERLINK(...)` in a caller name must not become a link)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def timeline(case: Case) -> list[dict[str, Any]]:
    return [{"at": e.at.isoformat(), "kind": e.kind, "detail": e.detail} for e in case.events]


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The site's day as a UTC interval [start, end)."""
    start = datetime.combine(day, time(), tz)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def search(
    tz: ZoneInfo,
    first: date | None = None,
    last: date | None = None,
    filters: Mapping[str, str] | None = None,
    limit: int | None = None,
    newest_first: bool = True,
) -> Select[tuple[Case]]:
    """Cases that started on the site's days first..last; `topic` matches its first part too (health
    finds health.testing), `number` a case number or the caller's number."""
    stmt = select(Case)
    if first is not None:
        stmt = stmt.where(Case.started_at >= day_bounds(first, tz)[0])
    if last is not None:
        stmt = stmt.where(Case.started_at < day_bounds(last, tz)[1])
    for name, value in (filters or {}).items():
        if not value:
            continue
        if name == "topic":
            stmt = stmt.where(Case.topic.startswith(value))
        elif name == "number":
            stmt = stmt.where(or_(Case.number == value, Case.caller == value))
        elif name in FILTERS:
            stmt = stmt.where(getattr(Case, name) == value)
        else:
            raise ValueError(f"no case filter {name!r}")
    stmt = stmt.order_by(Case.started_at.desc() if newest_first else Case.started_at)
    return stmt.limit(limit) if limit is not None else stmt


def by_key(key: str) -> Select[tuple[Case]]:
    """One case, by its number or its call's linkedid, with its timeline."""
    return (
        select(Case).where(or_(Case.number == key, Case.linkedid == key)).options(selectinload(Case.events))
    )


def to_json(cases: Iterable[Case], masked: bool = False) -> str:
    return json.dumps([view(c, masked) for c in cases], ensure_ascii=False, indent=1) + "\n"


def csv_text(fieldnames: Iterable[str], rows: Iterable[dict[str, Any]], header: bool = True) -> str:
    """CSV whose cells a spreadsheet cannot take for formulas, of the named fields only (`header` False:
    the lines that follow an earlier part's, when a long export is sent in parts)."""
    names = list(fieldnames)
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(names)
    writer.writerows([spreadsheet_cell(row.get(name, "")) for name in names] for row in rows)
    return out.getvalue()


def to_csv(cases: Iterable[Case], masked: bool = False) -> str:
    return csv_text(COLUMNS, (view(c, masked) for c in cases))


# -- the command line ----------------------------------------------------------------------------------
async def fetch(settings: Settings, stmt: Select[tuple[Case]]) -> list[Case]:
    """Run a query on the site's database from a process that has no engine of its own."""
    engine = make_engine(settings.database_url)
    try:
        async with sessions(engine)() as session:
            return list(await session.scalars(stmt))
    finally:
        await engine.dispose()


def _local(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def table(cases: list[Case], tz: ZoneInfo) -> str:
    lines = [f"{'case':<10} {'started':<19} {'caller':<13} {'did':<9} {'topic':<20} {'outcome':<16} agent"]
    for c in cases:
        lines.append(
            f"{c.number:<10} {_local(c.started_at, tz):<19} {c.caller:<13} {c.did:<9} {c.topic[:20]:<20} "
            f"{(c.outcome or 'in progress'):<16} {c.agent_name or c.agent}"
        )
    return "\n".join(lines)


def detail(case: Case, tz: ZoneInfo) -> str:
    lines = [f"case {case.number} (call {case.linkedid})"]
    for name in FIELDS[2:]:
        value = getattr(case, name)
        if isinstance(value, datetime):
            value = _local(value, tz)
        if value not in ("", None):
            lines.append(f"  {name}: {value}")
    lines.append(f"  has_recording: {'yes' if case.recording else 'no'}")
    lines.append("  timeline:")
    for event in case.events:
        extra = ", ".join(f"{k}={v}" for k, v in event.detail.items() if v not in ("", None))
        lines.append(f"    {_local(event.at, tz)}  {event.kind}  {extra}".rstrip())
    return "\n".join(lines)
