"""When an Asterisk node is lost: what the center still knows of its calls becomes their cases.

A node whose AMI session has been away for `[edge] node_lost_seconds` is taken for lost (its Asterisk
killed, its machine dead, its network cut). Every call it held ends then, with what was seen of it and the
mark that the node was lost: a talking call keeps its answer, agent and talk time up to the loss; a caller
who waited in a queue is called back at their place (the queued callbacks, in the order they joined, placed
on the node that takes calls now) when their number can be called; a caller in the menu keeps their path.
Nothing is made up: the end time is when the loss was noticed, and the case says so.

When the node comes back, what is left of those calls on it (a node whose link was cut still holds them) is
hung up before the bridge follows it again, so no call is both closed here and still live there; queue_log
then completes only cases that are still open, so none is written twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ami_bridge.calls import Call, now
from ami_bridge.session import AMISession
from hotline import queued_callbacks
from hotline.closed_calls import ClosedCall, ClosedCallHook
from hotline.db.models import Outcome
from hotline.settings import QueuedCallbacks

log = logging.getLogger(__name__)

LOST = "node_lost"  # the timeline event and the hangup cause's prefix


def lose_calls(calls: dict[str, Call], node: str, at: datetime, callbacks: bool) -> list[Call]:
    """End every live call of the lost node (and take it out of `calls`); returns them, earliest queue
    join first, so the callbacks are asked for in the callers' order."""
    ended = []
    for linkedid, call in list(calls.items()):
        del calls[linkedid]
        if call.ended_at is not None or not call.in_hotline:
            continue
        waiting = call.in_queue and call.queued_at is not None and call.answered_at is None
        call.mark(LOST, at, node=node, state=call.state.value)
        call.lost_node = node
        if waiting and callbacks and queued_callbacks.plausible_number(call.caller):
            call.outcome_hint = Outcome.CALLBACK.value
        call.finish(at, cause=f"{LOST}: {node}")
        ended.append(call)
    ended.sort(key=lambda c: (c.queued_at or c.started_at, c.linkedid))
    return ended


def call_back_lost_wait(settings: QueuedCallbacks) -> ClosedCallHook:
    """The closed-call hook (hotline.closed_calls) that gives a caller who waited on a lost node their
    queued callback, in the transaction of their case: both are written, or neither."""

    async def hook(session: AsyncSession, closed: ClosedCall) -> None:
        if not closed.lost_node or closed.outcome != Outcome.CALLBACK.value or closed.queued_at is None:
            return
        await queued_callbacks.ask(
            session,
            settings,
            linkedid=closed.linkedid,
            case_number=closed.case_number,
            queue=closed.queue,
            number=closed.caller,
            topic=closed.topic,
            joined_at=closed.queued_at,
            now=closed.ended_at,
        )

    return hook


class NodeWatch:
    """Declares a node lost once its session has been away `lost_after` seconds, and calls `on_lost`
    with the node's name: once per loss (a node that comes back can be lost again)."""

    def __init__(
        self, sessions: dict[str, AMISession], lost_after: float, on_lost: Callable[[str], None]
    ) -> None:
        self.sessions, self.lost_after, self.on_lost = sessions, lost_after, on_lost
        self.lost: dict[str, datetime] = {}  # node -> when it was declared lost
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._seen: set[str] = set()  # nodes that were connected once: a node never seen is not lost
        for session in sessions.values():
            session.watch(self._changed)

    def _changed(self, session: AMISession) -> None:
        name = next(n for n, s in self.sessions.items() if s is session)
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()
        if session.connected.is_set():
            self._seen.add(name)
            if self.lost.pop(name, None) is not None:
                log.warning("node %s is back", name)
            return
        if name in self._seen and name not in self.lost:
            loop = asyncio.get_running_loop()
            self._timers[name] = loop.call_later(self.lost_after, self._declare, name)

    def _declare(self, name: str) -> None:
        self._timers.pop(name, None)
        if self.sessions[name].connected.is_set():
            return
        self.lost[name] = now()
        log.error("node %s lost: no AMI for %.0f s; ending its calls", name, self.lost_after)
        self.on_lost(name)

    def stop(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
