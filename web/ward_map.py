"""The requests of a period on the province's wards, as the maps draw them: every ward of the province with
its centre and the radius of a disc of its area (no boundaries are needed, nor a tile server) and its
counts; the tile server when the site has one. The staff's map, an agency's own, and the public answers'
page read it."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from casework.ward_figures import WardFigures, by_ward
from hotline.cases import day_bounds
from hotline.places.index import radius_km
from web.context import Context
from web.errors import bad

MOST_DAYS = 366
DEFAULT_DAYS = 30


def period(request: web.Request, c: Context, asked: bool = True) -> tuple[date, date, datetime, datetime]:
    """The days asked for (?from=YYYY-MM-DD&to=…; the last 30 by default, and always without `asked`),
    and their bounds."""
    today = datetime.now(c.tz).date()
    query = request.query if asked else {}
    try:
        first = date.fromisoformat(query.get("from", "") or (today - timedelta(DEFAULT_DAYS - 1)).isoformat())
        last = date.fromisoformat(query.get("to", "") or today.isoformat())
    except ValueError:
        raise bad("from and to are dates, YYYY-MM-DD") from None
    if last < first or (last - first).days > MOST_DAYS:
        raise bad("'to' must be on or after 'from', at most a year later")
    return first, last, day_bounds(first, c.tz)[0], day_bounds(last, c.tz)[1]


async def map_data(c: Context, request: web.Request, agency: str = "", asked: bool = True) -> dict[str, Any]:
    first, last, since, until = period(request, c, asked)
    figures = {f.ward_code: f for f in await by_ward(c.db, since, until, datetime.now(c.tz), agency)}
    places = c.settings.places()
    # A province's every ward, to draw its shape; the whole country's only where something happened.
    shown = (
        places.wards.values() if places.province else [places.wards[k] for k in figures if k in places.wards]
    )
    none = WardFigures("", 0, 0, 0, 0, 0, 0)
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "tiles": c.settings.map.tiles,
        "attribution": c.settings.map.attribution,
        "wards": [
            {
                "code": w.code,
                "name": w.name,
                "lat": w.latitude,
                "lon": w.longitude,
                "radius_m": round(1000 * radius_km(w)),
                **figures.get(w.code, none).view(),
            }
            for w in shown
        ],
        "unplaced": figures.get("", none).view(),
    }
