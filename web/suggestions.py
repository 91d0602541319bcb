"""The suggestions of topic and agency this process gives (casework/suggest.py): learned from the center's
closed requests in a thread, when the web app starts and every day after, so a new center or a new kind of
request is learned within a day. Until there is enough to learn from, nothing is suggested."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from casework import suggest

log = logging.getLogger(__name__)
EVERY_SECONDS = 24 * 3600.0
RETRY_SECONDS = 300.0


class Suggestions:
    def __init__(self) -> None:
        self.current: suggest.Suggester | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self, db: async_sessionmaker[AsyncSession]) -> None:
        self._task = asyncio.create_task(self._keep_trained(db), name="suggestions")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def train(self, db: async_sessionmaker[AsyncSession]) -> None:
        examples = await suggest.examples(db)
        # Off the event loop: segmenting and fitting tens of thousands of texts takes seconds.
        self.current = await asyncio.to_thread(suggest.trained, examples) or self.current
        if self.current is not None:
            log.info("suggestions learned from %d closed requests", self.current.examples)

    async def _keep_trained(self, db: async_sessionmaker[AsyncSession]) -> None:
        while True:
            try:
                await self.train(db)
                wait = EVERY_SECONDS
            except (SQLAlchemyError, OSError, TimeoutError) as exc:
                log.warning("suggestions not learned (%s): trying again in %.0f s", exc, RETRY_SECONDS)
                wait = RETRY_SECONDS
            await asyncio.sleep(wait)
