"""Work that must run once across every center (the case writer, the outbox, the mailbox, deadlines,
retention, the queued callbacks' dispatcher) is held under a lease: a PostgreSQL session-level advisory
lock, taken and kept on a connection of its own. PostgreSQL lets go of the lock the moment that session
ends, so a center killed, cut off or stopped hands its work to another without an election of ours.

Both sides must know when the session is gone: the holder pings it every `check_seconds` and stops the
work the moment a ping fails or is late; the server learns of a holder cut off from it through the TCP
keep-alives and user timeout set on that session (seconds, not the kernel's two hours), and only then lets
another center take the lock. On SQLite (one machine, one process) a lease is always held."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

CHECK_SECONDS = 2.0
ANSWER_SECONDS = 10.0  # for taking the lock; a ping must answer within check_seconds
# The server side of a lease's session: a holder that vanishes (a cut cable, a frozen machine) is noticed
# after at most idle + interval * count seconds of silence, or when unacknowledged data waits for the user
# timeout; its lock is then free for another center.
KEEPALIVE = {"tcp_keepalives_idle": 3, "tcp_keepalives_interval": 1, "tcp_keepalives_count": 3}
USER_TIMEOUT_MS = 6000


def lock_key(name: str) -> int:
    """The advisory lock's number for a lease: stable across processes and versions (not Python's hash)."""
    return int.from_bytes(hashlib.sha256(f"hotline1022:{name}".encode()).digest()[:8], "big", signed=True)


class Lease:
    """One named piece of work that runs on one center at a time. `held` is set while this process holds
    it; `run` keeps trying to take it and watches it once taken."""

    def __init__(
        self,
        engine: AsyncEngine,
        name: str,
        *,
        check_seconds: float = CHECK_SECONDS,
        retry_seconds: float = 1.0,
    ) -> None:
        self.engine = engine
        self.name = name
        self.key = lock_key(name)
        self.check_seconds = check_seconds
        self.retry_seconds = retry_seconds
        self.held = asyncio.Event()
        self.lost = asyncio.Event()  # set while not held (the work's cancel signal)
        self.lost.set()
        self.taken = 0  # times this process took the lease
        self._shared = engine.dialect.name != "postgresql"

    async def run(self) -> None:
        """Take the lease whenever it is free, hold it while the session lives; for ever (cancel to stop:
        the lock goes with the session)."""
        if self._shared:
            self._hold()
            await asyncio.Event().wait()
        while True:
            try:
                async with self.engine.connect() as conn:
                    await self._keepalives(conn)
                    taken = await self._try(conn)
                    while not taken:
                        await asyncio.sleep(self.retry_seconds)
                        taken = await self._try(conn)
                    self._hold()
                    log.info("lease %s taken: this center runs it now", self.name)
                    await self._watch(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.held.is_set():
                    log.error("lease %s lost (%s); its work stops here", self.name, str(exc)[:300])
                else:
                    log.debug("lease %s: the database did not answer (%r)", self.name, exc)
            finally:
                self._release()
            await asyncio.sleep(self.retry_seconds)

    def _hold(self) -> None:
        self.taken += 1
        self.lost.clear()
        self.held.set()

    def _release(self) -> None:
        self.held.clear()
        self.lost.set()

    async def _keepalives(self, conn: AsyncConnection) -> None:
        for setting, value in (*KEEPALIVE.items(), ("tcp_user_timeout", USER_TIMEOUT_MS)):
            await conn.execute(text(f"SET {setting} = {int(value)}"))
        await conn.commit()

    async def _try(self, conn: AsyncConnection) -> bool:
        got = await asyncio.wait_for(
            conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}), ANSWER_SECONDS
        )
        await conn.commit()
        return bool(got)

    async def _watch(self, conn: AsyncConnection) -> None:
        """Ping the lease's session (its lock lasts as long as it does); a failed or late ping ends the
        hold (raises)."""
        while True:
            await asyncio.sleep(self.check_seconds)
            await asyncio.wait_for(conn.scalar(text("SELECT 1")), self.check_seconds)
            await conn.commit()


async def while_held(lease: Lease, work: Callable[[], Awaitable[None]]) -> None:
    """Run `work` each time the lease is held, cancelling it the moment the lease is lost; for ever."""
    while True:
        await lease.held.wait()
        task = asyncio.ensure_future(work())
        lost = asyncio.ensure_future(lease.lost.wait())
        try:
            await asyncio.wait({task, lost}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.error("the work of lease %s failed: %s", lease.name, task.exception())
            await asyncio.sleep(lease.retry_seconds)
        elif lease.held.is_set():
            return  # the work ended by itself
