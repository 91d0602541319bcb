"""The supervisors' and agents' web app (aiohttp), served by `hotline serve` next to the bridge whose live
board it shows. Every request passes one middleware that finds who is asking (session cookie or bearer
token), checks the role the route table asks for and, for changes made from a browser, the CSRF token."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

import aiohttp_jinja2
import jinja2
from aiohttp import web

from casework.steps import Steps
from channels import outbox
from hotline import links, secrets
from hotline.db.models import Role
from hotline.settings import Settings
from web import auth, proxies, times
from web.citizens import follow, places, portal
from web.context import (
    CHART_JS,
    CONTEXT,
    HAVE_CHART_JS,
    HAVE_LEAFLET,
    HERE,
    LEAFLET,
    PRINCIPAL,
    Context,
    Shared,
    ctx,
    secure,
)
from web.errors import answer, form_data, refuse
from web.integrations import chat_webhooks, metrics, open311, openapi, sms_gateway
from web.live import Broadcaster
from web.routing import Handler, add_routes, info
from web.staff import (
    agent_report,
    api,
    menu_stats,
    pages,
    requests_api,
    requests_map,
    requests_pages,
    requests_stats,
    switches,
    worklist,
)
from web.stats import Today

log = logging.getLogger(__name__)

# The public form takes up to 5 photos or documents of at most 10 MB each (casework/attachments.py), with
# the form around them.
MOST_BODY = 52 << 20
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORMS = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


@web.middleware
async def security(request: web.Request, handler: Handler) -> web.StreamResponse:
    c = ctx(request)
    if c.settings.web.trusted_proxies:
        # Behind the site's proxy: the client's own address and scheme, for everything after this.
        trusted = proxies.networks(tuple(c.settings.web.trusted_proxies))
        peer = request.remote or ""
        client = proxies.client_address(peer, request.headers, trusted)
        https = proxies.came_over_https(peer, request.headers, trusted)
        if client != peer or https:
            request = request.clone(remote=client, scheme="https" if https else request.scheme)
    route = info(request)
    principal: auth.Principal | None = None
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer "):
        principal = await auth.token_principal(c.db, bearer.removeprefix("Bearer ").strip())
        if principal is None:
            return answer(401, "unknown or revoked API token")
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
            if not given and request.content_type in FORMS:
                form = await form_data(request)
                given = str(form.get("csrf", "")) if form is not None else ""
            if not auth.csrf_ok(principal, given):
                return refuse(request, 403, "missing or wrong CSRF token: reload the page and try again")
    return await handler(request)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
HEADERS = web.AppKey("security_headers", dict[str, str])


def content_policy(settings: Settings) -> str:
    """Everything from the site itself; the maps' tiles from the site's tile server too, when it has one."""
    tiles = f" {settings.map.tiles_origin}" if settings.map.tiles_origin else ""
    return (
        f"default-src 'self'; img-src 'self' data:{tiles}; media-src 'self'; connect-src 'self'; "
        "frame-ancestors 'none'"
    )


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """On every response, redirects, errors and static files included (a middleware sees only what
    handlers return)."""
    for name, value in request.app[HEADERS].items():
        response.headers.setdefault(name, value)
    if secure(request):
        # Only over HTTPS: a browser told this over plain HTTP by a proxy-less test would lock itself out.
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


def build_app(settings: Settings, shared: Shared) -> web.Application:
    app = web.Application(middlewares=[security], client_max_size=MOST_BODY)
    today = Today(ZoneInfo(settings.site.timezone), settings.web.service_level_seconds)
    app[CONTEXT] = Context(
        settings,
        shared.db,
        shared.numbers,
        shared.ami,
        shared.board,
        shared.writer,
        shared.leases,
        today,
        Broadcaster(shared.board, today, shared.db, shared.ami.connected.is_set),
        # Whoever approves an answer, the citizen is told on their channel (channels/outbox.py).
        Steps(tell_citizen=outbox.answer_message, tell_merged=outbox.merged_message),
        follow_key=links.site_key(settings),
        limits_key=secrets.value(settings, secrets.PUBLIC_LIMITS).encode(),
    )
    portal.setup(app, app[CONTEXT])
    agent_report.setup(app)
    places.setup(app)
    metrics.registry(app, app[CONTEXT])
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
    )
    env.globals["roles"] = Role
    times.install(env)
    add_routes(
        app,
        pages.routes,
        requests_pages.routes,
        requests_stats.routes,
        requests_map.routes,
        menu_stats.routes,
        worklist.routes,
        switches.routes,
        follow.routes,
        places.routes,
        open311.routes,
        portal.routes,
        sms_gateway.routes,
        chat_webhooks.routes,
        api.routes,
        agent_report.routes,
        requests_api.routes,
        metrics.routes,
        openapi.routes,
    )
    app.router.add_static("/static/", HERE / "static")
    if HAVE_CHART_JS:
        app.router.add_static("/static/chart.js/", CHART_JS)
    if HAVE_LEAFLET:
        app.router.add_static("/static/leaflet/", LEAFLET)
    app[HEADERS] = {**SECURITY_HEADERS, "Content-Security-Policy": content_policy(settings)}
    app.on_response_prepare.append(_security_headers)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    return app


async def _start(app: web.Application) -> None:
    c = app[CONTEXT]
    await c.today.load(c.db)
    c.writer.subscribe(c.today.add)
    c.live.start()
    c.suggestions.start(c.db)


async def _stop(app: web.Application) -> None:
    c = app[CONTEXT]
    c.writer.unsubscribe(c.today.add)
    await c.live.stop()
    await c.suggestions.stop()
