"""The AMI bridge: one AMI session, the live calls, and the case writer, wired together.

After every (re)connect it reads Asterisk's channels and queue entries, rebuilds the live calls from them,
closes the calls that ended while it was away, and closes the cases a previous bridge process left open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from ami_bridge.calls import Call, CallTracker
from ami_bridge.case_writer import CaseWriter
from ami_bridge.connection import AMIConnection
from ami_bridge.journal import Journal
from ami_bridge.live import LiveBoard
from ami_bridge.message import AMIMessage
from ami_bridge.session import AMISession
from hotline import secrets
from hotline.channel_vars import RESYNC
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.numbers import NumberAllocator
from hotline.settings import Settings

log = logging.getLogger(__name__)


class Bridge:
    def __init__(
        self,
        settings: Settings,
        on_written: Callable[[Call], None] | None = None,
        journal_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.db = db = sessions(self.engine)
        self.writer = CaseWriter(
            db,
            NumberAllocator(db),
            on_written=on_written,
            journal=Journal(journal_dir or settings.state_path / "journal"),
        )
        self.tracker = CallTracker(on_update=self.writer.submit)
        self.board = LiveBoard(settings, self.tracker.calls)
        self.ami = AMISession(
            settings.ami.host,
            settings.ami.port,
            settings.ami.username,
            secrets.ami_secret(settings),
            on_event=self._on_event,
            on_connect=self._resync,
            ping_seconds=settings.ami.ping_seconds,
        )
        self._first_sync = True

    async def start(self, wait: float = 15.0) -> None:
        await upgrade_async(self.settings.database_url)
        await self.writer.load_dead_letters()
        # What an earlier run (killed, or stopped while the database was away) left unwritten. The calls
        # that were still live go back to the tracker: the resynchronisation then goes on following them
        # (or ends them) with their whole history.
        for call in self.writer.replay():
            if call.ended_at is None and call.in_hotline:
                self.tracker.calls.setdefault(call.linkedid, call)
        self.writer.start()
        await self.ami.start(wait=wait)

    async def stop(self) -> None:
        await self.ami.stop()
        await self.writer.stop()
        await self.engine.dispose()

    @property
    def calls(self) -> dict[str, Call]:
        return self.tracker.calls

    def _on_event(self, event: AMIMessage) -> None:
        self.tracker.handle(event)
        self.board.handle(event)

    async def _resync(self, conn: AMIConnection) -> None:
        listing = await conn.action_list("CoreShowChannels")
        channels = [m for m in listing if m.get("Event") == "CoreShowChannel"]
        variables: dict[str, dict[str, str]] = {}
        for linkedid in {str(c.Linkedid) for c in channels}:
            first = next((c for c in channels if str(c.Uniqueid) == linkedid), None)
            if first is None:
                continue
            values = variables[linkedid] = {}
            for name in RESYNC:
                reply = await conn.action("Getvar", Channel=str(first.Channel), Variable=name)
                values[name] = str(reply.get("Value", "") or "")
        status = await conn.action_list("QueueStatus")
        entries = [m for m in status if m.get("Event") == "QueueEntry"]
        members = [m for m in status if m.get("Event") == "QueueMember"]
        summary = await conn.action_list("QueueSummary")
        self.tracker.resync(channels, variables, entries)
        self.board.resync(members, [m for m in summary if m.get("Event") == "QueueSummary"])
        if self._first_sync:
            # Cases a previous bridge process left open: their calls may have ended while nobody listened.
            await self.writer.flush()
            await self.writer.reconcile({str(c.Linkedid) for c in channels})
            self._first_sync = False
        log.info(
            "resynchronised: %d live call(s), %d in queues, %d queue member(s)",
            len(self.tracker.calls),
            len(entries),
            len(members),
        )
