"""The URLs the SMS gateway calls: a message to the hotline's number, and a delivery report of one sent.
Each carries the site's callback secret in its path (channels/sms.py): nobody else can make them up. They
answer 200 with an empty body once the message or report is kept (Kannel then sends no reply of its own),
and 503 when the database cannot take it (Kannel calls again)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from channels import outbox, sms, sms_in
from hotline.values import same_secret
from web.context import ctx
from web.routing import RouteTable

log = logging.getLogger(__name__)
routes = RouteTable()


def _checked(request: web.Request) -> None:
    if not same_secret(request.match_info["key"], sms.callback_key(ctx(request).settings)):
        raise web.HTTPNotFound()


@routes.route("GET", "/sms/inbound/{key}", None)
async def inbound(request: web.Request) -> web.StreamResponse:
    _checked(request)
    c, q = ctx(request), request.query
    try:
        taken = await sms_in.take(
            c.settings,
            c.db,
            c.numbers,
            c.settings.request_files_path,
            q.get("from", ""),
            q.get("text", ""),
            q.get("id", ""),
        )
    except (SQLAlchemyError, OSError, TimeoutError):
        log.exception("an SMS from the gateway could not be kept; it will call again")
        raise web.HTTPServiceUnavailable() from None
    return web.Response(
        text="", headers={"X-Hotline-Request": taken.number, "X-Hotline-Outcome": taken.outcome}
    )


@routes.route("GET", "/sms/dlr/{key}", None)
async def delivery_report(request: web.Request) -> web.StreamResponse:
    _checked(request)
    c, q = ctx(request), request.query
    message, status = q.get("message", ""), q.get("status", "")
    if not (message.isdigit() and status.isdigit()):
        raise web.HTTPBadRequest(text="message and status must be numbers")
    try:
        known = await outbox.record_delivery(c.db, int(message), int(status), datetime.now(UTC))
    except (SQLAlchemyError, OSError, TimeoutError):
        log.exception("a delivery report could not be kept; the gateway will call again")
        raise web.HTTPServiceUnavailable() from None
    return web.Response(text="" if known else "unknown message", status=200 if known else 404)
