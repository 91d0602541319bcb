"""The audit log: who did what to which case, agent or recording, and when."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from hotline.db.models import AuditEntry
from web.auth import Principal
from web.context import Context


async def audit(c: Context, actor: Principal | str, action: str, target: str, **detail: Any) -> None:
    """One entry; `actor` is who was signed in, or a name for someone who was not (a failed sign-in)."""
    name = actor if isinstance(actor, str) else actor.name
    async with c.db() as session, session.begin():
        session.add(
            AuditEntry(
                at=datetime.now(UTC), actor=name[:80], action=action, target=target[:128], detail=detail
            )
        )


async def playback(c: Context, actor: Principal, case_number: str, ranges: str) -> None:
    """A recording fetched: one entry per person, recording and minute, whatever ranges a browser or a
    download tool asks for (a browser fetches a file in many ranges while it plays)."""
    minute = int(time.time() // 60)
    key = (actor.name, case_number, minute)
    if key in c.played:
        return
    c.played.difference_update({k for k in c.played if k[2] < minute})
    c.played.add(key)
    await audit(c, actor, "recording.play", case_number, range=ranges)
