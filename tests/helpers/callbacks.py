"""Queued callbacks a test that failed halfway left waiting: they would take the agents of the next."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import ACTIVE_CALLBACK, QueuedCallback
from hotline.settings import Settings


async def expire_active(site: Settings) -> None:
    await upgrade_async(site.database_url)
    engine = make_engine(site.database_url)
    try:
        async with sessions(engine)() as session, session.begin():
            await session.execute(
                update(QueuedCallback)
                .where(QueuedCallback.status.in_(ACTIVE_CALLBACK))
                .values(status="expired", closed_at=datetime.now(UTC))
            )
    finally:
        await engine.dispose()
