"""Where a request happened, as a ward of the 2025 map: found when it is opened, from what the citizen
gave (a ward picked by code, the place they named, old names converted, a shared position, a place named
in their words), and for requests kept before the wards were (their `district` text, kept as said)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db.models import CitizenRequest
from hotline.places import Places

log = logging.getLogger(__name__)
NOT_FOUND = "none"  # looked for, not found: the staff place it by hand
BATCH = 500


def place(request: CitizenRequest, places: Places, picked: str = "") -> None:
    """Set the request's ward: the one picked, if it is one of the site's, else the one its place, position
    or words say; none when they say none or several."""
    if picked and places.ward(picked) is not None:
        request.ward_code, request.ward_basis = picked, "picked"
        return
    try:
        found = places.place(
            said=request.district or "",
            address=request.address or "",
            latitude=request.latitude,
            longitude=request.longitude,
            words=request.words or "",
        )
    except Exception:
        # A place is a help to the staff, never a reason to lose what a citizen sent: they place it by hand.
        log.exception("request %s could not be placed", request.number)
        found = None
    request.ward_code, request.ward_basis = (found.ward.code, found.basis) if found else ("", NOT_FOUND)


async def place_unplaced(db: async_sessionmaker[AsyncSession], places: Places, batch: int = BATCH) -> int:
    """Place the requests kept before wards were (their `ward_basis` is ""), a batch per transaction so a
    large history neither holds a long lock nor starts over after a stop. Returns how many were looked at."""
    looked_at = 0
    last_id = 0
    while True:
        async with db() as session, session.begin():
            requests = (
                await session.scalars(
                    select(CitizenRequest)
                    .where(CitizenRequest.ward_basis == "", CitizenRequest.id > last_id)
                    .order_by(CitizenRequest.id)
                    .limit(batch)
                )
            ).all()
            for request in requests:
                place(request, places)
        if not requests:
            break
        looked_at += len(requests)
        last_id = requests[-1].id
    if looked_at:
        log.info("placed %d requests kept before the 2025 wards", looked_at)
    return looked_at
