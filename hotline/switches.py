"""Switches for an emergency: an announcement played before the menu (until its end time), and the hotline
forced open or closed whatever its hours. Thrown from the web app, read by the IVR at each call (through
a short cache, so that a database that is slow or away never holds a caller up)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db.models import SiteSwitch, rows_changed

log = logging.getLogger(__name__)

ANNOUNCEMENT, HOURS = "announcement", "hours"
ANNOUNCEMENTS = "announcements"  # under the prompts' folder: hotline/announcements/<name>
FORCED = ("open", "closed")
READ_TIMEOUT = 1.0  # seconds a caller may wait for the switches before the last ones are used


@dataclass(frozen=True)
class Switches:
    announcement: str = ""  # the prompt to play before the menu, e.g. announcements/a-1764745200
    announcement_text: str = ""
    announcement_until: datetime | None = None
    hours: str = ""  # open | closed: forced; empty: the site's hours
    hours_until: datetime | None = None

    def at(self, now: datetime) -> Switches:
        """These switches as they stand at `now` (one that ended since they were read is off)."""
        if self.announcement_until is not None and self.announcement_until <= now:
            self = Switches(hours=self.hours, hours_until=self.hours_until)
        if self.hours_until is not None and self.hours_until <= now:
            self = Switches(self.announcement, self.announcement_text, self.announcement_until)
        return self

    def view(self) -> dict[str, str | None]:
        return {
            "announcement": self.announcement or None,
            "announcement_text": self.announcement_text,
            "announcement_until": self.announcement_until.isoformat() if self.announcement_until else None,
            "hours": self.hours or None,
            "hours_until": self.hours_until.isoformat() if self.hours_until else None,
        }


async def read(db: async_sessionmaker[AsyncSession], now: datetime | None = None) -> Switches:
    """The switches on now: a switch past its end time is off (no one has to turn it off at night)."""
    now = now or datetime.now(UTC)
    async with db() as session:
        rows = {s.name: s for s in await session.scalars(select(SiteSwitch))}
    announcement, hours = rows.get(ANNOUNCEMENT), rows.get(HOURS)
    return Switches(
        announcement=announcement.value if announcement else "",
        announcement_text=announcement.text if announcement else "",
        announcement_until=announcement.until if announcement else None,
        hours=hours.value if hours and hours.value in FORCED else "",
        hours_until=hours.until if hours else None,
    ).at(now)


async def throw(
    session: AsyncSession, name: str, value: str, until: datetime | None, by: str, text: str = ""
) -> None:
    if name not in (ANNOUNCEMENT, HOURS):
        raise ValueError(f"no switch {name!r}")
    if name == HOURS and value not in FORCED:
        raise ValueError(f"hours must be forced {' or '.join(FORCED)}")
    await session.merge(
        SiteSwitch(name=name, value=value, text=text, until=until, set_by=by, set_at=datetime.now(UTC))
    )


async def turn_off(session: AsyncSession, name: str) -> bool:
    gone = await session.execute(delete(SiteSwitch).where(SiteSwitch.name == name))
    return bool(rows_changed(gone))


class Cached:
    """The switches as the IVR reads them at each call: at most `ttl` seconds old. When the database does
    not answer, the last switches read stay in force (an emergency announcement does not stop because the
    database is busy) and the caller is not held up."""

    def __init__(self, db: async_sessionmaker[AsyncSession], ttl: float = 2.0) -> None:
        self.db, self.ttl = db, ttl
        self.last = Switches()
        self.read_at = float("-inf")

    async def get(self) -> Switches:
        if time.monotonic() - self.read_at >= self.ttl:
            try:
                self.last = await asyncio.wait_for(read(self.db), READ_TIMEOUT)
            except Exception as exc:
                log.warning("switches not read (%s); keeping the last ones", exc or type(exc).__name__)
            self.read_at = time.monotonic()
        return self.last.at(datetime.now(UTC))
