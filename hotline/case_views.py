"""Reading cases for people: the `hotline cases` commands (and later the web app)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from hotline.db.engine import make_engine, sessions
from hotline.db.models import Case
from hotline.settings import Settings

EXPORT_FIELDS = (
    "number",
    "linkedid",
    "caller",
    "did",
    "started_at",
    "answered_at",
    "ended_at",
    "ivr_path",
    "topic",
    "queue",
    "wait_seconds",
    "agent",
    "agent_name",
    "talk_seconds",
    "outcome",
    "recording",
    "recording_seconds",
    "voicemail",
    "status",
    "category",
    "notes",
    "hangup_cause",
)


async def _query(settings: Settings, stmt: Any) -> list[Case]:
    engine = make_engine(settings.database_url)
    try:
        async with sessions(engine)() as session:
            return list(await session.scalars(stmt))
    finally:
        await engine.dispose()


async def recent(
    settings: Settings, limit: int, caller: str | None = None, outcome: str | None = None
) -> list[Case]:
    stmt = select(Case).order_by(Case.started_at.desc()).limit(limit)
    if caller:
        stmt = stmt.where(Case.caller == caller)
    if outcome:
        stmt = stmt.where(Case.outcome == outcome)
    return await _query(settings, stmt)


async def one(settings: Settings, key: str) -> Case | None:
    stmt = (
        select(Case).where(or_(Case.number == key, Case.linkedid == key)).options(selectinload(Case.events))
    )
    found = await _query(settings, stmt)
    return found[0] if found else None


async def between(settings: Settings, since: str | None, until: str | None) -> list[Case]:
    zone = ZoneInfo(settings.site.timezone)
    stmt = select(Case).order_by(Case.started_at)
    if since:
        stmt = stmt.where(
            Case.started_at >= datetime.combine(datetime.fromisoformat(since).date(), time(), zone)
        )
    if until:
        end = datetime.combine(datetime.fromisoformat(until).date() + timedelta(days=1), time(), zone)
        stmt = stmt.where(Case.started_at < end)
    return await _query(settings, stmt)


def _local(value: datetime | None, tz: str) -> str:
    return value.astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def table(cases: list[Case], tz: str) -> str:
    lines = [f"{'case':<10} {'started':<19} {'caller':<13} {'did':<9} {'topic':<20} {'outcome':<16} agent"]
    for c in cases:
        lines.append(
            f"{c.number:<10} {_local(c.started_at, tz):<19} {c.caller:<13} {c.did:<9} {c.topic[:20]:<20} "
            f"{(c.outcome or 'in progress'):<16} {c.agent_name or c.agent}"
        )
    return "\n".join(lines)


def detail(case: Case, tz: str) -> str:
    lines = [f"case {case.number} (call {case.linkedid})"]
    for name in EXPORT_FIELDS[2:]:
        value = getattr(case, name)
        if isinstance(value, datetime):
            value = _local(value, tz)
        if value not in ("", None):
            lines.append(f"  {name}: {value}")
    lines.append("  timeline:")
    for event in case.events:
        extra = ", ".join(f"{k}={v}" for k, v in event.detail.items() if v not in ("", None))
        lines.append(f"    {_local(event.at, tz)}  {event.kind}  {extra}".rstrip())
    return "\n".join(lines)


def _row(case: Case) -> dict[str, Any]:
    row = {}
    for name in EXPORT_FIELDS:
        value = getattr(case, name)
        row[name] = value.isoformat() if isinstance(value, datetime) else value
    return row


def export(cases: list[Case], fmt: str) -> str:
    rows = [_row(c) for c in cases]
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
