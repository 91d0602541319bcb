"""The audit log: who did what to which case, agent or recording, and when."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hotline.db.models import AuditEntry
from web.auth import Principal
from web.context import Context


async def audit(c: Context, actor: Principal, action: str, target: str, **detail: Any) -> None:
    async with c.db() as session, session.begin():
        session.add(
            AuditEntry(at=datetime.now(UTC), actor=actor.name, action=action, target=target, detail=detail)
        )
