"""One table of routes with the role each needs: the app is built from it, every request is checked
against it, and the OpenAPI document is generated from it, so the three cannot disagree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from hotline.db.models import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    role: Role | None  # None: open to anyone (the sign-in page, static files)
    summary: str = ""
    api: bool = False  # JSON: listed in the OpenAPI document, answers 401/403 as JSON
    params: tuple[tuple[str, str, str], ...] = ()  # (name, where: query|path, description)
    body: dict[str, Any] = field(default_factory=dict)  # JSON schema of the request body
    response: dict[str, Any] = field(default_factory=dict)  # JSON schema of a 200 answer


ROUTES: list[Route] = []


def route(
    method: str,
    path: str,
    role: Role | None,
    summary: str = "",
    *,
    api: bool = False,
    params: tuple[tuple[str, str, str], ...] = (),
    body: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, path, handler, role, summary, api, params, body or {}, response or {}))
        return handler

    return register


def add_routes(app: web.Application) -> None:
    for r in ROUTES:
        app.router.add_route(r.method, r.path, r.handler)
        # The middleware reads the role from the matched route: no handler can forget its check.
        _ROUTE_INFO[(r.method, r.path)] = r


_ROUTE_INFO: dict[tuple[str, str], Route] = {}


def info(request: web.Request) -> Route | None:
    match = request.match_info.route
    resource = match.resource
    if resource is None:
        return None
    return _ROUTE_INFO.get((match.method, resource.canonical))
