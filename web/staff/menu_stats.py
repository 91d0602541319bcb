"""Where callers give up: per IVR node, for any period, entered, hung up there, moved on, silences, wrong
keys and time spent (from each case's steps, hotline.menu_steps); per queue, after how long callers who
gave up waiting hung up. As JSON and CSV; the reports page draws them."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline import menu_steps
from hotline.cases import csv_text, day_bounds
from hotline.db.models import Case, Outcome, Role
from web.context import ctx
from web.errors import bad
from web.routing import RouteTable
from web.staff.case_access import day_param

routes = RouteTable()
PERIOD = (
    ("from", "query", "first day YYYY-MM-DD (default today)"),
    ("to", "query", "last day (default from)"),
)
# After how long callers who gave up in a queue hung up: the bounds of each band, in seconds.
BANDS = (10, 20, 30, 60, 120)
NODE_FIELDS = [
    "entered",
    "hung_up",
    "moved_on",
    "timed_out",
    "invalid",
    "failed",
    "hung_up_share",
    "average_seconds",
]


def band_names() -> list[str]:
    lows = (0, *BANDS)
    return [f"{lo}-{hi}s" for lo, hi in zip(lows, BANDS, strict=False)] + [f"over_{BANDS[-1]}s"]


async def menu_report(
    db: async_sessionmaker[AsyncSession], first: date, last: date, tz: ZoneInfo
) -> dict[str, Any]:
    since, _ = day_bounds(first, tz)
    _, until = day_bounds(last, tz)
    ended = (Case.started_at >= since, Case.started_at < until, Case.ended_at.is_not(None))
    abandoned = Case.outcome == Outcome.ABANDONED_QUEUE.value
    wait = func.coalesce(Case.wait_seconds, 0.0)
    lows = (0, *BANDS)
    bands = [
        func.sum(case((and_(wait >= lo, wait < hi), 1), else_=0)) for lo, hi in zip(lows, BANDS, strict=False)
    ]
    bands.append(func.sum(case((wait >= BANDS[-1], 1), else_=0)))
    async with db() as session:
        rows = (
            await session.execute(select(Case.ivr_steps, Case.ended_at).where(*ended, Case.ivr_steps != ""))
        ).all()
        per_queue = (
            await session.execute(
                select(Case.queue, func.count(), func.avg(wait), *bands)
                .where(*ended, abandoned, Case.queue != "")
                .group_by(Case.queue)
            )
        ).all()
    calls = [(text, at.timestamp() if at is not None else None) for text, at in rows]
    # Decoding is Python's work, not the database's: off the event loop every call shares.
    nodes = await asyncio.to_thread(menu_steps.tally, calls)
    names = band_names()
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "calls": len(calls),
        "per_node": [
            {"node": name, **tally.view()}
            for name, tally in sorted(nodes.items(), key=lambda item: (-item[1].entered, item[0]))
        ],
        "bands": names,
        "abandoned_per_queue": [
            {
                "queue": queue,
                "abandoned": int(count),
                "average_wait": round(float(average or 0.0), 1),
                **{name: int(n or 0) for name, n in zip(names, counts, strict=True)},
            }
            for queue, count, average, *counts in sorted(per_queue, key=lambda r: str(r[0]))
        ],
    }


async def requested(request: web.Request) -> dict[str, Any]:
    c = ctx(request)
    first = day_param(request, "from", datetime.now(c.tz).date())
    last = day_param(request, "to", first)
    if last < first or (last - first).days > 366:
        raise bad("'to' must be on or after 'from', at most a year later")
    return await menu_report(c.db, first, last, c.tz)


@routes.route(
    "GET",
    "/api/v1/reports/menu",
    Role.SUPERVISOR,
    "Where callers give up: per IVR node entered, hung up, moved on, silences, wrong keys, time spent; "
    "per queue, after how long callers gave up waiting",
    api=True,
    params=PERIOD,
    response={"type": "object"},
)
async def menu_json(request: web.Request) -> web.StreamResponse:
    return web.json_response(await requested(request))


@routes.route(
    "GET",
    "/api/v1/reports/menu.csv",
    Role.SUPERVISOR,
    "The per-node and per-queue tables of where callers give up, as one CSV",
    api=True,
    params=PERIOD,
)
async def menu_csv(request: web.Request) -> web.StreamResponse:
    data = await requested(request)
    fields = ["table", "key", *NODE_FIELDS, "abandoned", "average_wait", *data["bands"]]
    rows = [{**r, "table": "per_node", "key": r["node"]} for r in data["per_node"]]
    rows += [{**r, "table": "abandoned_per_queue", "key": r["queue"]} for r in data["abandoned_per_queue"]]
    return web.Response(
        text=csv_text(fields, rows),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="menu-{data["from"]}-{data["to"]}.csv"'},
    )
