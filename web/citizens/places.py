"""The wards of the site's province for whoever types a place (the public form, the agent's desk, a
request's page): the wards a typed name may mean, old names too, and the ward nearest a position. Read
from the index in memory, bounded in what is read and what is answered."""

from __future__ import annotations

import math
import time
from typing import Any

from aiohttp import web

from hotline.places import Places, Suggestion
from web.context import ctx
from web.errors import bad
from web.routing import RouteTable
from web.ward_map import map_data

routes = RouteTable()
MOST_ANSWERS = 10
PUBLIC_MAP = web.AppKey("public_map", dict[str, Any])
PUBLIC_MAP_SECONDS = 60.0


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


def setup(app: web.Application) -> None:
    app[PUBLIC_MAP] = {}


@routes.route("GET", "/answers/map.json", None, "The last 30 days' requests by ward, for everyone (counts)")
async def public_map(request: web.Request) -> web.StreamResponse:
    """Counts only: no number, words or person, so a ward's figures say nothing of anyone. Anyone may ask
    as often as they like, so it is one period (not one a caller picks) counted at most once a minute."""
    kept = request.app[PUBLIC_MAP]
    if not kept or time.monotonic() - kept["at"] > PUBLIC_MAP_SECONDS:
        kept |= {"at": time.monotonic(), "body": await map_data(ctx(request), request, asked=False)}
    return web.json_response(kept["body"])
