"""`hotline serve`: the hotline's services in one asyncio process (FastAGI server and AMI bridge; each can
also run alone), stopped cleanly by SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from hotline import loop_watch
from hotline.db.migrate import upgrade_async
from hotline.settings import Settings

log = logging.getLogger(__name__)


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
    from agi_scripts.ivr_app import build_server
    from ami_bridge.bridge import Bridge

    await upgrade_async(settings.database_url)
    server = running_bridge = None
    if agi:
        server = build_server(settings)
        host, _, port = (agi_listen or settings.agi.address).rpartition(":")
        await server.start(host, int(port))
        print(f"FastAGI server on {host}:{port} (IVR flow {settings.flow_path})", flush=True)
    if bridge:
        running_bridge = Bridge(settings)
        await running_bridge.start()
        print(f"AMI bridge connected to {settings.ami.address}; cases in {settings.database_url}", flush=True)
    runner = None
    if web and running_bridge is not None:
        from aiohttp import web as aioweb

        from web.app import build_app

        runner = aioweb.AppRunner(build_app(settings, running_bridge), access_log=None)
        await runner.setup()
        await aioweb.TCPSite(runner, settings.web.host, settings.web.port).start()
        print(
            f"web app on http://{settings.web.address}/ (sign in; 'hotline user add' makes users)", flush=True
        )
    freeze_startup_objects()
    loop_watch.WATCH.start()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("stopping: letting calls in the IVR finish, writing the cases still queued")
    if runner is not None:
        await runner.cleanup()
    if server is not None:
        await server.close(grace=10.0)
    if running_bridge is not None:
        await running_bridge.stop()
    await loop_watch.WATCH.stop()
    return 0
