"""The wards of the site's province for whoever types a place (the public form, the agent's desk, a
request's page): the wards a typed name may mean, old names too, and the ward nearest a position. Read
from the index in memory, bounded in what is read and what is answered."""

from __future__ import annotations

import math
from typing import Any

from aiohttp import web

from hotline.places import Places, Suggestion
from web.context import ctx
from web.errors import bad
from web.routing import RouteTable
from web.ward_map import map_data

routes = RouteTable()
MOST_ANSWERS = 10


def suggestion_view(places: Places, s: Suggestion) -> dict[str, Any]:
    label = places.label(s.ward.code)
    said = f"{label} ({s.old.name}, {s.old.district})" if s.old else label
    return {"code": s.ward.code, "ward": label, "label": said, "old": s.old.name if s.old else ""}


@routes.route(
    "GET",
    "/places/wards",
    None,
    "The site's wards a typed name may mean (2025 or older names, with or without diacritics)",
)
async def wards(request: web.Request) -> web.StreamResponse:
    places = ctx(request).settings.places()
    found = places.suggest(request.query.get("q", ""), MOST_ANSWERS)
    return web.json_response([suggestion_view(places, s) for s in found])


@routes.route(
    "GET",
    "/places/nearest",
    None,
    "The site's ward a position most likely lies in (from the wards' centres and areas)",
)
async def nearest(request: web.Request) -> web.StreamResponse:
    try:
        lat, lon = float(request.query.get("lat", "")), float(request.query.get("lon", ""))
    except ValueError:
        raise bad("lat and lon are numbers") from None
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        raise bad("lat is from -90 to 90, lon from -180 to 180")
    places = ctx(request).settings.places()
    ward = places.nearest(lat, lon)
    if ward is None:
        return web.json_response(None)
    return web.json_response(suggestion_view(places, Suggestion(ward)))


@routes.route("GET", "/answers/map.json", None, "The requests of a period by ward, for everyone (counts)")
async def public_map(request: web.Request) -> web.StreamResponse:
    """Counts only: no number, words or person, so a ward's figures say nothing of anyone."""
    return web.json_response(await map_data(ctx(request), request))
