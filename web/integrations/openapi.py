"""The OpenAPI 3.1 document, generated from the route table the app is built from."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hotline.db.models import Role
from web.routing import Route, RouteTable, served

routes = RouteTable()


def document(served_routes: list[Route]) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for r in served_routes:
        if not r.api:
            continue
        operation: dict[str, Any] = {
            "summary": r.summary,
            "operationId": r.handler.__name__,
            "x-required-role": r.role.value if r.role else None,
            "parameters": [
                {
                    "name": name,
                    "in": where,
                    "required": where == "path",
                    "description": text,
                    "schema": {"type": "string"},
                }
                for name, where, text in r.params
            ],
            "responses": {
                "200": {"description": "OK", "content": {_media(r.path): {"schema": r.response or {}}}},
                "400": {"description": "Bad input; the error says what to fix"},
                "401": {"description": "Not signed in, or an unknown token"},
                "403": {
                    "description": "The role does not allow this (or a missing CSRF token from a browser)"
                },
            },
            "security": [{"bearer": []}, {"session": []}] if r.role else [],
        }
        if r.body:
            operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": r.body}}}
        paths.setdefault(r.path, {})[r.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hotline1022",
            "version": "1",
            "description": "Cases, live queues and agents of a 1022 citizen hotline. Roles of the center: "
            + ", ".join(r.value for r in Role if r is not Role.AGENCY)
            + " (each can do what the ones before it can); an agency's users see their agency's requests.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from 'hotline token add'",
                },
                "session": {"type": "apiKey", "in": "cookie", "name": "hotline_session"},
            }
        },
        "paths": paths,
    }


def _media(path: str) -> str:
    if path == "/metrics":
        return "text/plain"
    if path.endswith(".csv"):
        return "text/csv"
    if path.endswith("/recording"):
        return "audio/wav"
    return "application/json"


@routes.route("GET", "/api/openapi.json", None, "This document")
async def openapi(request: web.Request) -> web.StreamResponse:
    return web.json_response(document(served(request.app)))
