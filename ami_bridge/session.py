"""An AMI session that stays up: reconnects with exponential back-off, checks that pings are answered (a
half-open TCP connection is noticed within two ping intervals), and after every (re)connect calls the
resynchronisation hooks before any new event is handled, so live state is rebuilt from Asterisk itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ami_bridge.connection import AMIConnection
from ami_bridge.message import AMIMessage as Message
from hotline.errors import AMIError, AMILoginRefused

log = logging.getLogger(__name__)

OnConnect = Callable[[AMIConnection], Awaitable[None]]
OnEvent = Callable[[Message], None]


class AMIService(Protocol):
    """What the parts above the bridge use of Asterisk's AMI: one node's session (AMISession), or every
    node's seen as one (ami_bridge/nodes.py)."""

    connected: asyncio.Event

    @property
    def connects(self) -> int: ...

    async def action(self, name: str, **fields: Any) -> Message: ...

    async def action_list(self, name: str, **fields: Any) -> list[Message]: ...

    def subscribe(self, listener: OnEvent) -> None: ...

    def unsubscribe(self, listener: OnEvent) -> None: ...

    def when_connected(self, hook: OnConnect) -> None: ...

    async def wait_connected(self, wait: float) -> None: ...


class Backoff:
    def __init__(self, first: float = 0.5, most: float = 30.0) -> None:
        self.first, self.most = first, most
        self.current = first

    def next(self) -> float:
        delay = self.current
        self.current = min(self.most, self.current * 2)
        return delay * random.uniform(0.8, 1.2)  # many bridges must not reconnect in lockstep

    def reset(self) -> None:
        self.current = self.first


class AMISession:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        on_event: OnEvent | None = None,
        on_connect: OnConnect | None = None,
        on_disconnect: Callable[[], None] | None = None,
        ping_seconds: float = 5.0,
        events: str = "on",
        backoff: Backoff | None = None,
    ) -> None:
        self.host, self.port, self.username, self._secret = host, port, username, secret
        self.on_disconnect = on_disconnect
        # Subscribers, called in the order they subscribed: the call tracker and the live board before
        # those that act on what they know (the queued callbacks' dispatcher, a test's event log).
        self._listeners: list[OnEvent] = [on_event] if on_event is not None else []
        self._connect_hooks: list[OnConnect] = [on_connect] if on_connect is not None else []
        self.ping_seconds = ping_seconds
        self.events = events
        self.backoff = backoff or Backoff()
        self.connection: AMIConnection | None = None
        self.connected = asyncio.Event()
        self.connects = 0
        self._watchers: list[Callable[[AMISession], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def subscribe(self, listener: OnEvent) -> None:
        """Hand every AMI event to `listener` from now on (after the earlier subscribers)."""
        self._listeners.append(listener)

    def unsubscribe(self, listener: OnEvent) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    def when_connected(self, hook: OnConnect) -> None:
        """Run `hook` after every (re)connect, before any new event is handed to the subscribers: it reads
        Asterisk's state on the connection it is given."""
        self._connect_hooks.append(hook)

    def watch(self, watcher: Callable[[AMISession], None]) -> None:
        """Call `watcher` with this session whenever it has connected (and resynchronised) or lost its
        connection."""
        self._watchers.append(watcher)

    def _changed(self) -> None:
        for watcher in list(self._watchers):
            watcher(self)

    def _dispatch(self, event: Message) -> None:
        for listener in list(self._listeners):
            listener(event)

    async def start(self, wait: float | None = None) -> None:
        """Start the session; with `wait`, also wait that long for the first login (refused login raises
        at once: a wrong secret does not heal by retrying)."""
        self._task = asyncio.create_task(self._run(), name="ami-session")
        if wait is not None:
            await self.wait_connected(wait)

    async def wait_connected(self, wait: float) -> None:
        """Wait up to `wait` seconds for the session's login: AMILoginRefused at once when it is refused,
        AMIError when nothing answered in time (the session goes on trying)."""
        if self._task is None:
            raise AMIError("the AMI session was not started")
        connected = asyncio.ensure_future(self.connected.wait())
        done, _ = await asyncio.wait(
            [self._task, connected], timeout=wait, return_when=asyncio.FIRST_COMPLETED
        )
        connected.cancel()  # not left pending when the login failed or the wait ran out
        if self._task in done:
            self._task.result()  # raises the login error
        if not self.connected.is_set():
            raise AMIError(f"no AMI connection to {self.host}:{self.port} after {wait} s")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.connection is not None:
            await self.connection.close()

    async def action(self, name: str, **fields: Any) -> Message:
        if self.connection is None or not self.connected.is_set():
            raise AMIError(f"AMI action {name}: not connected to Asterisk at the moment; try again shortly")
        return await self.connection.action(name, **fields)

    async def action_list(self, name: str, **fields: Any) -> list[Message]:
        if self.connection is None or not self.connected.is_set():
            raise AMIError(f"AMI action {name}: not connected to Asterisk at the moment; try again shortly")
        return await self.connection.action_list(name, **fields)

    async def _run(self) -> None:
        # Whatever fails while connecting, resynchronising or serving goes back to this loop: a bridge that
        # stops trying leaves the hotline with no cases and no live board while it looks alive.
        while not self._stopping:
            conn = AMIConnection(self.host, self.port, self.username, self._secret, events=self.events)
            try:
                await conn.connect()
                self.connection = conn
                await self._serve(conn)
                problem = "lost"
            except AMILoginRefused:
                raise  # a configuration error, not a passing fault
            except Exception as exc:  # any failure means: reconnect
                problem = f"failed ({exc.__class__.__name__}: {exc})"
            finally:
                was = self.connected.is_set()
                self.connected.clear()
                await conn.close()
                if self.connection is conn and self.on_disconnect is not None:
                    self.on_disconnect()
                if was:
                    self._changed()
            if not self._stopping:
                delay = self.backoff.next()
                log.warning(
                    "AMI connection to %s:%s %s; reconnecting in %.1f s", self.host, self.port, problem, delay
                )
                await asyncio.sleep(delay)

    async def _serve(self, conn: AMIConnection) -> None:
        # Events that arrive while the resynchronisation reads Asterisk's state are held, then applied in
        # order on top of that state: none is lost, none is applied before the snapshot it follows.
        held: list[Message] = []
        hold = held.append
        conn.on("*", hold)
        for hook in list(self._connect_hooks):
            await hook(conn)
        for event in held:
            self._dispatch(event)
        conn.off(hold)
        conn.on("*", self._dispatch)
        self.connects += 1
        self.backoff.reset()
        self.connected.set()
        self._changed()
        log.info("AMI connected to %s:%s (Manager protocol %s)", self.host, self.port, conn.version)
        while not conn.closed.is_set():
            try:
                await asyncio.wait_for(conn.closed.wait(), self.ping_seconds)
                return
            except TimeoutError:
                pass
            try:
                pong = await conn.action("Ping", timeout=self.ping_seconds)
            except AMIError as exc:
                log.warning("AMI ping to %s:%s unanswered (%s): reconnecting", self.host, self.port, exc)
                return
            if pong.response != "Success":
                log.warning("AMI ping refused (%s): reconnecting", pong.message)
                return
