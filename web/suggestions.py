"""The suggestions of topic and agency this process gives (casework/suggest.py): learned from the center's
closed requests when the web app starts, then every night at NIGHT_HOUR in the site's time, so a new
center or a new kind of request is learned within a day. Until there is enough to learn from, nothing is
suggested.

Learning runs in a child process of its own, at a lower priority. In a thread of the serving process it
would share the interpreter with the FastAGI server, the AMI bridge and the web app: 50,000 requests take
about a minute there, with the event loop held up to 115 ms at a time, and every call's AGI and AMI work
waiting behind it; with the child, the loop's p99 lag is 4.5 ms (measured on 50,000).
A child that dies or is killed leaves the suggestions as they were, and it is tried again later."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
from datetime import datetime, time, timedelta
from multiprocessing.connection import Connection
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from casework import suggest

log = logging.getLogger(__name__)
NIGHT_HOUR = 2  # the site's quietest hour
RETRY_SECONDS = 300.0
LOWER_PRIORITY = 10  # nice: the calls and the pages come first on the machine's cores


class LearningLost(Exception):
    """The child learning the suggestions ended without an answer (killed, or out of memory)."""


def _learn(examples: list[suggest.Example], answer: Connection) -> None:
    """In the child: learn at a lower priority, answer, end."""
    with contextlib.suppress(OSError):
        os.nice(LOWER_PRIORITY)
    answer.send(suggest.trained(examples))
    answer.close()


def _answer_of(receiving: Connection) -> suggest.Suggester | None:
    try:
        answer: suggest.Suggester | None = receiving.recv()
    except EOFError:
        raise LearningLost("the child learning the suggestions ended without an answer") from None
    return answer


def next_night(now: datetime, tz: ZoneInfo) -> datetime:
    """The next NIGHT_HOUR in the site's time after `now`."""
    local = now.astimezone(tz)
    night = datetime.combine(local.date(), time(NIGHT_HOUR), tz)
    return night if night > local else night + timedelta(days=1)


async def learned(examples: list[suggest.Example]) -> suggest.Suggester | None:
    """The suggester learned from `examples` in a child process: spawned, so nothing of this process's
    threads or connections is copied into it; killed if this process stops waiting for it (the service
    stopping), and a daemon, so it never outlives this process."""
    spawn = multiprocessing.get_context("spawn")
    receiving, sending = spawn.Pipe(duplex=False)
    child = spawn.Process(target=_learn, args=(examples, sending), name="hotline-suggestions", daemon=True)
    child.start()
    sending.close()  # the child's end: once the child is gone, waiting for its answer ends at once
    try:
        return await asyncio.to_thread(_answer_of, receiving)
    finally:
        if child.is_alive():
            child.kill()
        await asyncio.to_thread(child.join, 5.0)
        receiving.close()


class Suggestions:
    def __init__(self, tz: ZoneInfo | None = None) -> None:
        self.current: suggest.Suggester | None = None
        self.tz = tz or ZoneInfo("UTC")
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
        if len(examples) < suggest.FEWEST_EXAMPLES:
            return  # nothing to learn yet: no process is started for it
        self.current = await learned(examples) or self.current
        if self.current is not None:
            log.info("suggestions learned from %d closed requests", self.current.examples)

    async def _keep_trained(self, db: async_sessionmaker[AsyncSession]) -> None:
        while True:
            try:
                await self.train(db)
                wait = (next_night(datetime.now(self.tz), self.tz) - datetime.now(self.tz)).total_seconds()
            except (SQLAlchemyError, OSError, TimeoutError, LearningLost) as exc:
                log.warning("suggestions not learned (%s): trying again in %.0f s", exc, RETRY_SECONDS)
                wait = RETRY_SECONDS
            await asyncio.sleep(wait)
