"""The FastAGI server's routes: the IVR (the flow loaded and checked once, then run for every call), the
call back with a request's answer, the emergency switches by phone, and the queued callback a waiting
caller asks for."""

from __future__ import annotations

import logging
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agi_scripts.agi_channel import AGIChannel, call_info
from agi_scripts.callback_app import callback_route
from agi_scripts.case_desk import DatabaseCaseDesk
from agi_scripts.fastagi import AGISession, FastAGIServer, Route
from agi_scripts.queued_callback_app import queued_callback_route
from agi_scripts.switches_app import switches_route
from hotline.db.engine import make_engine, sessions
from hotline.db.numbers import NumberAllocator
from hotline.settings import Settings
from hotline.switches import Cached
from hotline.values import mask_number
from ivr import flow as flow_file
from ivr import hours, validate
from ivr.engine import CaseDesk, Engine
from ivr.flows import flow_path
from ivr.prompts import catalog

log = logging.getLogger(__name__)


def build_engine(settings: Settings, desk: CaseDesk) -> Engine:
    """Refuses to start on a broken flow: better no IVR process (the dialplan then queues callers for an
    operator) than menus that strand callers."""
    flow = flow_file.load(flow_path(settings))
    validate.check(flow, queues=[q.name for q in settings.queues], prompts=catalog.load().prompts)
    return Engine(flow, desk, partial(hours.is_open, settings.hours, settings.site.timezone))


def ivr_route(engine: Engine, switches: Cached | None = None) -> Route:
    async def ivr(session: AGISession) -> None:
        call = call_info(session.env, session.args)
        now = await switches.get() if switches is not None else None
        outcome = await engine.run(AGIChannel(session.stream), call, now)
        log.info(
            "call %s from %s on %s: %s -> %s (path %s)",
            call.linkedid,
            mask_number(call.caller),
            call.did,
            outcome.result,
            outcome.destination or "-",
            "-".join(outcome.path) or "-",
        )

    return ivr


def build_server(
    settings: Settings,
    db: async_sessionmaker[AsyncSession] | None = None,
    numbers: NumberAllocator | None = None,
) -> FastAGIServer:
    """The FastAGI server with its routes, on the process's database and number allocator (shell/service.py);
    alone (a test, a benchmark) on an engine of its own."""
    db = db or sessions(make_engine(settings.database_url))
    desk = DatabaseCaseDesk(db, numbers=numbers)
    server = FastAGIServer(allow=settings.agi_peers)
    server.on_start.append(desk.numbers.reserve)
    server.route("ivr", ivr_route(build_engine(settings, desk), Cached(db)))
    server.route("callback", callback_route(settings, db))
    server.route("switches", switches_route(settings, db))
    server.route("queued-callback", queued_callback_route(settings, db))
    return server
