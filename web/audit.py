"""The audit log: who did what to which case, agent or recording, and when."""

from __future__ import annotations

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
