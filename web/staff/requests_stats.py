"""How agencies answer, for any period: per agency (ranked by share on time) and per topic, as a page with a
chart, as JSON and as CSV. Agencies' users see it too: their share next to the others' is the point."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from casework.statistics import Figures, Statistics, statistics
from hotline.cases import csv_text, day_bounds
from hotline.db.models import Role
from web.audit import audit
from web.context import ctx, render, who
from web.errors import bad
from web.routing import RouteTable
from web.staff.case_access import day_param

routes = RouteTable()
PERIOD = (
    ("from", "query", "first day YYYY-MM-DD (default: 30 days ago)"),
    ("to", "query", "last day (default today)"),
)
FIELDS = [
    "received",
    "on_time",
    "late",
    "overdue_now",
    "pending",
    "returned",
    "in_progress",
    "not_fixable",
    "share_on_time",
    "average_answer_hours",
    "ratings",
    "average_rating",
]


async def requested(request: web.Request) -> Statistics:
    c = ctx(request)
    today = datetime.now(c.tz).date()
    first = day_param(request, "from", today - timedelta(days=29))
    last = day_param(request, "to", today)
    if last < first or (last - first).days > 366:
        raise bad("'to' must be on or after 'from', at most a year later")
    since, _ = day_bounds(first, c.tz)
    _, until = day_bounds(last, c.tz)
    return await statistics(c.db, since, until, datetime.now(c.tz))


def as_json(request: web.Request, s: Statistics) -> dict[str, Any]:
    settings = ctx(request).settings
    tz = ctx(request).tz

    def row(f: Figures, label: str) -> dict[str, Any]:
        return {"key": f.key, "label": label, **f.view()}

    return {
        "from": s.since.astimezone(tz).date().isoformat(),
        "to": (s.until.astimezone(tz) - timedelta(days=1)).date().isoformat(),
        "requests": s.requests,
        "rejected": s.rejected,
        "total": s.total.view(),
        "per_agency": [
            {"rank": i, **row(f, settings.agency_label(f.key))} for i, f in enumerate(s.per_agency, 1)
        ],
        "per_topic": [row(f, settings.topic_label(f.key)) for f in s.per_topic],
    }


@routes.route(
    "GET",
    "/api/v1/reports/requests",
    Role.AGENCY,
    "Requests per agency (ranked by share answered on time) and per topic: received, on time, late, "
    "overdue now, average time to answer, average rating",
    api=True,
    params=PERIOD,
    response={"type": "object"},
)
async def stats_json(request: web.Request) -> web.StreamResponse:
    body = as_json(request, await requested(request))
    await audit(ctx(request), who(request), "report.requests", "", period=f"{body['from']}..{body['to']}")
    return web.json_response(body)


@routes.route(
    "GET",
    "/api/v1/reports/requests.csv",
    Role.AGENCY,
    "The same per agency and per topic, as one CSV",
    api=True,
    params=PERIOD,
)
async def stats_csv(request: web.Request) -> web.StreamResponse:
    body = as_json(request, await requested(request))
    rows = [{"table": "per_agency", **r} for r in body["per_agency"]]
    rows += [{"table": "per_topic", **r} for r in body["per_topic"]]
    await audit(
        ctx(request), who(request), "report.requests.export", "", period=f"{body['from']}..{body['to']}"
    )
    return web.Response(
        text=csv_text(["table", "rank", "key", "label", *FIELDS], rows),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="requests-{body["from"]}-{body["to"]}.csv"'},
    )


@routes.route("GET", "/reports/requests", Role.AGENCY)
async def stats_page(request: web.Request) -> web.StreamResponse:
    body = as_json(request, await requested(request))
    await audit(
        ctx(request), who(request), "report.requests", "", period=f"{body['from']}..{body['to']}", on="page"
    )
    return render(
        "requests_stats.html.j2", request, {"s": body, "fields": FIELDS, "mine": who(request).agency}
    )
