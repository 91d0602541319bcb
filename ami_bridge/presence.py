"""Agents' log-in and pause across several Asterisk nodes, kept by the center.

An agent logs in, out, pauses or resumes on whichever node their phone's feature code (or the web app)
reaches; app_queue keeps that in the node's own astdb, which dies with the node. So the center keeps it:
every member event of any node updates the agent's row (agent_presence), and the change is made on every
other node that is up. A node that connects (starts, comes back, or was away) is brought to the rows
before it takes calls for long: whatever its astdb says, the agent is where the center says. On the first
start ever there are no rows: the first node that connects gives them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ami_bridge import agents as member_actions
from ami_bridge.message import AMIMessage
from ami_bridge.session import AMISession
from hotline.asterisk.naming import extension_of, queue_name
from hotline.db.models import AgentPresence
from hotline.errors import AMIError
from hotline.settings import Settings

log = logging.getLogger(__name__)

MEMBER_EVENTS = frozenset({"QueueMemberAdded", "QueueMemberRemoved", "QueueMemberPause"})
RETRY_SECONDS = 2.0


@dataclass
class Presence:
    queues: set[str] = field(default_factory=set)
    paused: bool = False
    reason: str = ""

    def same(self, other: Presence) -> bool:
        return (self.queues, self.paused, self.reason) == (other.queues, other.paused, other.reason)


class PresenceKeeper:
    def __init__(
        self, settings: Settings, db: async_sessionmaker[AsyncSession], sessions: dict[str, AMISession]
    ) -> None:
        self.settings, self.db, self.sessions = settings, db, sessions
        self.agents = {a.extension for a in settings.agents}
        self.kept: dict[str, Presence] = {}  # the center's word, by extension
        self.loaded = False
        self._unsaved: dict[str, str] = {}  # extension -> the node the change came from
        self._unapplied: set[str] = set()  # nodes to bring to the center's word
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        for name, session in sessions.items():
            session.subscribe(partial(self._on_event, name))
            session.watch(self._on_connect)

    @property
    def settled(self) -> bool:
        """Every node up is as the center keeps the agents, and the center's rows are saved."""
        return self.loaded and not self._unapplied and not self._unsaved

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="agent-presence")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):  # the database away: the rows are as the last save left them
            await asyncio.wait_for(self._save(), RETRY_SECONDS)

    # -- what the nodes say -----------------------------------------------------------------------
    def _on_event(self, node: str, event: AMIMessage) -> None:
        name = str(event.get("Event", ""))
        # Before the rows are read there is no word of the center's to compare with: the node is brought
        # to them once they are. A node's member events are changes made on it now (its astdb's state at
        # boot comes before any AMI session), even while it is being brought to the rows.
        if name not in MEMBER_EVENTS or not self.loaded:
            return
        extension = extension_of(str(event.get("Interface", "") or event.get("StateInterface", "")))
        if extension not in self.agents:
            return
        now = self.kept.get(extension, Presence())
        new = Presence(set(now.queues), now.paused, now.reason)
        queue = queue_name(str(event.get("Queue", "")))
        if name == "QueueMemberRemoved":
            new.queues.discard(queue)
            if not new.queues:
                new.paused, new.reason = False, ""
        else:
            if name == "QueueMemberAdded":
                new.queues.add(queue)
            new.paused = str(event.get("Paused", "0")) == "1"
            new.reason = str(event.get("PausedReason", "") or "") if new.paused else ""
        if new.same(now):
            return
        self.kept[extension] = new
        self._unsaved[extension] = node
        self._unapplied.update(n for n in self.sessions if n != node)
        self._wake.set()

    def _on_connect(self, session: AMISession) -> None:
        if session.connected.is_set():
            self._unapplied.add(next(n for n, s in self.sessions.items() if s is session))
            self._wake.set()

    # -- the work ---------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            if not self.loaded and not any(s.connected.is_set() for s in self.sessions.values()):
                await self._wake.wait()  # a node's connect wakes it
                self._wake.clear()
                continue
            try:
                if not self.loaded:
                    await self._load()
                await self._save()
                for node in sorted(self._unapplied):
                    if self.sessions[node].connected.is_set():
                        await self._apply(node)
                    self._unapplied.discard(node)
            except Exception as exc:  # the database or a node away: the next round tries again
                log.warning("agents' log-in and pause not brought up to date yet: %s", exc)
                await asyncio.sleep(RETRY_SECONDS)
                continue
            self._wake.clear()
            if not self._unsaved and not self._unapplied:
                await self._wake.wait()

    async def _load(self) -> None:
        async with self.db() as session:
            rows = list(await session.scalars(select(AgentPresence)))
        self.kept = {
            r.extension: Presence({q for q in r.queues.split(",") if q}, r.paused, r.reason) for r in rows
        }
        if not rows:
            # The first start ever: the first node up says where the agents are.
            up = [name for name, s in self.sessions.items() if s.connected.is_set()]
            if not up:
                raise AMIError("no node is up yet to say where the agents are")
            self.kept = await self._members(up[0])
            self._unsaved = dict.fromkeys(self.kept, up[0])
        self.loaded = True
        self._unapplied.update(self.sessions)

    async def _save(self) -> None:
        if not self._unsaved:
            return
        unsaved, self._unsaved = self._unsaved, {}
        try:
            async with self.db() as session, session.begin():
                for extension, node in unsaved.items():
                    kept = self.kept[extension]
                    row = await session.get(AgentPresence, extension) or AgentPresence(extension=extension)
                    row.queues = ",".join(sorted(kept.queues))
                    row.paused, row.reason = kept.paused, kept.reason[:64]
                    row.changed_at, row.node = datetime.now(UTC), node[:32]
                    session.add(row)
        except Exception:
            self._unsaved = {**unsaved, **self._unsaved}
            raise

    async def _members(self, node: str) -> dict[str, Presence]:
        status = await self.sessions[node].action_list("QueueStatus")
        found: dict[str, Presence] = {}
        for m in status:
            if m.get("Event") != "QueueMember":
                continue
            extension = extension_of(str(m.get("StateInterface", "") or m.get("Location", "")))
            if extension not in self.agents:
                continue
            presence = found.setdefault(extension, Presence())
            presence.queues.add(queue_name(str(m.Queue)))
            if str(m.get("Paused", "0")) == "1":
                presence.paused, presence.reason = True, str(m.get("PausedReason", "") or "")
        return found

    async def _apply(self, node: str) -> None:
        """Make the node's members what the center says, with the actions an agent's own log-in makes."""
        ami = self.sessions[node]
        there = await self._members(node)
        changed = 0
        for extension in sorted(self.agents):
            want = self.kept.get(extension, Presence())
            have = there.get(extension, Presence())
            if want.same(have):
                continue
            changed += 1
            agent = member_actions.agent(self.settings, extension)
            for queue in sorted(want.queues - have.queues):
                await member_actions.join(ami, agent, queue)
            for queue in sorted(have.queues - want.queues):
                await member_actions.leave(ami, agent, queue)
            if want.queues and (want.paused, want.reason) != (have.paused, have.reason):
                await member_actions.pause(ami, self.settings, extension, want.paused, want.reason)
        if changed:
            log.info(
                "node %s: %d agent(s) brought to their log-in and pause as the center keeps them",
                node,
                changed,
            )
