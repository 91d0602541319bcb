"""Several centers, all active: every `hotline serve` on the site's one database answers the web, the
FastAGI requests and follows every Asterisk node, while each piece of background work runs on one of
them at a time under a lease (hotline/db/leases.py). When the center that holds a lease dies, is cut off
or stops, another takes the lease within seconds and the work goes on there.

- `cases`: the case writer. A standby center's writer follows the same calls, keeps the newest snapshot
  of each in its journal and drops those the active one wrote, so it takes over with nothing lost.
- `outbox`, `mailbox`, `deadlines`, `retention`, `queued-callbacks`: the request side's rounds.

On SQLite (one machine) every lease is held at once and nothing changes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from ami_bridge.case_writer import CaseWriter
from hotline.db.engine import make_engine
from hotline.db.leases import Lease, while_held

log = logging.getLogger(__name__)

CASES = "cases"
# How often a standby's writer drops the calls the active center wrote (and counts them in today's
# figures): the lag of a standby's wallboard figures, and the bound of its backlog.
STANDBY_SECONDS = 2.0


@dataclass
class Center:
    """This process's leases, on an engine of their own (each lease keeps one session open)."""

    url: str
    engine: AsyncEngine = field(init=False)
    leases: dict[str, Lease] = field(default_factory=dict)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.engine = make_engine(self.url, pooled=False)

    def lease(self, name: str) -> Lease:
        if name not in self.leases:
            self.leases[name] = Lease(self.engine, name)
            self.tasks.append(asyncio.create_task(self.leases[name].run(), name=f"lease-{name}"))
        return self.leases[name]

    def run(self, name: str, work: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """`work` runs whenever this center holds the lease `name`, and is cancelled when it loses it."""
        task = asyncio.create_task(while_held(self.lease(name), work), name=name)
        self.tasks.append(task)
        return task

    def follow_writer(self, writer: CaseWriter) -> None:
        """The case writer writes while this center holds `cases` and stands by otherwise."""
        lease = self.lease(CASES)
        if not lease.held.is_set():
            writer.stand_by()
        self.tasks.append(asyncio.create_task(_writer_role(lease, writer), name="cases-role"))

    def holding(self) -> dict[str, bool]:
        """Each lease this center tries for, and whether it holds it now (for /metrics)."""
        return {name: lease.held.is_set() for name, lease in sorted(self.leases.items())}

    async def stop(self) -> None:
        """Cancel the work, then let go of the leases (their sessions end with the engine)."""
        for task in reversed(self.tasks):
            task.cancel()
        for task in reversed(self.tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()
        await self.engine.dispose()


async def _writer_role(lease: Lease, writer: CaseWriter) -> None:
    while True:
        if lease.held.is_set():
            if not writer.active.is_set():
                await writer.take_over()
                log.warning("this center writes the cases now")
            await lease.lost.wait()
            writer.stand_by()
            log.warning("another center writes the cases now; this one stands by")
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lease.held.wait(), STANDBY_SECONDS)
        if not lease.held.is_set():
            try:
                await writer.drop_written()
            except Exception as exc:
                log.debug("standby: could not check the written cases (%s)", exc)
