"""The AMI bridge: follows the calls on the AMI session it is handed (the call tracker, the live board) and
writes their cases (the case writer).

After every (re)connect it reads Asterisk's channels and queue entries and rebuilds the live calls from
them; then, from Asterisk's own record of the calls (queue_log), it completes the calls that ended while it
was away, the cases a previous bridge process left open, and the calls no bridge saw at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ami_bridge import node_loss, open_cases
from ami_bridge.calls import Call, CallTracker
from ami_bridge.case_writer import CaseWriter
from ami_bridge.connection import AMIConnection
from ami_bridge.live import LiveBoard
from ami_bridge.message import AMIMessage
from ami_bridge.queue_log import CallRecord, QueueLogReader
from ami_bridge.session import AMISession
from hotline.asterisk.channel_vars import RESYNC
from hotline.settings import Settings

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
OPEN_CASES_WAIT = 5.0  # seconds a reconnect waits for the database to give the open cases of live calls


class Bridge:
    """Follows one Asterisk: subscribes to `ami`, keeps its live calls in `calls` and hands them to
    `writer`, and feeds `board`. The session, the writer and the board are owned by the process that hands
    them in (shell/service.py): with several nodes, one bridge follows each, into the one writer and
    board."""

    def __init__(
        self,
        settings: Settings,
        *,
        db: async_sessionmaker[AsyncSession],
        writer: CaseWriter,
        ami: AMISession,
        board: LiveBoard,
        calls: dict[str, Call],
    ) -> None:
        self.settings = settings
        self._db = db
        self.writer = writer
        self.board = board
        self.tracker = CallTracker(on_update=self.writer.submit, calls=calls)
        self.ami = ami
        ami.when_connected(self._resync)
        ami.subscribe(self._on_event)
        position = settings.node_state_path / "queue_log.position"
        self.records = QueueLogReader(settings.queue_log_path, position)
        self._unreconciled: dict[str, CallRecord] = {}
        self._live: set[str] = set()
        self._reconciler: asyncio.Task[None] | None = None
        self._unseen_since: datetime | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        # The calls ended when this node was declared lost: hung up on it should it come back with them.
        self._lost: set[str] = set()

    def lose(self, at: datetime) -> list[Call]:
        """The node is lost (ami_bridge/node_loss.py): end its calls with what was seen of them."""
        callbacks = self.settings.queued_callbacks.enabled
        ended = node_loss.lose_calls(self.tracker.calls, self.settings.node, at, callbacks)
        self._lost.update(call.linkedid for call in ended)
        for call in ended:
            self.writer.submit(call)
        self.board.refresh()
        return ended

    async def _fence(self, conn: AMIConnection, channels: list[AMIMessage]) -> list[AMIMessage]:
        """Hang up what a returning node still holds of the calls closed when it was lost (its link was
        cut, not its process): those callers were already told nothing more would come of this call, and
        their cases are written; the rest of the node's channels are followed as usual."""
        stale = [c for c in channels if str(c.Linkedid) in self._lost]
        for channel in stale:
            await conn.action("Hangup", Channel=str(channel.Channel), Cause="16")
        if stale:
            log.warning(
                "node %s came back with %d channel(s) of calls closed when it was lost: hung up",
                self.settings.node,
                len(stale),
            )
        self._lost.clear()
        return [c for c in channels if str(c.Linkedid) not in {str(s.Linkedid) for s in stale}]

    def take_in(self, call: Call) -> None:
        """A live call an earlier run left in the journal: the resynchronisation goes on following it (or
        ends it) with its whole history."""
        self.tracker.calls.setdefault(call.linkedid, call)

    async def start(self, wait: float | None = 15.0) -> None:
        """Connect to Asterisk's AMI (the writer runs already): AMIError when it does not answer within
        `wait` seconds (the session goes on trying in the background; `stop` ends it). With `wait` None,
        return at once: the caller waits with `self.ami.wait_connected`."""
        self._heartbeat = asyncio.create_task(self._beat(), name="following-heartbeat")
        await self.ami.start(wait=wait)

    async def _beat(self) -> None:
        """While connected, note every few seconds that the bridge follows Asterisk (see QueueLogReader)."""
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if self.ami.connected.is_set() and self._unseen_since is None:
                try:
                    self.records.following(datetime.now(UTC))
                except OSError as exc:
                    log.warning(
                        "cannot note in %s that the bridge is running: %s", self.records.position_file, exc
                    )

    async def _reconcile(self) -> None:
        delay = 1.0
        while True:
            records, since = self._unreconciled, self._unseen_since
            self._unreconciled = {}
            try:
                await self.writer.flush(timeout=None)  # what the tracker already closed is written first
                await self._close_ended(records, since)
                self.records.commit()
            except Exception:
                self._unreconciled = {**records, **self._unreconciled}
                log.exception("closing the calls that ended while the bridge was away failed; retrying")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            if self._unreconciled:
                continue  # a reconnect meanwhile brought more
            # Only now: a bridge that dies before this point must look at the same calls again.
            self._unseen_since = None
            self.records.following(datetime.now(UTC))
            return

    async def _close_ended(self, records: dict[str, CallRecord], since: datetime | None) -> None:
        calls = await open_cases.ended_while_away(
            self._db, self._live, records, self.writer.has, since, node=self.settings.node
        )
        for call in calls:
            self.writer.submit(call)
        if calls:
            log.warning("closed %d call(s) that ended while the bridge was not following them", len(calls))

    async def stop(self) -> None:
        for task in (self._reconciler, self._heartbeat):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.ami.connected.is_set() and self._unseen_since is None:
            with contextlib.suppress(OSError):
                self.records.following(datetime.now(UTC))
        await self.ami.stop()

    @property
    def calls(self) -> dict[str, Call]:
        return self.tracker.calls

    def _on_event(self, event: AMIMessage) -> None:
        self.tracker.handle(event)
        self.board.handle(event)

    async def _take_in_open_cases(self, linkedids: set[str]) -> None:
        """Live calls this process does not follow yet (its predecessor was killed after writing them) go
        on from their open cases, so the case keeps what was seen (queued, answered, the wait) instead of
        what Asterisk can still tell. A database that does not answer in time does not hold up the
        session: those calls are then rebuilt from Asterisk alone."""
        if not linkedids:
            return
        try:
            found = await asyncio.wait_for(open_cases.open_calls(self._db, linkedids), OPEN_CASES_WAIT)
        except Exception as exc:  # the database away or slow: Asterisk's lists still rebuild the calls
            log.warning(
                "open cases of %d live call(s) not read (%s): rebuilt from Asterisk", len(linkedids), exc
            )
            return
        for call in found:
            call.mark("resynchronised", taken_in="open case")
            self.tracker.calls.setdefault(call.linkedid, call)

    async def _resync(self, conn: AMIConnection) -> None:
        listing = await conn.action_list("CoreShowChannels")
        channels = [m for m in listing if m.get("Event") == "CoreShowChannel"]
        if self._lost:
            channels = await self._fence(conn, channels)
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
        await self._take_in_open_cases({str(c.Linkedid) for c in channels} - set(self.tracker.calls))
        ended = self.records.read_new()
        # Calls that started after a bridge last followed Asterisk are the only ones no bridge saw (a first
        # start ever takes in none from before it).
        unseen_since = self.records.followed_until() or datetime.max.replace(tzinfo=UTC)
        self.tracker.resync(channels, variables, entries, ended)
        self.board.resync(members, [m for m in summary if m.get("Event") == "QueueSummary"])
        # Closing what ended while nobody listened needs the database: in the background, so that a
        # database that is away does not hold up the AMI session.
        self._unreconciled.update(ended)
        if self._unseen_since is None or unseen_since < self._unseen_since:
            self._unseen_since = unseen_since
        self._live = {str(c.Linkedid) for c in channels}
        if self._reconciler is None or self._reconciler.done():
            self._reconciler = asyncio.create_task(self._reconcile(), name="reconcile")
        log.info(
            "resynchronised: %d live call(s), %d in queues, %d queue member(s)",
            len(self.tracker.calls),
            len(entries),
            len(members),
        )
