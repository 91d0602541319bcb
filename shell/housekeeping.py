"""What the site keeps and for how long, run by the shell: Asterisk is asked to rotate its logs (so that
what it wrote up to now is in files it no longer writes), then the retention of hotline/retention.py is
applied; `hotline serve` does this every night, `hotline privacy retention` at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ami_bridge.actions import Actions
from ami_bridge.connection import AMIConnection
from casework import deadlines, notices
from channels import email
from hotline import retention, secrets
from hotline.db.models import CitizenRequest
from hotline.errors import HotlineError
from hotline.settings import Settings

log = logging.getLogger(__name__)


async def rotate_asterisk_logs(settings: Settings, ami: Actions | None = None) -> bool:
    """Ask Asterisk to rotate queue_log and its logs (as the bridge's AMI user: rotating is a `reporting`
    right). False when Asterisk cannot be reached or refuses; the caller then leaves the live files alone."""
    own: AMIConnection | None = None
    try:
        if ami is None:
            ami = own = AMIConnection(
                settings.ami.host,
                settings.ami.port,
                settings.ami.username,
                secrets.ami_secret(settings),
                events="off",
            )
            await own.connect()
        reply = await ami.action("LoggerRotate")
        if reply.response != "Success":
            log.warning("Asterisk did not rotate its logs: %s", reply.message)
            return False
        return True
    except (HotlineError, OSError) as exc:
        log.warning("could not ask Asterisk to rotate its logs: %s", exc)
        return False
    finally:
        if own is not None:
            with contextlib.suppress(Exception):
                await own.close()


def next_run(settings: Settings, now: datetime) -> datetime:
    """The next `[retention] run_at` in the site's time zone, after `now`."""
    zone = ZoneInfo(settings.site.timezone)
    local = now.astimezone(zone)
    run = datetime.combine(local.date(), settings.retention.run_at, zone)
    if run <= local:
        run = datetime.combine(local.date() + timedelta(days=1), settings.retention.run_at, zone)
    return run.astimezone(UTC)


async def nightly(settings: Settings, db: async_sessionmaker[AsyncSession], ami: Actions | None) -> None:
    """Every night at run_at: rotate Asterisk's logs, apply the retention. A failed run is logged and
    tried again the next night; nothing here stops the calls."""
    while True:
        wait = (next_run(settings, datetime.now(UTC)) - datetime.now(UTC)).total_seconds()
        await asyncio.sleep(max(wait, 1.0))
        try:
            await rotate_asterisk_logs(settings, ami)
            await retention.apply(settings, db)
        except Exception:
            log.exception("the nightly retention run failed; it runs again tomorrow")


async def escalate_overdue(
    settings: Settings, db: async_sessionmaker[AsyncSession], at: datetime
) -> list[CitizenRequest]:
    """Escalate what became overdue, then e-mail the supervisors and the agencies when the site has a
    relay (a relay that fails loses the mail, never the escalation)."""
    escalated = await deadlines.escalate_overdue(settings, db, at)
    messages = [m for m in (notices.escalation(settings, r) for r in escalated) if m is not None]
    await email.send_all(settings, messages)
    return escalated


async def chase_deadlines(
    settings: Settings, db: async_sessionmaker[AsyncSession], every: float = 60.0
) -> None:
    """Every minute: escalate the requests that became overdue. A failed round is logged and retried."""
    while True:
        try:
            escalated = await escalate_overdue(settings, db, datetime.now(UTC))
            if escalated:
                log.warning(
                    "overdue, escalated to the supervisors: %s", ", ".join(r.number for r in escalated)
                )
        except Exception:
            log.exception("chasing the requests' deadlines failed; trying again in a minute")
        await asyncio.sleep(every)
