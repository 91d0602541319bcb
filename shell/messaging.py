"""The channels' background work in `hotline serve`: the outbox sends what is due every few seconds, and
the mailbox is read every [mailbox] poll_seconds when one is configured. A failed round is logged and the
next one tries again: nothing is lost in between (the outbox and the mailbox keep it)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels import email_in, outbox
from hotline.db.numbers import NumberAllocator
from hotline.settings import Settings

log = logging.getLogger(__name__)
OUTBOX_SECONDS = 5.0


async def send_outbox(
    settings: Settings, db: async_sessionmaker[AsyncSession], ami: Any = None, every: float = OUTBOX_SECONDS
) -> None:
    """`ami`: the bridge's AMI connection, which dials the call backs."""
    while True:
        try:
            await outbox.deliver(settings, db, datetime.now(UTC), ami)
        except Exception:
            log.exception("the outbox round failed; trying again in %.0f s", every)
        await asyncio.sleep(every)


async def read_mailbox(
    settings: Settings, db: async_sessionmaker[AsyncSession], numbers: NumberAllocator, files: Path
) -> None:
    while True:
        try:
            taken = await email_in.poll(settings, db, numbers, files)
            if taken:
                log.info("mailbox: %s", ", ".join(f"{t.outcome} {t.number}".strip() for t in taken))
        except Exception:
            log.exception("reading the mailbox %s failed; trying again later", settings.mailbox.address)
        await asyncio.sleep(settings.mailbox.poll_seconds)
