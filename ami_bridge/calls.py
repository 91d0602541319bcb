"""Live calls, followed by linkedid from AMI events, and the case each becomes when its last channel hangs
up. One handler per event; handlers only update memory and hand finished calls on (no I/O here)."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from ami_bridge.message import AMIMessage as Message
from ami_bridge.queue_log import CallRecord
from hotline.asterisk.channel_vars import TRACKED, QueueVar, Var
from hotline.asterisk.naming import extension_of, queue_name
from hotline.db.models import Outcome
from hotline.values import clean

log = logging.getLogger(__name__)


# Marks a timeline event rebuilt after the fact (see Call.recall).
RECALLED = "recalled"


def now() -> datetime:
    return datetime.now(UTC)


class CallState(StrEnum):
    """Where a live call is, as the wallboard and the metrics name it (ON_HOLD: talking, on hold)."""

    IVR = "ivr"
    WAITING = "waiting"
    RINGING = "ringing"
    TALKING = "talking"
    ON_HOLD = "on_hold"
    ENDED = "ended"


@dataclass
class Call:
    linkedid: str
    started_at: datetime
    caller: str = ""
    caller_name: str = ""
    channels: set[str] = field(default_factory=set)
    did: str = ""
    ivr_path: str = ""
    topic: str = ""
    destination: str = ""
    number: str = ""
    recording: str = ""
    voicemail: str = ""
    outcome_hint: str = ""
    hours: str = ""
    queue_status: str = ""
    fallback: str = ""
    ivr_node: str = ""
    queue: str = ""
    position: int = 0
    queued_at: datetime | None = None
    in_queue: bool = False
    on_hold: bool = False
    ivr_ended_at: datetime | None = None
    ringing: str = ""
    queued_callback: str = ""  # on the stand-in of a queued callback: its id
    agent: str = ""
    agent_name: str = ""
    answered_at: datetime | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None
    abandoned: bool = False
    hangup_cause: str = ""
    lost_node: str = ""  # the node whose loss ended the call (ami_bridge/node_loss.py)
    ended_at: datetime | None = None
    note: str = ""
    timeline: list[tuple[datetime, str, dict[str, Any]]] = field(default_factory=list)
    # Tracked variables the bridge only carries to the case (no logic of its own reads them), by field.
    carried: dict[str, str] = field(default_factory=dict)

    def copy(self) -> Call:
        """A copy that later events cannot change: every container of the call copied, not shared."""
        snapshot = copy.copy(self)
        snapshot.channels = set(self.channels)
        snapshot.timeline = [(at, kind, dict(detail)) for at, kind, detail in self.timeline]
        snapshot.carried = dict(self.carried)
        return snapshot

    @property
    def in_hotline(self) -> bool:
        """Only calls that reached the hotline's entry become cases (not agent-to-agent calls)."""
        return bool(self.did)

    @property
    def state(self) -> CallState:
        if self.ended_at:
            return CallState.ENDED
        if self.answered_at:
            return CallState.TALKING
        if self.ringing:
            return CallState.RINGING
        if self.in_queue:
            return CallState.WAITING
        return CallState.IVR

    def variable(self, attribute: str) -> str:
        """The value of a tracked variable, by the field TRACKED names for it."""
        return self.carried.get(attribute, "") if attribute in CARRIED else str(getattr(self, attribute))

    def set_variable(self, attribute: str, value: str) -> None:
        if attribute in CARRIED:
            self.carried[attribute] = value
        else:
            setattr(self, attribute, value)

    def mark(self, kind: str, at: datetime | None = None, **detail: Any) -> None:
        self.timeline.append((at or now(), kind, detail))

    def recall(self, kind: str, at: datetime, **detail: Any) -> None:
        """An event that happened while nobody listened, rebuilt from what Asterisk still knows: put in
        its place in time and flagged, so that a writer that already has it does not write it twice."""
        index = len(self.timeline)
        while index and self.timeline[index - 1][0] > at:
            index -= 1
        self.timeline.insert(index, (at, kind, {**detail, RECALLED: True}))

    def outcome(self) -> Outcome:
        if self.answered_at:
            return Outcome.ANSWERED
        if self.hours == "closed":
            return Outcome.AFTER_HOURS
        if self.outcome_hint == Outcome.CALLBACK.value:
            return Outcome.CALLBACK
        if self.outcome_hint == "voicemail":
            return Outcome.OVERFLOW if self.queue_status else Outcome.VOICEMAIL
        if self.queued_at:
            if self.queue_status in (
                "TIMEOUT",
                "FULL",
                "JOINEMPTY",
                "LEAVEEMPTY",
                "JOINUNAVAIL",
                "LEAVEUNAVAIL",
            ):
                return Outcome.OVERFLOW
            return Outcome.ABANDONED_QUEUE
        if self.destination == "end":
            return Outcome.ENDED_IN_IVR
        return Outcome.ABANDONED_IVR

    def finish(self, at: datetime, cause: str = "") -> None:
        self.ended_at = at
        if cause and not self.hangup_cause:
            self.hangup_cause = cause
        if self.queued_at and not self.answered_at and self.wait_seconds is None:
            self.wait_seconds = round((at - self.queued_at).total_seconds(), 3)
        if self.answered_at and self.talk_seconds is None:
            self.talk_seconds = round((at - self.answered_at).total_seconds(), 3)
        self.mark("ended", at, outcome=self.outcome().value, cause=self.hangup_cause)


# Tracked variables with no field of their own on Call: a variable added to the contract only to be kept
# on the case needs no code here (the case writer stores `carried` by the same names).
CARRIED = tuple(a for a in TRACKED.values() if a not in {f.name for f in fields(Call)})


class CallTracker:
    """Applies AMI events to live calls; `on_update` gets a call when it enters the hotline and when it
    ends (the case writer's queue)."""

    def __init__(self, on_update: Callable[[Call], None], calls: dict[str, Call] | None = None) -> None:
        self.calls: dict[str, Call] = {} if calls is None else calls
        self.on_update = on_update
        self.handlers: dict[str, Callable[[Message], None]] = {
            name.removeprefix("_on_"): getattr(self, name) for name in dir(self) if name.startswith("_on_")
        }

    def handle(self, event: Message) -> None:
        handler = self.handlers.get(str(event.get("Event", "")))
        if handler is not None:
            handler(event)

    def _call(self, event: Message) -> Call | None:
        return self.calls.get(str(event.get("Linkedid", "")))

    # -- events --------------------------------------------------------------------------------------
    def _on_Newchannel(self, e: Message) -> None:
        linkedid = str(e.Linkedid)
        call = self.calls.get(linkedid)
        if call is None:
            call = self.calls[linkedid] = Call(linkedid=linkedid, started_at=now())
            call.caller, call.caller_name = _caller_id(e)
        call.channels.add(str(e.Uniqueid))

    def _on_NewCallerid(self, e: Message) -> None:
        call = self._call(e)
        if call is not None and str(e.Uniqueid) == call.linkedid:
            call.caller, call.caller_name = _caller_id(e)

    def _on_VarSet(self, e: Message) -> None:
        call = self._call(e)
        if call is None:
            return
        name = str(e.Variable).lstrip("_")
        attribute = TRACKED.get(name)
        if attribute is None:
            return
        value = clean(e.Value)
        if call.variable(attribute) == value:
            return  # inherited copies on the agent's channel say nothing new
        entered = attribute == "did" and not call.did
        call.set_variable(attribute, value)
        if entered:
            call.mark("entered", did=value, caller=call.caller)
            self.on_update(call)
        elif attribute == "number" and call.did:
            # The number the IVR reads to the caller: the case takes it at once, so that an agent who
            # answers (and opens the citizen's request under it) sees the same number the caller heard.
            self.on_update(call)
        elif attribute == "destination":
            call.ivr_ended_at = now()
            call.mark("ivr_done", destination=value, path=call.ivr_path, topic=call.topic)

    def _on_QueueCallerJoin(self, e: Message) -> None:
        call = self._call(e)
        if call is None:
            return
        call.queue = queue_name(str(e.Queue))
        call.position = int(e.get("Position", 0) or 0)
        call.queued_at = call.queued_at or now()
        call.in_queue = True
        call.ivr_ended_at = call.ivr_ended_at or call.queued_at
        call.mark("queued", queue=call.queue, position=call.position)
        # A caller may join ahead of others (a queued callback's stand-in at its place, a priority call):
        # Asterisk moves those behind down one without telling us caller by caller.
        for other in self.calls.values():
            if (
                other is not call
                and other.in_queue
                and other.queue == call.queue
                and other.position >= call.position
            ):
                other.position += 1
        if call.in_hotline:  # a stand-in waits in the queue too, but is no call of the hotline's
            self.on_update(call)

    def _on_QueueCallerLeave(self, e: Message) -> None:
        call = self._call(e)
        if call is None or not call.in_queue:
            return
        call.in_queue = False
        queue, left = call.queue, call.position
        # Asterisk moves everyone behind the caller up one place without telling us caller by caller.
        for other in self.calls.values():
            if other.in_queue and other.queue == queue and other.position > left:
                other.position -= 1
        call.position = 0

    def _on_Hold(self, e: Message) -> None:
        call = self._call(e)
        if call is not None and not call.on_hold:
            call.on_hold = True
            call.mark("hold", channel=str(e.get("Channel", "")))

    def _on_Unhold(self, e: Message) -> None:
        call = self._call(e)
        if call is not None and call.on_hold:
            call.on_hold = False
            call.mark("unhold", channel=str(e.get("Channel", "")))

    def _on_AgentCalled(self, e: Message) -> None:
        call = self._call(e)
        if call is not None:
            call.ringing = str(e.Interface)
            call.mark("agent_ringing", agent=str(e.MemberName), interface=call.ringing)

    def _on_AgentRingNoAnswer(self, e: Message) -> None:
        call = self._call(e)
        if call is not None:
            call.ringing = ""
            call.mark("agent_no_answer", agent=str(e.MemberName), ring_ms=str(e.get("RingTime", "")))

    def _on_AgentConnect(self, e: Message) -> None:
        call = self._call(e)
        if call is None:
            return
        call.ringing = ""
        call.answered_at = now()
        call.agent = clean(extension_of(str(e.Interface)) or e.Interface)
        call.agent_name = clean(e.MemberName)
        call.wait_seconds = float(e.get("HoldTime", 0) or 0)
        call.mark("answered", agent=call.agent, agent_name=call.agent_name, wait=call.wait_seconds)
        if call.in_hotline:
            self.on_update(call)

    def _on_AgentComplete(self, e: Message) -> None:
        call = self._call(e)
        if call is not None:
            call.talk_seconds = float(e.get("TalkTime", 0) or 0)
            call.mark("agent_complete", reason=str(e.get("Reason", "")), talk=call.talk_seconds)

    def _on_QueueCallerAbandon(self, e: Message) -> None:
        call = self._call(e)
        if call is not None:
            call.abandoned = True
            call.wait_seconds = float(e.get("HoldTime", 0) or 0)
            call.mark(
                "abandoned", queue=call.queue, wait=call.wait_seconds, position=str(e.get("Position", ""))
            )

    def _on_BlindTransfer(self, e: Message) -> None:
        for key in ("TransfererLinkedid", "TransfereeLinkedid", "Linkedid"):
            call = self.calls.get(str(e.get(key, "")))
            if call is not None:
                call.mark("transferred", to=f"{e.get('Extension', '')}@{e.get('Context', '')}")
                return

    def _on_AttendedTransfer(self, e: Message) -> None:
        for key in ("OrigTransfererLinkedid", "TransfereeLinkedid"):
            call = self.calls.get(str(e.get(key, "")))
            if call is not None:
                call.mark("transferred", how="attended")
                return

    def _on_Hangup(self, e: Message) -> None:
        call = self._call(e)
        if call is None:
            return
        uniqueid = str(e.Uniqueid)
        call.channels.discard(uniqueid)
        if uniqueid == call.linkedid and not call.hangup_cause:
            call.hangup_cause = f"{e.get('Cause', '')} {e.get('Cause-txt', '')}".strip()
        if not call.channels:
            self.end(call, now())

    # -- lifecycle -----------------------------------------------------------------------------------
    def end(self, call: Call, at: datetime, cause: str = "") -> None:
        self.calls.pop(call.linkedid, None)
        if not call.in_hotline:
            return
        call.finish(at, cause)
        self.on_update(call)

    def resync(
        self,
        channels: list[Message],
        variables: dict[str, dict[str, str]],
        entries: list[Message],
        ended: dict[str, CallRecord] | None = None,
    ) -> None:
        """Rebuild live calls from Asterisk's own lists after a (re)connect. Calls we followed that are no
        longer there ended while we were away: completed from Asterisk's record of them when `ended`
        has it."""
        at = now()
        present: dict[str, list[Message]] = {}
        for ch in channels:
            present.setdefault(str(ch.Linkedid), []).append(ch)
        for linkedid, call in list(self.calls.items()):
            if linkedid in present:
                continue
            record = (ended or {}).get(linkedid)
            if record is not None:
                call.note = "ended while the bridge was not connected to Asterisk (from Asterisk's record)"
                self.end(call, *complete_from_record(call, record))
            else:
                call.note = "ended while the bridge was not connected to Asterisk"
                self.end(call, at, "unknown (ended while disconnected)")
        queued = {_linkedid_of(entry, channels): entry for entry in entries}
        for linkedid, chans in present.items():
            found = self.calls.get(linkedid)
            if found is not None:
                call = found
            else:
                longest = max(_seconds(str(c.get("Duration", "0"))) for c in chans)
                call = self.calls[linkedid] = Call(
                    linkedid=linkedid, started_at=at - timedelta(seconds=longest)
                )
                first = next((c for c in chans if str(c.Uniqueid) == linkedid), chans[0])
                call.caller, call.caller_name = _caller_id(first)
                call.mark("resynchronised", channels=len(chans))
            call.channels = {str(c.Uniqueid) for c in chans}
            values = variables.get(linkedid, {})
            for name, attribute in TRACKED.items():
                if values.get(name):
                    call.set_variable(attribute, clean(values[name]))
            start = _epoch(values.get(Var.START, ""))
            if start is not None:
                call.started_at = start
            entry = queued.get(linkedid)
            call.in_queue = entry is not None
            if entry is not None:
                call.queue = queue_name(str(entry.Queue))
                call.position = int(entry.get("Position", 0) or 0)
                if not call.queued_at:
                    call.queued_at = at - timedelta(seconds=float(entry.get("Wait", 0) or 0))
                    call.recall("queued", call.queued_at, queue=call.queue, position=call.position)
            agent = next((c for c in chans if extension_of(str(c.Channel)) and c.get("BridgeId")), None)
            if agent is not None and not call.answered_at:
                self._answered_while_away(call, agent, values, at)
            if call.in_hotline:
                self.on_update(call)

    @staticmethod
    def _answered_while_away(call: Call, agent: Message, values: dict[str, str], at: datetime) -> None:
        """The caller was queued and answered while the bridge was away: app_queue left the wait on the
        caller's channel (QEHOLDTIME), the dialplan the queue (HOTLINE_QUEUE)."""
        call.answered_at = at - timedelta(seconds=_seconds(str(agent.get("Duration", "0"))))
        call.agent = clean(extension_of(str(agent.Channel)))
        call.agent_name = clean(values.get(QueueVar.MEMBERNAME, ""))
        call.queue = call.queue or clean(values.get(Var.QUEUE, ""), 64)
        held = _number(values.get(QueueVar.QEHOLDTIME, ""))
        if held is not None:
            call.wait_seconds = held
            if call.queued_at is None:
                call.queued_at = call.answered_at - timedelta(seconds=held)
                call.recall("queued", call.queued_at, queue=call.queue)
            else:
                # The join was seen (an open case, a journal): Asterisk's own count of the wait from it
                # places the answer better than the agent channel's whole seconds.
                call.answered_at = call.queued_at + timedelta(seconds=held)
        call.ivr_ended_at = call.ivr_ended_at or call.queued_at
        call.recall("answered", call.answered_at, agent=call.agent, agent_name=call.agent_name, wait=held)


def _caller_id(e: Message) -> tuple[str, str]:
    """Caller ID comes from the caller's network: anything can be in it."""
    return clean(e.CallerIDNum), clean(e.CallerIDName)


def _number(value: str) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _epoch(value: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(value), UTC) if value else None
    except ValueError:
        return None


def _seconds(duration: str) -> float:
    """CoreShowChannel's Duration is HH:MM:SS."""
    try:
        h, m, s = (int(x) for x in duration.split(":"))
        return float(h * 3600 + m * 60 + s)
    except ValueError:
        return 0.0


def _linkedid_of(entry: Message, channels: list[Message]) -> str:
    name = str(entry.get("Channel", ""))
    for ch in channels:
        if str(ch.Channel) == name:
            return str(ch.Linkedid)
    return ""


_TIME_FIELDS = frozenset(f.name for f in fields(Call) if str(f.type) in ("datetime", "datetime | None"))


def to_record(call: Call) -> dict[str, Any]:
    """The call as JSON-able data (the journal's and the dead letters' form of it)."""
    record: dict[str, Any] = {}
    for f in fields(Call):
        value = getattr(call, f.name)
        if f.name in _TIME_FIELDS:
            value = value.isoformat() if value is not None else None
        elif f.name == "channels":
            value = sorted(value)
        elif f.name == "timeline":
            value = [[at.isoformat(), kind, detail] for at, kind, detail in value]
        record[f.name] = value
    return record


def from_record(record: dict[str, Any]) -> Call:
    """The call `to_record` gave; unknown keys (from a newer version) are ignored."""
    known = {f.name for f in fields(Call)}
    values: dict[str, Any] = {k: v for k, v in record.items() if k in known}
    for name in _TIME_FIELDS & values.keys():
        if values[name] is not None:
            values[name] = datetime.fromisoformat(values[name])
    values["channels"] = set(values.get("channels", ()))
    values["timeline"] = [
        (datetime.fromisoformat(at), str(kind), dict(detail))
        for at, kind, detail in values.get("timeline", ())
    ]
    return Call(**values)


# What the end record's fields fill on a call: every tracked variable, and the queue the dialplan routed
# to (the rest: times, caller, queue lines, below).
_RECORD_FIELDS = {
    Var(name).name.lower(): attribute for name, attribute in TRACKED.items() if name in set(Var)
} | {Var.QUEUE.name.lower(): "queue"}


def complete_from_record(call: Call, record: CallRecord) -> tuple[datetime, str]:
    """Fill in what the bridge missed of a call from Asterisk's record of it; returns when and why the
    call ended (for `finish`). Events rebuilt this way are marked as recalled on the timeline."""
    end = record.end
    for name, attribute in _RECORD_FIELDS.items():
        if end.get(name):
            call.set_variable(attribute, clean(end[name]))
    if not call.caller:
        call.caller, call.caller_name = clean(end.get("caller", "")), clean(end.get("caller_name", ""))
    start = _epoch(end.get("start", ""))
    if start is not None:
        call.started_at = start
    # queue_log stamps whole seconds: an event is never put before the one it follows.
    entered = record.first("ENTERQUEUE")
    if entered is not None and call.queued_at is None:
        call.queue = queue_name(entered.queue) or call.queue
        call.queued_at = max(entered.at, call.started_at)
        call.recall("queued", call.queued_at, queue=call.queue)
    connected = record.first("CONNECT")
    if connected is not None and call.answered_at is None:
        call.answered_at = max(connected.at, call.queued_at or call.started_at)
        call.agent = clean(extension_of(end.get("memberinterface", "")) or connected.agent)
        call.agent_name = clean(end.get("membername", "") or connected.agent)
        call.wait_seconds = _number(connected.data[0] if connected.data else "")
        call.recall(
            "answered", call.answered_at, agent=call.agent, agent_name=call.agent_name, wait=call.wait_seconds
        )
    for line in record.queue_lines:
        if (
            line.event in ("COMPLETECALLER", "COMPLETEAGENT")
            and call.talk_seconds is None
            and len(line.data) > 1
        ):
            call.talk_seconds = _number(line.data[1])
        elif line.event in ("ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY") and call.answered_at is None:
            call.wait_seconds = _number(line.data[2]) if len(line.data) > 2 else call.wait_seconds
            if line.event == "ABANDON" and not call.abandoned:
                call.abandoned = True
                at = max(line.at, call.queued_at or call.started_at)
                call.recall("abandoned", at, queue=call.queue, wait=call.wait_seconds)
    call.ivr_ended_at = call.ivr_ended_at or call.queued_at
    ended = _epoch(end.get("end", "")) or now()
    return ended, clean(end.get("cause", ""), 64)
