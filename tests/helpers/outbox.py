"""Messages to citizens put straight into the outbox, due one after another: what the drills watch the
outbox send while a fault comes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.db.models import OutboxMessage, OutboxStatus

SUBJECT = "drill message"


async def queue_messages(db: async_sessionmaker[AsyncSession], count: int, over_seconds: float = 0.0) -> None:
    """`count` e-mails to citizens, subjects "drill message <n>", due evenly over `over_seconds`."""
    now = datetime.now(UTC)
    async with db() as session, session.begin():
        for n in range(count):
            session.add(
                OutboxMessage(
                    channel="email",
                    kind="answer",
                    to=f"citizen{n}@nguoidan.example.vn",
                    subject=f"{SUBJECT} {n}",
                    body=f"Trả lời số {n}",
                    in_reply_to="",
                    status=OutboxStatus.PENDING.value,
                    attempts=0,
                    created_at=now,
                    next_at=now + timedelta(seconds=n * over_seconds / max(count, 1)),
                    error="",
                    external_id="",
                )
            )
