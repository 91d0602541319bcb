"""The requests of a period on a map of the province's wards: how many each ward had, the overdue ones
marked. Supervisors and agents see every request; an agency's users the requests sent to their agency."""

from __future__ import annotations

from aiohttp import web

from hotline.db.models import Role
from web.audit import audit
from web.context import ctx, render, who
from web.routing import RouteTable
from web.ward_map import map_data, period

routes = RouteTable()


@routes.route("GET", "/requests/map", Role.AGENCY)
async def requests_map(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    first, last, _, _ = period(request, c)
    return render(
        "requests_map.html.j2",
        request,
        {"first": first.isoformat(), "last": last.isoformat(), "source": "/requests/map.json"},
    )


@routes.route(
    "GET",
    "/requests/map.json",
    Role.AGENCY,
    "The requests of a period by ward (an agency's user: those sent to their agency)",
)
async def requests_map_data(request: web.Request) -> web.StreamResponse:
    c, principal = ctx(request), who(request)
    agency = principal.agency if principal.role is Role.AGENCY else ""
    body = await map_data(c, request, agency)
    await audit(c, principal, "request.map", "", since=body["from"], until=body["to"])
    return web.json_response(body)
