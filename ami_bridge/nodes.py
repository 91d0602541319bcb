"""The AMI sessions of several Asterisk nodes, seen by the parts above the bridges as one session.

An action goes to the node that takes new calls: the first of [[nodes]] whose session is connected, as
the edge's dispatcher picks the first node that answers its probes. The actions that change an agent's
queue membership or pause go to every connected node, because an agent's phone is registered to each and
any node may be the one that rings it next (a node that was away is brought up to date when it returns,
ami_bridge/presence.py). Events of every node reach the subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from ami_bridge.calls import Call
from ami_bridge.message import AMIMessage
from ami_bridge.session import AMISession, OnConnect, OnEvent
from hotline.errors import AMIError, AMILoginRefused

# What an agent's membership and pause are made of (ami_bridge/agents.py): sent to every node.
MEMBER_ACTIONS = frozenset({"QueueAdd", "QueueRemove", "QueuePause", "QueuePenalty"})
# Actions on a channel by its name, which says nothing of its node: sent to every node, the one that has
# the channel answers Success. Rotating the logs is every node's too.
CHANNEL_ACTIONS = frozenset({"Hangup", "LoggerRotate"})
# Lists of what every node holds: the channels (a queued callback's stand-in may live on any node).
MERGED_LISTS = frozenset({"CoreShowChannels"})


class NodeSessions:
    def __init__(self, sessions: dict[str, AMISession]) -> None:
        if not sessions:
            raise ValueError("no nodes")
        self.sessions = sessions  # in fail-over order
        self.connected = asyncio.Event()
        for session in sessions.values():
            session.watch(self._changed)

    @property
    def connects(self) -> int:
        """Grows with every (re)connect of any node: who keeps state per connection resynchronises."""
        return sum(s.connects for s in self.sessions.values())

    def primary(self) -> AMISession:
        """The session of the node that takes new calls."""
        for session in self.sessions.values():
            if session.connected.is_set():
                return session
        raise AMIError("no Asterisk node is connected at the moment; try again shortly")

    def primary_name(self) -> str:
        session = self.primary()
        return next(name for name, s in self.sessions.items() if s is session)

    def up(self) -> list[str]:
        return [name for name, s in self.sessions.items() if s.connected.is_set()]

    async def action(self, name: str, **fields: Any) -> AMIMessage:
        primary = self.primary()
        if name not in MEMBER_ACTIONS | CHANNEL_ACTIONS:
            return await primary.action(name, **fields)
        others = [s for s in self.sessions.values() if s is not primary and s.connected.is_set()]
        replies = await asyncio.gather(
            primary.action(name, **fields),
            *(s.action(name, **fields) for s in others),
            return_exceptions=True,
        )
        if name in CHANNEL_ACTIONS:
            done = [r for r in replies if isinstance(r, AMIMessage) and r.response == "Success"]
            if done:
                return done[0]
        first = replies[0]
        if isinstance(first, BaseException):
            raise first
        return first

    async def action_list(self, name: str, **fields: Any) -> list[AMIMessage]:
        if name not in MERGED_LISTS:
            return await self.primary().action_list(name, **fields)
        self.primary()  # none connected: say so
        merged: list[AMIMessage] = []
        for session in self.sessions.values():
            if session.connected.is_set():
                with contextlib.suppress(AMIError):  # lost meanwhile: its channels are gone with it
                    merged += await session.action_list(name, **fields)
        return merged

    def subscribe(self, listener: OnEvent) -> None:
        for session in self.sessions.values():
            session.subscribe(listener)

    def unsubscribe(self, listener: OnEvent) -> None:
        for session in self.sessions.values():
            session.unsubscribe(listener)

    def when_connected(self, hook: OnConnect) -> None:
        for session in self.sessions.values():
            session.when_connected(hook)

    async def wait_connected(self, wait: float) -> None:
        """Until one node is connected (a refused login on any raises at once)."""
        waits = [asyncio.ensure_future(s.wait_connected(wait)) for s in self.sessions.values()]
        try:
            for finished in asyncio.as_completed(waits):
                try:
                    await finished
                except AMILoginRefused:
                    raise  # a wrong secret: no node will take it
                except AMIError:
                    continue
                if self.connected.is_set():
                    return
        finally:
            for pending in waits:
                pending.cancel()
        raise AMIError(f"no Asterisk node answered AMI within {wait} s")

    def _changed(self, _session: AMISession) -> None:
        if any(s.connected.is_set() for s in self.sessions.values()):
            self.connected.set()
        else:
            self.connected.clear()


class MergedCalls(Mapping[str, Call]):
    """The live calls of every node's bridge, read as one (linkedids carry their node's name)."""

    def __init__(self, parts: list[dict[str, Call]]) -> None:
        self.parts = parts

    def __getitem__(self, linkedid: str) -> Call:
        for part in self.parts:
            if linkedid in part:
                return part[linkedid]
        raise KeyError(linkedid)

    def __iter__(self) -> Iterator[str]:
        for part in self.parts:
            yield from part

    def __len__(self) -> int:
        return sum(len(part) for part in self.parts)
