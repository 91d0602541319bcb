"""One AMI session over asyncio streams.

panoramisk's Manager ignores a failed login, never checks ping replies, decodes each TCP chunk on its own
and drops callback errors. We keep its ``Action`` to write actions and own the
transport: messages are split on their blank line before decoding (so a UTF-8 character split across TCP reads
arrives whole) and parsed by ami_bridge.message (a faster reader than panoramisk's), a refused login
raises, every action has a timeout and events are delivered in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from panoramisk.actions import Action

from ami_bridge.message import AMIMessage, parse
from hotline.errors import AMIError, AMILoginRefused

log = logging.getLogger(__name__)

EOM = b"\r\n\r\n"
CHUNK = 1 << 16
MAX_MESSAGE = 1 << 20
EventHandler = Callable[[AMIMessage], None]


@dataclass
class _Pending:
    future: asyncio.Future[list[AMIMessage]]
    messages: list[AMIMessage]
    is_list: bool = False


class AMIConnection:
    """Connect, log in, send actions and receive events; ``close()`` ends it.

    Event handlers are plain functions called in the order Asterisk sent the events; they must not
    block (hand slow work to a task or a queue).
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        secret: str,
        *,
        events: str | Iterable[str] = "on",
        timeout: float = 10.0,
        batch_seconds: float = 0.1,
    ) -> None:
        self.host, self.port = host, port
        self.batch_seconds = batch_seconds
        self.reads = 0  # TCP reads: with batching, fewer than messages
        self.username, self._secret = username, secret
        self.events = events if isinstance(events, str) else ",".join(events)
        self.timeout = timeout
        self.version = ""
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: dict[str, _Pending] = {}
        self._handlers: list[tuple[str, EventHandler]] = []
        self._read_task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self._closing = False

    # -- lifecycle -----------------------------------------------------------------------------
    async def connect(self) -> None:
        where = f"{self.host}:{self.port}"
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=1 << 20), self.timeout
            )
            self._reader, self._writer = reader, writer
            banner = await asyncio.wait_for(reader.readline(), self.timeout)
        except (OSError, TimeoutError) as exc:
            raise AMIError(
                f"cannot reach Asterisk's AMI at {where} ({exc or 'timed out'}); is Asterisk running "
                "and does [ami] in hotline.toml match manager.conf?"
            ) from None
        if not banner.startswith(b"Asterisk Call Manager/"):
            await self.close()
            raise AMIError(f"{where} is not an Asterisk AMI port (it said {banner[:60]!r})")
        self.version = banner.decode().strip().partition("/")[2]
        self.closed.clear()
        self._closing = False
        self._read_task = asyncio.create_task(self._read_loop(), name=f"ami-read-{where}")
        reply = await self.action("Login", Username=self.username, Secret=self._secret, Events=self.events)
        if reply.response != "Success":
            await self.close()
            raise AMILoginRefused(
                f"AMI login as {self.username!r} at {where} was refused ({reply.message or reply.response}); "
                "check the secret in the state folder's secrets.toml and the [ami] user in manager.conf "
                "(run 'hotline asterisk render' and reload Asterisk)"
            )

    async def close(self) -> None:
        self._closing = True
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self._read_task is not None and self._read_task is not asyncio.current_task():
            self._read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._read_task
        self._fail_pending(AMIError("AMI connection closed"))
        self.closed.set()

    async def __aenter__(self) -> AMIConnection:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- actions -------------------------------------------------------------------------------
    async def action(self, name: str, *, timeout: float | None = None, **fields: object) -> AMIMessage:
        """Send one action and return its response (the first message)."""
        return (await self._send(name, fields, timeout))[0]

    async def action_list(
        self, name: str, *, timeout: float | None = None, **fields: object
    ) -> list[AMIMessage]:
        """Send an action whose answer is an event list; return the response, the events and the
        closing ``...Complete`` event."""
        return await self._send(name, fields, timeout)

    async def _send(self, name: str, fields: dict[str, object], timeout: float | None) -> list[AMIMessage]:
        if self._writer is None:
            raise AMIError(f"AMI action {name} sent while not connected; connect first")
        action = Action({"Action": name, **{k: _wire(v) for k, v in fields.items()}})
        action_id = str(action.action_id)
        loop = asyncio.get_running_loop()
        pending = _Pending(loop.create_future(), [])
        self._pending[action_id] = pending
        try:
            self._writer.write(str(action).encode())
            await self._writer.drain()
            return await asyncio.wait_for(pending.future, timeout or self.timeout)
        except TimeoutError:
            raise AMIError(f"AMI action {name} got no answer in {timeout or self.timeout} s") from None
        except OSError as exc:
            raise AMIError(f"AMI action {name} could not be sent: {exc}") from None
        finally:
            self._pending.pop(action_id, None)

    # -- events --------------------------------------------------------------------------------
    def on(self, event: str, handler: EventHandler) -> None:
        """Call handler for each event named ``event`` ('*' for every event)."""
        self._handlers.append((event.lower(), handler))

    def off(self, handler: EventHandler) -> None:
        self._handlers = [(e, h) for e, h in self._handlers if h is not handler]

    # -- reading -------------------------------------------------------------------------------
    async def _read_loop(self) -> None:
        assert self._reader is not None and self._writer is not None
        transport = self._writer.transport
        assert isinstance(transport, asyncio.ReadTransport)  # a socket's transport reads and writes
        partial = b""
        try:
            while True:
                chunk = await self._reader.read(CHUNK)
                self.reads += 1
                if not chunk:
                    raise asyncio.IncompleteReadError(partial, None)
                # Split on whole messages before decoding: a UTF-8 character cut by a TCP read is whole
                # again here.
                *whole, partial = (partial + chunk).split(EOM)
                for raw in whole:
                    message = parse(raw)
                    if message is not None:
                        self._handle(message)
                if len(partial) > MAX_MESSAGE:
                    raise AMIError(f"an AMI message over {MAX_MESSAGE} bytes without its blank line")
                if self.batch_seconds and len(chunk) < CHUNK:
                    # Live, Asterisk sends events one TCP segment each; waking for every one cost more
                    # than handling it. Letting the kernel gather a few milliseconds of them into one
                    # read cut the bridge's CPU by (see docs/benchmarks.md); a backlog reads on at once.
                    transport.pause_reading()
                    try:
                        await asyncio.sleep(self.batch_seconds)
                    finally:
                        transport.resume_reading()
        except (asyncio.IncompleteReadError, ConnectionError, AMIError) as exc:
            if not self._closing:
                log.warning("AMI connection to %s:%s lost: %s", self.host, self.port, exc or "closed")
        finally:
            self._writer = None
            self._fail_pending(AMIError("AMI connection lost before the answer came"))
            self.closed.set()

    def _handle(self, message: AMIMessage) -> None:
        action_id = message.action_id
        pending = self._pending.get(action_id) if action_id else None
        if pending is not None:
            pending.messages.append(message)
            first = pending.messages[0]
            if len(pending.messages) == 1:
                pending.is_list = first.get("EventList", "").lower() == "start"
            ends_list = str(message.get("EventList", "")).lower() == "complete" or (
                "Event" in message and message.event.endswith("Complete")
            )
            if (
                not pending.is_list or ends_list or first.response != "Success"
            ) and not pending.future.done():
                pending.future.set_result(pending.messages)
            return
        if "Event" not in message:
            return
        name = message.event.lower()
        for wanted, handler in list(self._handlers):
            if wanted in ("*", name):
                try:
                    handler(message)
                except Exception:
                    # One faulty handler must not stop the events that follow for every other call.
                    log.exception("AMI event handler %r failed on %s", handler, message.event)

    def _fail_pending(self, exc: Exception) -> None:
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(exc)


def _wire(value: object) -> object:
    """Keep lists (repeated headers such as Variable) and stringify the rest; refuse line breaks that
    would let a value inject AMI headers."""
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    text = str(value)
    if "\r" in text or "\n" in text:
        raise AMIError(f"AMI field value {text!r} contains a line break")
    return text
