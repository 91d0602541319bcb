"""The supervisors' and agents' web app (aiohttp), served by `hotline serve` next to the bridge whose live
board it shows. Every request passes one middleware that finds who is asking (session cookie or bearer
token), checks the role the route table asks for and, for changes made from a browser, the CSRF token."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ami_bridge.bridge import Bridge
from hotline.db.models import Role
from hotline.settings import Settings
from web import auth, i18n
from web.live import Broadcaster
from web.routing import Handler, add_routes, info
from web.stats import Today

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
# Debian's libjs-chart.js (scripts/run and scripts/test install it); the reports page says so if missing.
CHART_JS = Path("/usr/share/javascript/chart.js")
HAVE_CHART_JS = CHART_JS.is_dir()
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class Context:
    settings: Settings
    bridge: Bridge
    db: async_sessionmaker[AsyncSession]
    today: Today
    live: Broadcaster

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings.site.timezone)


CONTEXT = web.AppKey("context", Context)
PRINCIPAL = web.RequestKey("principal", auth.Principal)


def ctx(request: web.Request) -> Context:
    return request.app[CONTEXT]


def who(request: web.Request) -> auth.Principal:
    return request[PRINCIPAL]


def render(name: str, request: web.Request, values: dict[str, Any], status: int = 200) -> web.Response:
    """A page with what every template uses: the words in the reader's language and who they are."""
    lang = language(request)
    return aiohttp_jinja2.render_template(
        name,
        request,
        {
            "t": lambda key: i18n.translate(lang, key),
            "lang": lang,
            "other_lang": "en" if lang == "vi" else "vi",
            "me": request.get(PRINCIPAL),
            "site": ctx(request).settings.site,
            "chart_js": HAVE_CHART_JS,
            **values,
        },
        status=status,
    )


def language(request: web.Request) -> str:
    chosen = request.query.get("lang") or request.cookies.get("hotline_lang", "")
    return chosen if chosen in i18n.LANGUAGES else ctx(request).settings.web.language


def secure(request: web.Request) -> bool:
    mode = ctx(request).settings.web.secure_cookies
    if mode != "auto":
        return mode == "always"
    return request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"


def wants_json(request: web.Request) -> bool:
    route = info(request)
    return bool(route and route.api) or request.path.startswith(("/api/", "/metrics", "/ws/"))


def refuse(request: web.Request, status: int, message: str) -> web.StreamResponse:
    if wants_json(request):
        return web.json_response({"error": message}, status=status)
    if status == 401:
        raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
    return render("error.html.j2", request, {"message": message, "status": status}, status=status)


@web.middleware
async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
    route = info(request)
    principal: auth.Principal | None = None
    c = ctx(request)
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer "):
        principal = await auth.token_principal(c.db, bearer.removeprefix("Bearer ").strip())
        if principal is None:
            return web.json_response({"error": "unknown or revoked API token"}, status=401)
    elif request.cookies.get(auth.COOKIE):
        principal = await auth.session_principal(c.db, request.cookies[auth.COOKIE])
    if principal is not None:
        request[PRINCIPAL] = principal
    if route is not None and route.role is not None:
        if principal is None:
            return refuse(
                request, 401, "sign in first (a session cookie or an 'Authorization: Bearer' token)"
            )
        if not principal.can(route.role):
            return refuse(
                request, 403, f"this needs the {route.role.value} role; you are {principal.role.value}"
            )
        if request.method not in SAFE_METHODS and principal.csrf:
            given = request.headers.get("X-CSRF-Token", "")
            if not given and request.content_type == "application/x-www-form-urlencoded":
                given = str((await request.post()).get("csrf", ""))
            if not auth.csrf_ok(principal, given):
                return refuse(request, 403, "missing or wrong CSRF token: reload the page and try again")
    response = await handler(request)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'",
    )
    return response


def build_app(settings: Settings, bridge: Bridge) -> web.Application:
    # Imported for their routes (the decorators fill the route table).
    from web import api, metrics, openapi, pages  # noqa: F401

    app = web.Application(middlewares=[security], client_max_size=1 << 20)
    today = Today(ZoneInfo(settings.site.timezone), settings.web.service_level_seconds)
    app[CONTEXT] = Context(settings, bridge, bridge.db, today, Broadcaster(bridge.board, today))
    metrics.registry(app, app[CONTEXT])
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    env.globals["roles"] = Role
    add_routes(app)
    app.router.add_static("/static/", HERE / "static")
    if HAVE_CHART_JS:
        app.router.add_static("/static/chart.js/", CHART_JS)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    return app


async def _start(app: web.Application) -> None:
    c = app[CONTEXT]
    await c.today.load(c.db)
    c.bridge.writer.on_written = c.today.add
    c.live.start()


async def _stop(app: web.Application) -> None:
    await app[CONTEXT].live.stop()
