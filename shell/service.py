"""The hotline's services wired together in one asyncio process: the FastAGI server, the AMI bridge and the
web app (each can also run alone). `hotline serve` runs them until SIGINT or SIGTERM; the tests run the
same wiring inside their own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial

from aiohttp import web as aioweb

from agi_scripts.fastagi import FastAGIServer
from agi_scripts.ivr_app import build_server
from ami_bridge.bridge import Bridge
from casework import file_worker
from channels.queued_callbacks import Dispatcher, open_now
from hotline import files, loop_watch
from hotline.db.migrate import upgrade_async
from hotline.errors import AMIError, AMILoginRefused
from hotline.settings import Settings
from hotline.switches import Cached
from ivr.flows import flow_path
from shell import housekeeping, messaging
from web.app import build_app

log = logging.getLogger(__name__)


@dataclass
class Running:
    """What `services` started; a part not asked for is None."""

    settings: Settings
    agi: FastAGIServer | None
    bridge: Bridge | None
    web: aioweb.AppRunner | None
    housekeeping: asyncio.Task[None] | None = None
    deadlines: asyncio.Task[None] | None = None
    outbox: asyncio.Task[None] | None = None
    mailbox: asyncio.Task[None] | None = None
    callbacks: asyncio.Task[None] | None = None

    def require_bridge(self) -> Bridge:
        if self.bridge is None:
            raise RuntimeError("the bridge was not started")
        return self.bridge


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
    running = Running(settings, None, None, None)
    try:
        if agi:
            running.agi = build_server(settings)
            host, _, port = (agi_listen or settings.agi.listen_address).rpartition(":")
            await running.agi.start(host, int(port))
            log.debug("FastAGI server on %s:%s (IVR flow %s)", host, port, flow_path(settings))
        if bridge:
            running.bridge = Bridge(settings)
            await running.bridge.start(wait=None)
        if web and running.bridge is not None:
            running.web = aioweb.AppRunner(build_app(settings, running.bridge), access_log=None)
            await running.web.setup()
            await aioweb.TCPSite(running.web, settings.web.host, settings.web.port).start()
            log.debug("web app on http://%s/", settings.web.address)
        if running.bridge is not None:
            try:
                await running.bridge.ami.wait_connected(ami_wait)
                log.debug("AMI bridge connected to %s", settings.ami.address)
            except AMIError as exc:
                # Nothing on the request side needs Asterisk: with the web app, the hotline serves the
                # portal, the citizens' pages, Open311, the webhooks, the mailbox and the outbox from the
                # start, and the session goes on trying; the calls are picked up (and those that ended
                # meanwhile completed from queue_log) when AMI answers. A refused login is a
                # configuration error, and a bridge alone has nothing to serve without AMI.
                if not web or isinstance(exc, AMILoginRefused):
                    raise
                log.warning("%s: the request side serves meanwhile, the calls once AMI answers", exc)
        if running.bridge is not None:
            running.housekeeping = asyncio.create_task(
                housekeeping.nightly(settings, running.bridge.db, running.bridge.ami), name="retention"
            )
            running.deadlines = asyncio.create_task(
                housekeeping.chase_deadlines(settings, running.bridge.db), name="deadlines"
            )
            running.outbox = asyncio.create_task(
                messaging.send_outbox(settings, running.bridge.db, running.bridge.ami), name="outbox"
            )
            if settings.queued_callbacks.enabled:
                dispatcher = Dispatcher(
                    settings,
                    running.bridge.db,
                    running.bridge.ami,
                    partial(open_now, settings, Cached(running.bridge.db)),
                )
                running.bridge.listeners.append(dispatcher.handle)
                running.callbacks = asyncio.create_task(dispatcher.run(), name="queued-callbacks")
            if settings.mailbox.host:
                running.mailbox = asyncio.create_task(
                    messaging.read_mailbox(
                        settings,
                        running.bridge.db,
                        running.bridge.writer.numbers,
                        settings.request_files_path,
                    ),
                    name="mailbox",
                )
        yield running
    finally:
        background = [
            task
            for task in (
                running.housekeeping,
                running.deadlines,
                running.outbox,
                running.mailbox,
                running.callbacks,
            )
            if task is not None
        ]
        for task in background:
            task.cancel()
        # Each lets go of its database connection before the bridge disposes of the engine: a task
        # cancelled in the middle of a transaction and left running could hold the shutdown up.
        if background:
            await asyncio.wait(background, timeout=grace)
        if running.web is not None:
            await running.web.cleanup()
        file_worker.WORKER.close()
        if running.agi is not None:
            await running.agi.close(grace=grace)
        if running.bridge is not None:
            await running.bridge.stop()


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
        if running.bridge is not None and running.bridge.ami.connected.is_set():
            print(
                f"AMI bridge connected to {settings.ami.address}; cases in {settings.database_url}",
                flush=True,
            )
        elif running.bridge is not None:
            print(
                f"AMI bridge waiting for Asterisk at {settings.ami.address} (the request side serves"
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
