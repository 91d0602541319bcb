"""Routes with the role each needs. Each handler module keeps a `RouteTable` of its own; the app adds the
tables it is built from and keeps them, so the app, the check every request passes and the OpenAPI
document are made from one list and cannot disagree."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
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


class RouteTable:
    """One handler module's routes, filled by its `@routes.route(...)` decorators."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def __iter__(self) -> Iterator[Route]:
        return iter(self.routes)

    def route(
        self,
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
            self.routes.append(
                Route(method, path, handler, role, summary, api, params, body or {}, response or {})
            )
            return handler

        return register


# Every route the app serves, keyed as the router names a matched resource.
ROUTES = web.AppKey("routes", dict[tuple[str, str], Route])


def add_routes(app: web.Application, *tables: RouteTable) -> None:
    served = app.setdefault(ROUTES, {})
    for table in tables:
        for r in table:
            if (r.method, r.path) in served:
                raise ValueError(f"{r.method} {r.path} is routed twice")
            app.router.add_route(r.method, r.path, r.handler)
            # The middleware reads the role from the matched route: no handler can forget its check.
            served[(r.method, r.path)] = r


def served(app: web.Application) -> list[Route]:
    return list(app[ROUTES].values())


def info(request: web.Request) -> Route | None:
    match = request.match_info.route
    resource = match.resource
    if resource is None:
        return None
    return request.app[ROUTES].get((match.method, resource.canonical))
