"""What the agents did over a period, for supervisors (what queue-panel users ask for most): every stretch
logged in, paused (with the reason) and talking, as CSV; and today's seconds per agent for the wallboard.
Read from every node's queue_log (ami_bridge/agent_states.py) in a thread; today's figures are kept for 30 s
so a room of wallboards reads the log once."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from ami_bridge import agent_states
from hotline.cases import csv_text, day_bounds
from hotline.db.models import Role
from web import times
from web.audit import audit
from web.context import Context, ctx, who
from web.errors import bad
from web.routing import RouteTable

routes = RouteTable()
MOST_DAYS = 31
KEEP_TODAY_SECONDS = 30.0
TODAY = web.AppKey("agents_today", dict[str, Any])
COLUMNS = ("extension", "agent", "state", "reason", "start", "end", "seconds")


def setup(app: web.Application) -> None:
    app[TODAY] = {}


def _extensions(c: Context) -> dict[str, str]:
    """The member names queue_log has, to the agents' extensions."""
    return {a.name: a.extension for a in c.settings.agents}


def _days(request: web.Request, c: Context) -> tuple[datetime, datetime]:
    today = datetime.now(c.tz).date()
    try:
        first = date.fromisoformat(request.query.get("from", "") or today.isoformat())
        last = date.fromisoformat(request.query.get("to", "") or today.isoformat())
    except ValueError:
        raise bad("from and to are dates, YYYY-MM-DD") from None
    if last < first or (last - first).days >= MOST_DAYS:
        raise bad(f"'to' must be on or after 'from', at most {MOST_DAYS} days later")
    return day_bounds(first, c.tz)[0], day_bounds(last, c.tz)[1]


@routes.route(
    "GET",
    "/api/v1/reports/agents.csv",
    Role.SUPERVISOR,
    "Each agent's stretches logged in, paused (with the reason) and talking, for a period of days",
    api=True,
    params=(("from", "query", "first day YYYY-MM-DD (default today)"), ("to", "query", "last day")),
)
async def agents_csv(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    since, until = _days(request, c)
    found = await asyncio.to_thread(agent_states.read, c.settings.queue_log_paths, since, until)
    extensions = _extensions(c)
    rows = [
        {
            "extension": extensions.get(s.agent, ""),
            "agent": s.agent,
            "state": s.state,
            "reason": s.reason,
            "start": times.shown(s.start, c.tz, "vi", seconds=True),
            "end": times.shown(s.end, c.tz, "vi", seconds=True),
            "seconds": round(s.seconds),
        }
        for s in found
    ]
    await audit(c, who(request), "agents.export", "", rows=len(rows), since=since.isoformat())
    return web.Response(
        text=csv_text(COLUMNS, rows),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="agent-states.csv"'},
    )


@routes.route(
    "GET",
    "/api/v1/agents/today",
    Role.SUPERVISOR,
    "Each agent's seconds logged in, paused and talking today (the wallboard's)",
    api=True,
)
async def agents_today(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    kept = request.app[TODAY]
    if not kept or time.monotonic() - kept["read_at"] > KEEP_TODAY_SECONDS:
        now = datetime.now(c.tz)
        since = day_bounds(now.date(), c.tz)[0]
        found = await asyncio.to_thread(
            agent_states.read, c.settings.queue_log_paths, since, now + timedelta(seconds=1)
        )
        extensions = _extensions(c)
        figures = {
            extensions[name]: {state: round(seconds) for state, seconds in states.items()}
            for name, states in agent_states.totals(found).items()
            if name in extensions
        }
        kept |= {"read_at": time.monotonic(), "agents": figures}
    return web.json_response({"agents": kept["agents"]})
