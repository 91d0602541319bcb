"""The queued callbacks' dispatcher in `hotline serve`: it keeps each waiting callback's stand-in in its
queue, and records what came of each try.

A stand-in is a Local channel pair (AMI Originate into [hotline-qcb-hold]): one half joins the queue at
the citizen's place (by when they joined, HOTLINE_QUEUED_AT), so Asterisk counts it in position
announcements and the wallboard lists it; the agent who answers it sends the other half to dial the
citizen ([hotline-qcb-taken]). The citizen is dialled only after an agent took the callback, so never more
callbacks dial than agents are free, and the order of the queue is Asterisk's own.

Nothing here is needed for a try to be reported: the dialplan reports it as a UserEvent (applied at once)
and as a queue_log line, read again after every (re)connect, so a dispatcher that was stopped (or a
database that was away) loses no result; a report counts once, and only for the stand-in placed last.
A callback whose stand-in was lost without a report (Asterisk restarted) counts one try and is placed
again. Only within the hotline's hours (and the supervisors' switches) is a stand-in placed; one past its
expiry is hung up and the citizen is on the worklist of missed calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ami_bridge import actions
from hotline import queued_callbacks as qcb
from hotline import worklist
from hotline.asterisk.channel_vars import QCB_EVENT, QCB_LINKEDID_PREFIX, QCB_LOG_EVENT, PlaceVar, Var
from hotline.asterisk.naming import extension_of
from hotline.db.models import ACTIVE_CALLBACK, CallbackStatus, Case, QueuedCallback
from hotline.errors import AMIActionRefused
from hotline.settings import Settings
from hotline.switches import Cached
from ivr import hours

log = logging.getLogger(__name__)
LINKEDID_PREFIX = QCB_LINKEDID_PREFIX
ROUND_SECONDS = 1.0
PLACING = 10.0  # seconds
# How much of the end of queue_log is read for reports after a (re)connect.
LOG_TAIL_BYTES = 8 << 20
CALLBACK_NAME = "Goi lai"  # what the agent's phone shows as the caller's name, then the citizen's number


class AMI(Protocol):
    connected: asyncio.Event

    @property
    def connects(self) -> int: ...

    async def action(self, name: str, **fields: Any) -> Any: ...

    async def action_list(self, name: str, **fields: Any) -> list[Any]: ...


@dataclass(frozen=True)
class Report:
    stand_in: str  # the linkedid of the stand-in whose try this was
    result: str
    agent: str
    recording: str


def parse_tag(tag: str) -> tuple[int, int] | None:
    """HOTLINE_QCB of a stand-in: '<callback id>:<try>'."""
    first, _, second = tag.partition(":")
    return (int(first), int(second)) if first.isdigit() and second.isdigit() else None


def stand_in_of(linkedid: str) -> tuple[int, int] | None:
    """The callback and try a stand-in's linkedid names, or None for any other call."""
    if not linkedid.startswith(LINKEDID_PREFIX):
        return None
    parts = linkedid.removeprefix(LINKEDID_PREFIX).split("-")
    return (
        (int(parts[0]), int(parts[1]))
        if len(parts) >= 2 and parts[0].isdigit() and parts[1].isdigit()
        else None
    )


def reports_in_log(path: Path, tail: int = LOG_TAIL_BYTES) -> list[Report]:
    """The tries the dialplan wrote to queue_log (`...|<agent>|HOTLINE_QCB|<id>:<try>|<status>|<rec>`)."""
    try:
        with path.open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - tail))
            data = f.read()
    except FileNotFoundError:
        return []
    found = []
    for raw in data.split(b"\n"):
        if QCB_LOG_EVENT.encode() not in raw:
            continue
        parts = raw.decode("utf-8", "replace").split("|")
        if len(parts) < 7 or parts[4] != QCB_LOG_EVENT:
            continue
        if stand_in_of(parts[1]) is None or parse_tag(parts[5]) is None:
            continue
        agent = "" if parts[3] == "NONE" else extension(parts[3])
        found.append(Report(parts[1], parts[6], agent, unquote(parts[7]) if len(parts) > 7 else ""))
    return found


def extension(endpoint: str) -> str:
    """The agent's extension from their endpoint (agent101 -> 101), as the dialplan reports it."""
    return extension_of(f"PJSIP/{endpoint}")


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        db: async_sessionmaker[AsyncSession],
        ami: AMI,
        open_now: Callable[[], Awaitable[bool]],
    ) -> None:
        self.settings, self.db, self.ami, self.open_now = settings, db, ami, open_now
        self.queues = {q.name for q in settings.queues}
        self.live: dict[int, set[str]] = {}  # callback id -> uniqueids of its stand-in's channels
        # Callback id -> when its stand-in was last placed: not placed again sooner than PLACING
        # (an Originate that failed, a stand-in Asterisk dropped), so a fault does not become a storm.
        self.placed: dict[int, float] = {}
        self.reports: list[Report] = []
        self.taken: list[tuple[str, str]] = []  # stand-in linkedid, agent
        self.fresh: dict[int, set[str]] = {}  # channels that came while the resynchronisation listed them
        self.wake = asyncio.Event()
        self._synced = -1

    # -- events (from the bridge's AMI session, in order) --------------------------------------------
    def handle(self, event: Any) -> None:
        name = str(event.get("Event", ""))
        if name == "UserEvent":
            linkedid = str(event.get("Linkedid", ""))
            ours = str(event.get("UserEvent", "")) == QCB_EVENT and stand_in_of(linkedid) is not None
            if ours and parse_tag(str(event.get("Callback", ""))) is not None:
                self.reports.append(
                    Report(
                        linkedid,
                        str(event.get("Result", "")),
                        extension(str(event.get("Agent", ""))),
                        unquote(str(event.get("Recording", ""))),
                    )
                )
                self.wake.set()
            return
        stand_in = stand_in_of(str(event.get("Linkedid", "")))
        if stand_in is None:
            return
        callback_id = stand_in[0]
        if name == "Newchannel":
            self.live.setdefault(callback_id, set()).add(str(event.get("Uniqueid", "")))
            self.fresh.setdefault(callback_id, set()).add(str(event.get("Uniqueid", "")))
        elif name == "Hangup":
            channels = self.live.get(callback_id, set())
            channels.discard(str(event.get("Uniqueid", "")))
            if not channels:
                self.live.pop(callback_id, None)
                self.wake.set()
        elif name == "AgentConnect":
            self.taken.append((str(event.get("Linkedid", "")), extension_of(str(event.get("Interface", "")))))
            self.wake.set()

    # -- rounds --------------------------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            try:
                await self.round()
            except Exception:
                log.exception("the queued callbacks' round failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), ROUND_SECONDS)
            self.wake.clear()

    async def round(self, now: datetime | None = None) -> None:
        if not self.ami.connected.is_set():
            return
        if self._synced != self.ami.connects:
            await self.resync()
        await self.apply()
        now = now or datetime.now(UTC)
        async with self.db() as session, session.begin():
            expired = await qcb.expire(session, now)
            for callback in expired:
                await self._to_worklist(session, callback, now)
        for callback in expired:
            log.warning("queued callback %d expired: no agent took it in time", callback.id)
            await self._hang_up(callback.id)
        await self._drop_strays()
        if not await self.open_now():
            return
        async with self.db() as session:
            due = await qcb.due(session, now, self.queues)
        for callback in due:
            if (
                callback.id in self.live
                or time.monotonic() - self.placed.get(callback.id, -PLACING) < PLACING
            ):
                continue
            await self.place(callback)

    async def resync(self) -> None:
        """After a (re)connect: which stand-ins live, and the reports written while nobody listened."""
        self.fresh = {}
        listing = await self.ami.action_list("CoreShowChannels")
        live: dict[int, set[str]] = {}
        for entry in listing:
            stand_in = stand_in_of(str(entry.get("Linkedid", "")))
            if entry.get("Event") == "CoreShowChannel" and stand_in is not None:
                live.setdefault(stand_in[0], set()).add(str(entry.get("Uniqueid", "")))
        for callback_id, channels in self.fresh.items():
            live.setdefault(callback_id, set()).update(channels & self.live.get(callback_id, set()))
        self.live = {callback_id: channels for callback_id, channels in live.items() if channels}
        for path in self.settings.queue_log_paths:
            self.reports[:0] = await asyncio.to_thread(reports_in_log, path)
        await self.apply()
        # Taken by an agent, gone, and no report of it: the try was lost with Asterisk.
        now = datetime.now(UTC)
        async with self.db() as session, session.begin():
            lost = await session.scalars(
                select(QueuedCallback).where(QueuedCallback.status == CallbackStatus.CONNECTED.value)
            )
            for callback in lost:
                if callback.id not in live:
                    changed = await qcb.tried(
                        session, self.settings.queued_callbacks, callback.stand_in, "LOST", "", "", now
                    )
                    await self._closed(session, changed, now)
        self._synced = self.ami.connects

    async def apply(self) -> None:
        """The tries reported and the stand-ins taken since the last round, in one transaction; kept for
        the next round when the database does not answer."""
        reports, taken = self.reports, self.taken
        if not reports and not taken:
            return
        self.reports, self.taken = [], []
        now = datetime.now(UTC)
        try:
            async with self.db() as session, session.begin():
                for stand_in, agent in taken:
                    await qcb.taken(session, stand_in, agent)
                for report in reports:
                    changed = await qcb.tried(
                        session,
                        self.settings.queued_callbacks,
                        report.stand_in,
                        report.result,
                        report.agent,
                        report.recording,
                        now,
                    )
                    if changed is not None:
                        log.info(
                            "queued callback %d, try %d: %s (%s)",
                            changed.id,
                            changed.tries,
                            report.result or "no result",
                            changed.status,
                        )
                    await self._closed(session, changed, now)
        except Exception:
            self.reports[:0], self.taken[:0] = reports, taken
            raise

    async def place(self, callback: QueuedCallback) -> None:
        """Originate the stand-in of the callback's next try at its place in its queue."""
        attempt = callback.tries + 1
        uniqueid = f"{LINKEDID_PREFIX}{callback.id}-{attempt}-{secrets.token_hex(4)}"
        joined_ms = int(callback.joined_at.timestamp() * 1000)
        self.placed[callback.id] = time.monotonic()
        # On record before Asterisk has it: only this stand-in's report will count for the try.
        async with self.db() as session, session.begin():
            if not await qcb.placing(session, callback.id, uniqueid):
                return
        try:
            await actions.originate(
                self.ami,
                Channel="Local/s@hotline-qcb-hold",
                Context="hotline-qcb-wait",
                Exten="s",
                Priority="1",
                CallerID=f'"{CALLBACK_NAME}" <{callback.number}>',
                Timeout="30000",
                ChannelId=uniqueid,
                OtherChannelId=f"{uniqueid}-q",
                Variable=[
                    f"__{PlaceVar.QCB}={callback.id}:{attempt}",
                    f"__{PlaceVar.QUEUED_AT}={joined_ms}",
                    f"__{Var.QUEUE}={callback.queue}",
                    f"__{Var.DIAL}={self.settings.callbacks.dial.format(number=callback.number)}",
                ],
            )
        except AMIActionRefused as exc:
            log.error("queued callback %d not placed: %s", callback.id, exc)
            return
        log.info(
            "queued callback %d, try %d: waiting in %s at its place", callback.id, attempt, callback.queue
        )

    async def _drop_strays(self) -> None:
        """Stand-ins whose callback is no longer waiting (closed elsewhere: an erasure, an expiry seen by
        another process) leave the queue, so that no agent dials a citizen nobody should call."""
        if not self.live:
            return
        async with self.db() as session:
            rows = await session.execute(
                select(QueuedCallback.id, QueuedCallback.status).where(
                    QueuedCallback.id.in_(sorted(self.live))
                )
            )
            active = {callback_id for callback_id, status in rows if status in ACTIVE_CALLBACK}
        for callback_id in sorted(set(self.live) - active):
            log.warning("queued callback %d is closed: its stand-in leaves the queue", callback_id)
            await self._hang_up(callback_id)

    async def _hang_up(self, callback_id: int) -> None:
        if callback_id not in self.live:
            return
        try:
            for entry in await self.ami.action_list("CoreShowChannels"):
                stand_in = stand_in_of(str(entry.get("Linkedid", "")))
                if entry.get("Event") == "CoreShowChannel" and stand_in and stand_in[0] == callback_id:
                    await self.ami.action("Hangup", Channel=str(entry.get("Channel", "")), Cause="16")
        except Exception as exc:
            log.warning("the stand-in of expired callback %d not hung up: %s", callback_id, exc)

    async def _closed(self, session: AsyncSession, callback: QueuedCallback | None, now: datetime) -> None:
        if callback is not None and callback.status == CallbackStatus.FAILED.value:
            await self._to_worklist(session, callback, now)

    async def _to_worklist(self, session: AsyncSession, callback: QueuedCallback, now: datetime) -> None:
        """A callback that failed or expired: the citizen is on the worklist, like any missed call."""
        case = await session.scalar(select(Case).where(Case.linkedid == callback.linkedid))
        if case is None:
            return
        await worklist.note_call(
            session,
            case.id,
            callback.number,
            case.outcome,
            callback.topic or case.topic or "",
            case.started_at,
            now,
            gave_up_callback=True,
        )


async def open_now(settings: Settings, switches: Cached) -> bool:
    """The hotline's hours, or what a supervisor forced."""
    forced = (await switches.get()).hours
    return forced == "open" if forced else hours.is_open(settings.hours, settings.site.timezone)
