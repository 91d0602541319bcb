"""The composition root: the hotline's services wired together in one asyncio process. `Hotline` builds,
once, what they share (the database engine, the case-number allocator, the AMI session, the live board)
and the bridge on them, and registers who hears of what (subscriptions, not overwritten callbacks);
`services` starts the FastAGI server, the bridge and the web app on it (each can also run alone), and the
request side's background work. `hotline serve` runs them until SIGINT or SIGTERM; the tests run the same
wiring inside their own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from aiohttp import web as aioweb
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agi_scripts.fastagi import FastAGIServer
from agi_scripts.ivr_app import build_server
from ami_bridge import node_loss
from ami_bridge.bridge import Bridge
from ami_bridge.calls import Call
from ami_bridge.case_writer import CaseWriter
from ami_bridge.journal import Journal
from ami_bridge.live import LiveBoard
from ami_bridge.node_loss import NodeWatch
from ami_bridge.nodes import MergedCalls, NodeSessions
from ami_bridge.presence import PresenceKeeper
from ami_bridge.session import AMIService, AMISession
from casework import call_contacts, file_worker, placing
from channels.queued_callbacks import Dispatcher, open_now
from hotline import files, loop_watch, secrets, worklist
from hotline.asterisk.naming import node_of
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.numbers import NumberAllocator
from hotline.errors import AMIError, AMILoginRefused
from hotline.settings import Settings
from hotline.switches import Cached
from ivr.flows import flow_path
from shell import housekeeping, messaging
from shell.centers import Center
from web.app import build_app

log = logging.getLogger(__name__)

# Seconds a part may take to stop beyond its own grace; the case writer's own flush bound.
STOP_MARGIN = 15.0
WRITER_STOP = 10.0


# The other records an ended call's case is written with, in its transaction (hotline.closed_calls).
CLOSED_CALL_HOOKS = (call_contacts.note_call_back, worklist.note_closed_call)


def with_closed_call_hooks(writer: CaseWriter, settings: Settings | None = None) -> CaseWriter:
    """The hooks every writer has; with the site's settings also those that depend on them (the callbacks
    of callers who waited on a lost node)."""
    for hook in CLOSED_CALL_HOOKS:
        writer.when_closed(hook)
    if settings is not None:
        writer.when_closed(node_loss.call_back_lost_wait(settings.queued_callbacks))
    return writer


@dataclass
class Hotline:
    """What the services share in one process. The engine is the process's only one; the allocator hands
    out case and request numbers to the IVR, the case writer and the web app from the same block. One
    bridge follows each Asterisk (the one, or each of [[nodes]]) into the one case writer and live board;
    `ami` is the one session, or every node's seen as one."""

    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    numbers: NumberAllocator
    ami: AMIService
    board: LiveBoard
    writer: CaseWriter
    bridges: dict[str, Bridge]  # by node name ("" on one machine), in fail-over order
    watch: NodeWatch | None = None  # with several nodes: which are lost
    presence: PresenceKeeper | None = None  # with several nodes: agents' log-in and pause, kept here
    # The background work's leases and whether this center holds each now (shell/centers.py).
    leases: Callable[[], dict[str, bool]] = dict

    @classmethod
    def build(cls, settings: Settings, journal_dir: Path | None = None) -> Hotline:
        """Nothing connects yet: the engine on first use, the AMI sessions on `start`."""
        engine = make_engine(settings.database_url)
        db = sessions(engine)
        numbers = NumberAllocator(db)
        writer = CaseWriter(db, numbers, journal=Journal(journal_dir or settings.journal_path))
        with_closed_call_hooks(writer, settings)
        calls = {name: dict[str, Call]() for name in settings.node_names}
        board = LiveBoard(settings, calls[""] if "" in calls else MergedCalls(list(calls.values())))
        bridges = {}
        for name in settings.node_names:
            node = settings.for_node(name) if name else settings
            session = AMISession(
                node.ami.host,
                node.ami.port,
                node.ami.username,
                secrets.ami_secret(settings),
                ping_seconds=node.ami.ping_seconds,
            )
            bridges[name] = Bridge(node, db=db, writer=writer, ami=session, board=board, calls=calls[name])
        ami: AMIService = (
            bridges[""].ami if "" in bridges else NodeSessions({n: b.ami for n, b in bridges.items()})
        )
        hotline = cls(settings, engine, db, numbers, ami, board, writer, bridges)
        if settings.nodes:
            followed = {name: bridge.ami for name, bridge in bridges.items()}
            hotline.watch = NodeWatch(followed, settings.edge.node_lost_seconds, hotline.lose)
            hotline.presence = PresenceKeeper(settings, db, followed)
            for name, session in followed.items():
                session.watch(partial(_show_node, board, name))
        return hotline

    def lose(self, node: str) -> None:
        """A node is lost: its bridge ends the calls it held (ami_bridge/node_loss.py)."""
        self.board.node_state(node, "lost")
        ended = self.bridges[node].lose(datetime.now(UTC))
        log.error("node %s lost: %d call(s) ended with what was seen of them", node, len(ended))

    @property
    def calls(self) -> Mapping[str, Call]:
        return self.board.calls

    async def start(self, wait: float | None = 15.0) -> None:
        """Take in what an earlier run left, start writing cases, and start following every Asterisk:
        AMIError when none answers within `wait` seconds (the sessions go on trying). With `wait` None,
        return at once (`ami.wait_connected` waits)."""
        await upgrade_async(self.settings.database_url)
        await self.writer.load_dead_letters()
        # What an earlier run (killed, or stopped while the database was away) left unwritten. The calls
        # that were still live go back to the bridge of their node.
        for call in self.writer.replay():
            if call.ended_at is None and call.in_hotline:
                bridge = self.bridges.get(node_of(call.linkedid)) or next(iter(self.bridges.values()))
                bridge.take_in(call)
        self.writer.start()
        if self.presence is not None:
            await self.presence.start()
        for bridge in self.bridges.values():
            await bridge.start(wait=None)
        if wait is not None:
            await self.ami.wait_connected(wait)

    async def stop_following(self) -> None:
        """Stop the bridges, then the writer (it writes what is queued)."""
        if self.watch is not None:
            self.watch.stop()
        if self.presence is not None:
            await self.presence.stop()
        for bridge in self.bridges.values():
            await bridge.stop()
        await self.writer.stop()

    async def stop(self) -> None:
        """Stop following, then let go of the database."""
        await self.stop_following()
        await self.engine.dispose()


def _show_node(board: LiveBoard, name: str, session: AMISession) -> None:
    """The wallboard's view of a node: up while its session is; away when not (until it is lost)."""
    if session.connected.is_set():
        board.node_state(name, "up")
    elif board.nodes.get(name, ("",))[0] != "lost":
        board.node_state(name, "away")


@dataclass
class Running:
    """What `services` started; a part not asked for is None."""

    settings: Settings
    hotline: Hotline
    agi: FastAGIServer | None = None
    following: bool = False  # the bridges run
    web: aioweb.AppRunner | None = None
    # The request side's work in the background: retention, deadlines, the outbox, the mailbox, the
    # queued callbacks' dispatcher; each while this center holds its lease.
    background: list[asyncio.Task[None]] = field(default_factory=list)
    center: Center | None = None  # the leases this process holds (shell/centers.py)

    def require_bridge(self, node: str = "") -> Bridge:
        """The bridge of a node (the first, or the one Asterisk's, by default)."""
        if not self.following:
            raise RuntimeError("the bridge was not started")
        bridges = self.hotline.bridges
        return bridges[node] if node else next(iter(bridges.values()))


@contextlib.asynccontextmanager
async def services(
    settings: Settings,
    *,
    agi: bool = True,
    bridge: bool = True,
    web: bool = False,
    agi_listen: str | None = None,
    grace: float = 10.0,
    ami_wait: float = 15.0,
) -> AsyncIterator[Running]:
    """Bring the database's schema up to date, start what was asked for, and on the way out stop it in
    the order that loses nothing: no new web requests, then calls in the IVR finish (up to `grace`
    seconds), then the bridge writes the cases still queued."""
    await upgrade_async(settings.database_url)
    for tree in (settings.state_path, settings.recordings_path):
        if tree.is_dir():
            await asyncio.to_thread(files.tighten, tree, (settings.sounds_path,))
    running = Running(settings, Hotline.build(settings))
    try:
        if agi:
            await _start_agi(running, agi_listen)
        if bridge:
            running.following = True
            running.center = Center(settings.database_url)
            running.hotline.leases = running.center.holding
            running.center.follow_writer(running.hotline.writer)
            await running.hotline.start(wait=None)
            if web:
                await _start_web(running)
            await _wait_for_asterisk(running, ami_wait, serving=web)
            running.background = _start_background(settings, running.hotline, running.center)
        yield running
    finally:
        await _stop(running, grace)


async def _start_agi(running: Running, listen: str | None) -> None:
    settings, hotline = running.settings, running.hotline
    running.agi = build_server(settings, hotline.db, hotline.numbers)
    host, _, port = (listen or settings.agi.listen_address).rpartition(":")
    await running.agi.start(host, int(port))
    log.debug("FastAGI server on %s:%s (IVR flow %s)", host, port, flow_path(settings))


async def _start_web(running: Running) -> None:
    settings = running.settings
    running.web = aioweb.AppRunner(build_app(settings, running.hotline), access_log=None)
    await running.web.setup()
    await aioweb.TCPSite(running.web, settings.web.host, settings.web.port).start()
    log.debug("web app on http://%s/", settings.web.address)


async def _wait_for_asterisk(running: Running, wait: float, serving: bool) -> None:
    try:
        await running.hotline.ami.wait_connected(wait)
        log.debug("AMI bridge connected to %s", running.settings.ami.address)
    except AMIError as exc:
        # Nothing on the request side needs Asterisk: with the web app, the hotline serves the portal,
        # the citizens' pages, Open311, the webhooks, the mailbox and the outbox from the start, and the
        # session goes on trying; the calls are picked up (and those that ended meanwhile completed from
        # queue_log) when AMI answers. A refused login is a configuration error, and a bridge alone has
        # nothing to serve without AMI.
        if not serving or isinstance(exc, AMILoginRefused):
            raise
        log.warning("%s: the request side serves meanwhile, the calls once AMI answers", exc)


def _start_background(settings: Settings, hotline: Hotline, center: Center) -> list[asyncio.Task[None]]:
    """Each piece of work on the one center that holds its lease (on one machine: here)."""
    db, ami = hotline.db, hotline.ami
    tasks = [
        center.run("retention", partial(housekeeping.nightly, settings, db, ami)),
        center.run("deadlines", partial(housekeeping.chase_deadlines, settings, db)),
        center.run("outbox", partial(messaging.send_outbox, settings, db, ami)),
        center.run("places", partial(_place_unplaced, settings, db)),
    ]
    if settings.queued_callbacks.enabled:
        tasks.append(center.run("queued-callbacks", partial(_dispatch_queued_callbacks, settings, hotline)))
    if settings.mailbox.host:
        reading = partial(messaging.read_mailbox, settings, db, hotline.numbers, settings.request_files_path)
        tasks.append(center.run("mailbox", reading))
    return tasks


async def _place_unplaced(settings: Settings, db: async_sessionmaker[AsyncSession]) -> None:
    """Requests kept before the 2025 wards (or before the site named its province) are placed once."""
    await placing.place_unplaced(db, settings.places())


async def _dispatch_queued_callbacks(settings: Settings, hotline: Hotline) -> None:
    """A dispatcher of its own each time this center takes the lease: it reads where every callback stands
    from Asterisk and queue_log before it places anything."""
    db = hotline.db
    dispatcher = Dispatcher(settings, db, hotline.ami, partial(open_now, settings, Cached(db)))
    hotline.ami.subscribe(dispatcher.handle)  # after the bridge: it acts on what the board knows
    try:
        await dispatcher.run()
    finally:
        hotline.ami.unsubscribe(dispatcher.handle)


async def _stop(running: Running, grace: float) -> None:
    """Each step has a bound: one that hangs (a browser that never closes its WebSocket, a peer that never
    answers) is logged with what was still running and left behind, so that the case writer still writes
    what is queued and the journal keeps the rest."""
    for task in running.background:
        task.cancel()
    # Each lets go of its database connection before the engine is disposed of: a task cancelled in the
    # middle of a transaction and left running could hold the shutdown up.
    if running.background:
        await asyncio.wait(running.background, timeout=grace)
    if running.web is not None:
        await _within("the web app", running.web.cleanup(), grace + STOP_MARGIN)
    file_worker.WORKER.close()
    if running.agi is not None:
        await _within("the FastAGI server", running.agi.close(grace=grace), grace + STOP_MARGIN)
    if running.following:
        await _within("the bridge", running.hotline.stop_following(), WRITER_STOP + STOP_MARGIN)
    if running.center is not None:
        await _within("the leases", running.center.stop(), STOP_MARGIN)
    await _within("the database engine", running.hotline.engine.dispose(), STOP_MARGIN)


async def _within(part: str, stopping: Awaitable[None], seconds: float) -> None:
    try:
        await asyncio.wait_for(stopping, seconds)
    except TimeoutError:
        pending = sorted(
            f"{task.get_name()} at {task.get_stack(limit=1)[-1:] or '?'}"
            for task in asyncio.all_tasks()
            if task is not asyncio.current_task()
        )
        log.error(
            "stopping: %s did not stop within %.0f s; going on (still running: %s)", part, seconds, pending
        )


def freeze_startup_objects() -> None:
    """Everything imported and built at start-up lives as long as the process: keep the garbage collector
    from walking it again and again while calls come and go."""
    gc.collect()
    gc.freeze()


async def run(
    settings: Settings,
    *,
    agi: bool = True,
    bridge: bool = True,
    web: bool = False,
    agi_listen: str | None = None,
) -> int:
    """`hotline serve` (and `hotline agi serve`, `hotline bridge run`): the services until a signal."""
    async with services(settings, agi=agi, bridge=bridge, web=web, agi_listen=agi_listen) as running:
        # The lines tests and operators wait for: each part is up.
        if running.agi is not None:
            host, _, port = (agi_listen or settings.agi.listen_address).rpartition(":")
            print(f"FastAGI server on {host}:{port} (IVR flow {flow_path(settings)})", flush=True)
        where = (
            ", ".join(f"{n.name} {n.address}:{n.ami_port}" for n in settings.nodes) or settings.ami.address
        )
        if running.following and running.hotline.ami.connected.is_set():
            print(f"AMI bridge connected to {where}; cases in {settings.database_url}", flush=True)
        elif running.following:
            print(
                f"AMI bridge waiting for Asterisk at {where} (the request side serves"
                f" meanwhile); cases in {settings.database_url}",
                flush=True,
            )
        if running.web is not None:
            print(
                f"web app on http://{settings.web.address}/ (sign in; 'hotline user add' makes users)",
                flush=True,
            )
        freeze_startup_objects()
        loop_watch.WATCH.start()
        try:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await stop.wait()
            log.info("stopping: letting calls in the IVR finish, writing the cases still queued")
        finally:
            await loop_watch.WATCH.stop()
    return 0
