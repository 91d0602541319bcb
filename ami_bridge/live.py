"""Live queues and agents, from app_queue's member events and the call tracker's calls: what the wallboard
shows. Handlers only update memory; listeners are told that something changed and read a snapshot."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypedDict

from ami_bridge.calls import Call, CallState, now
from ami_bridge.message import AMIMessage as Message
from hotline.asterisk.channel_vars import QCB_LINKEDID_PREFIX
from hotline.asterisk.events import AGENT_STATE_EVENTS, SCREEN_EVENTS
from hotline.asterisk.naming import extension_of, node_of, queue_name
from hotline.settings import Settings

log = logging.getLogger(__name__)

# app_queue's member Status: the device state of the member's phone (AST_DEVICE_*).
DEVICE_STATUS = {
    "0": "unknown",
    "1": "not_inuse",
    "2": "inuse",
    "3": "busy",
    "4": "invalid",
    "5": "unavailable",
    "6": "ringing",
    "7": "ringinuse",
    "8": "onhold",
}
OFFLINE_DEVICES = frozenset({"invalid", "unavailable"})


class AgentStatus(StrEnum):
    """An agent's state as the wallboard, the desk and the metrics name it."""

    LOGGED_OUT = "logged_out"
    READY = "ready"
    RINGING = "ringing"
    IN_CALL = "in_call"
    ON_HOLD = "on_hold"
    WRAPUP = "wrapup"
    PAUSED = "paused"
    UNAVAILABLE = "unavailable"


@dataclass
class AgentState:
    extension: str
    name: str
    since: datetime
    queues: set[str] = field(default_factory=set)  # queues the agent is logged in to
    paused: bool = False
    pause_reason: str = ""
    device: str = "unknown"
    ringing_call: str = ""  # linkedid of the caller ringing this agent
    call: str = ""  # linkedid of the caller this agent is talking to
    wrapup_until: datetime | None = None
    calls_taken: int = 0
    state: AgentStatus = AgentStatus.LOGGED_OUT

    def derive(self, at: datetime, on_hold: bool) -> AgentStatus:
        if not self.queues:
            return AgentStatus.LOGGED_OUT
        if self.call:
            return AgentStatus.ON_HOLD if on_hold else AgentStatus.IN_CALL
        if self.ringing_call:
            return AgentStatus.RINGING
        if self.wrapup_until and self.wrapup_until > at:
            return AgentStatus.WRAPUP
        if self.paused:
            return AgentStatus.PAUSED
        if self.device in OFFLINE_DEVICES:
            return AgentStatus.UNAVAILABLE
        return AgentStatus.READY


@dataclass
class QueueState:
    name: str
    label: str
    wrapup_seconds: int
    # Asterisk's own running averages (QueueSummary / QueueParams), in seconds.
    holdtime: int = 0
    talktime: int = 0


class LiveBoard:
    """Queues and agents as a supervisor sees them. `calls` is the tracker's live calls (shared, read
    only here) so a caller waiting in a queue is one object whichever list shows it."""

    def __init__(self, settings: Settings, calls: Mapping[str, Call]) -> None:
        self.calls = calls
        at = now()
        self.queues = {q.name: QueueState(q.name, q.label, q.wrapup_seconds) for q in settings.queues}
        self.agents = {a.extension: AgentState(a.extension, a.name, since=at) for a in settings.agents}
        self.version = 0
        # With several nodes: each one's state and since when (node_state).
        self.nodes: dict[str, tuple[str, datetime]] = {n.name: ("away", at) for n in settings.nodes}
        self._listeners: list[Callable[[], None]] = []
        self.handlers: dict[str, Callable[[Message], None]] = {
            name.removeprefix("_on_"): getattr(self, name) for name in dir(self) if name.startswith("_on_")
        }

    # -- listeners ------------------------------------------------------------------------------------
    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def changed(self) -> None:
        self.version += 1
        for listener in list(self._listeners):
            try:
                listener()
            except Exception:  # a broken screen must not stop event handling
                log.exception("live board listener failed")

    def node_state(self, name: str, state: str) -> None:
        """A node is up, away or lost (shell/service.py hears it from its session and the node watch)."""
        if self.nodes.get(name, ("", now()))[0] != state:
            self.nodes[name] = (state, now())
            self.changed()

    # -- events ---------------------------------------------------------------------------------------
    def handle(self, event: Message) -> None:
        name = str(event.get("Event", ""))
        handler = self.handlers.get(name)
        if handler is not None:
            handler(event)
        if handler is not None or name in AGENT_STATE_EVENTS:
            self.refresh()
        elif name in SCREEN_EVENTS:
            self.changed()

    def _agent(self, event: Message) -> AgentState | None:
        interface = str(event.get("Interface") or event.get("Location") or "")
        extension = extension_of(interface)
        agent = self.agents.get(extension)
        if agent is None and extension:
            name = str(event.get("MemberName") or event.get("Name") or extension)
            agent = self.agents[extension] = AgentState(extension, name, since=now())
        return agent

    def _member(self, e: Message) -> None:
        agent = self._agent(e)
        if agent is None:
            return
        agent.queues.add(queue_name(str(e.Queue)))
        agent.paused = str(e.get("Paused", "0")) == "1"
        agent.pause_reason = str(e.get("PausedReason", "") or "") if agent.paused else ""
        agent.device = DEVICE_STATUS.get(str(e.get("Status", "")), agent.device)
        agent.calls_taken = max(agent.calls_taken, int(e.get("CallsTaken", 0) or 0))

    _on_QueueMemberAdded = _member
    _on_QueueMemberStatus = _member
    _on_QueueMemberPause = _member

    def _on_QueueMemberRemoved(self, e: Message) -> None:
        agent = self._agent(e)
        if agent is not None:
            agent.queues.discard(queue_name(str(e.Queue)))
            if not agent.queues:
                agent.paused, agent.pause_reason = False, ""

    def _on_AgentCalled(self, e: Message) -> None:
        agent = self._agent(e)
        if agent is not None:
            agent.ringing_call = str(e.get("Linkedid", ""))

    def _on_AgentRingNoAnswer(self, e: Message) -> None:
        agent = self._agent(e)
        if agent is not None and agent.ringing_call == str(e.get("Linkedid", "")):
            agent.ringing_call = ""

    def _on_AgentConnect(self, e: Message) -> None:
        agent = self._agent(e)
        if agent is not None:
            agent.ringing_call = ""
            agent.call = str(e.get("Linkedid", ""))
            agent.wrapup_until = None
        # Ringing stops on every other agent the same caller rang (ringall) when one answers.
        linkedid = str(e.get("Linkedid", ""))
        for other in self.agents.values():
            if other is not agent and other.ringing_call == linkedid:
                other.ringing_call = ""

    def _on_AgentComplete(self, e: Message) -> None:
        agent = self._agent(e)
        if agent is None:
            return
        agent.call = ""
        agent.calls_taken += 1
        queue = self.queues.get(queue_name(str(e.get("Queue", ""))))
        wrapup = queue.wrapup_seconds if queue else 0
        agent.wrapup_until = now() + timedelta(seconds=wrapup) if wrapup else None

    def _on_QueueCallerAbandon(self, e: Message) -> None:
        linkedid = str(e.get("Linkedid", ""))
        for agent in self.agents.values():
            if agent.ringing_call == linkedid:
                agent.ringing_call = ""

    _on_QueueCallerLeave = _on_QueueCallerAbandon

    # -- state ----------------------------------------------------------------------------------------
    def refresh(self, at: datetime | None = None) -> bool:
        """Recompute each agent's state (wrap-up ends by the clock, not by an event); tell listeners."""
        at = at or now()
        moved = False
        for agent in self.agents.values():
            call = self.calls.get(agent.call)
            if agent.call and call is None:
                agent.call = ""  # the call ended without an AgentComplete (e.g. during a resync)
            if agent.ringing_call and agent.ringing_call not in self.calls:
                agent.ringing_call = ""
            state = agent.derive(at, on_hold=bool(call and call.on_hold))
            if state != agent.state:
                agent.state, agent.since = state, at
                moved = True
        self.changed()
        return moved

    def resync(self, members: list[Message], summaries: list[Message], at: datetime | None = None) -> None:
        """Rebuild membership from QueueStatus's QueueMember list and the averages from QueueSummary."""
        at = at or now()
        for agent in self.agents.values():
            agent.queues.clear()
            agent.ringing_call = ""
            agent.call = ""
        for m in members:
            self._member(m)
            member = self._agent(m)
            if member is None:
                continue
            last_call = int(m.get("LastCall", 0) or 0)
            queue = self.queues.get(queue_name(str(m.Queue)))
            if last_call and queue and queue.wrapup_seconds:
                until = datetime.fromtimestamp(last_call, UTC) + timedelta(seconds=queue.wrapup_seconds)
                member.wrapup_until = until if until > at else None
        for call in self.calls.values():
            if call.agent in self.agents and call.answered_at and not call.ended_at:
                self.agents[call.agent].call = call.linkedid
        for s in summaries:
            queue = self.queues.get(queue_name(str(s.get("Queue", ""))))
            if queue is not None:
                queue.holdtime = int(s.get("HoldTime", 0) or 0)
                queue.talktime = int(s.get("TalkTime", 0) or 0)
        self.refresh(at)

    def snapshot(self, at: datetime | None = None) -> BoardSnapshot:
        """Everything a wallboard draws, JSON-ready; times as seconds so screens need no clock of ours."""
        at = at or now()
        waiting: dict[str, list[Call]] = {name: [] for name in self.queues}
        for call in self.calls.values():
            if call.state in (CallState.WAITING, CallState.RINGING) and call.queue in waiting:
                waiting[call.queue].append(call)
        queues: list[QueueView] = []
        for q in self.queues.values():
            callers = sorted(waiting[q.name], key=lambda c: (c.position or 1_000_000, c.queued_at or at))
            members = [a for a in self.agents.values() if q.name in a.queues]
            queues.append(
                {
                    "name": q.name,
                    "label": q.label,
                    "waiting": [
                        {
                            "linkedid": c.linkedid,
                            "caller": c.caller,
                            "number": c.number,
                            "position": c.position,
                            "waited": _seconds_since(c.queued_at, at),
                            "ringing": extension_of(c.ringing),
                            # A queued callback's stand-in: the citizen hung up and keeps this place.
                            "callback": c.linkedid.startswith(QCB_LINKEDID_PREFIX),
                        }
                        for c in callers
                    ],
                    "callbacks": sum(1 for c in callers if c.linkedid.startswith(QCB_LINKEDID_PREFIX)),
                    "longest_wait": max((_seconds_since(c.queued_at, at) for c in callers), default=0),
                    "members": [a.extension for a in members],
                    "available": sum(1 for a in members if a.state == AgentStatus.READY),
                    "holdtime": q.holdtime,
                    "talktime": q.talktime,
                }
            )
        agents: list[AgentView] = []
        for a in sorted(self.agents.values(), key=lambda a: a.extension):
            current = self.calls.get(a.call or a.ringing_call)
            agents.append(
                {
                    "extension": a.extension,
                    "name": a.name,
                    "state": a.state,
                    "in_state": _seconds_since(a.since, at),
                    "paused": a.paused,
                    "pause_reason": a.pause_reason,
                    "queues": sorted(a.queues),
                    "device": a.device,
                    "calls_taken": a.calls_taken,
                    "call": _call_view(current, at) if current else None,
                }
            )
        calls = [_call_view(c, at) for c in self.calls.values() if c.in_hotline]
        return {
            "at": at.isoformat(),
            "version": self.version,
            "queues": queues,
            "agents": agents,
            "calls": calls,
            "nodes": [
                {
                    "name": name,
                    "state": state,
                    "for_seconds": _seconds_since(since, at),
                    "calls": sum(
                        1 for c in self.calls.values() if c.in_hotline and node_of(c.linkedid) == name
                    ),
                }
                for name, (state, since) in self.nodes.items()
            ],
        }


class CallView(TypedDict):
    linkedid: str
    caller: str
    did: str
    number: str
    topic: str
    request: str
    state: str
    queue: str
    position: int | None
    agent: str
    duration: int


class WaitingView(TypedDict):
    linkedid: str
    caller: str
    number: str
    position: int | None
    waited: int
    ringing: str
    callback: bool  # a queued callback's stand-in: the citizen hung up and keeps this place


class QueueView(TypedDict):
    name: str
    label: str
    waiting: list[WaitingView]
    callbacks: int
    longest_wait: int
    members: list[str]
    available: int
    holdtime: int
    talktime: int


class AgentView(TypedDict):
    extension: str
    name: str
    state: str
    in_state: int
    paused: bool
    pause_reason: str
    queues: list[str]
    device: str
    calls_taken: int
    call: CallView | None


class NodeView(TypedDict):
    """An Asterisk node as the center follows it: up, away (its AMI is not answering) or lost (away for
    longer than [edge] node_lost_seconds: its calls were ended)."""

    name: str
    state: str
    for_seconds: int
    calls: int


class BoardSnapshot(TypedDict):
    """Everything a wallboard draws, JSON-ready (the web app adds today's figures and its push times)."""

    at: str
    version: int
    queues: list[QueueView]
    agents: list[AgentView]
    calls: list[CallView]
    nodes: list[NodeView]  # none on one machine


def _seconds_since(then: datetime | None, at: datetime) -> int:
    return max(0, int((at - then).total_seconds())) if then else 0


def _call_view(call: Call, at: datetime) -> CallView:
    return {
        "linkedid": call.linkedid,
        "caller": call.caller,
        "did": call.did,
        "number": call.number,
        "topic": call.topic,
        "request": call.variable("request_number"),
        "state": CallState.ON_HOLD if call.on_hold else call.state,
        "queue": call.queue,
        "position": call.position,
        "agent": call.agent,
        "duration": _seconds_since(call.started_at, at),
    }
