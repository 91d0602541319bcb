"""The webhooks Zalo and Facebook call with the messages citizens send the hotline's Official Account or
page (channels/chat.py checks their signatures). Each message opens a request or joins the sender's open
one (channels/intake.py). A payload without the platform's signature is refused (403); one the database
cannot take answers 503, and the platform sends it again."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from channels import chat, intake
from hotline import secrets
from hotline.errors import SettingsError
from hotline.values import same_secret
from web.context import Context, ctx
from web.routing import RouteTable

log = logging.getLogger(__name__)
routes = RouteTable()
MOST_BODY = 1 << 20  # a message event is a few kB


async def _take(c: Context, messages: list[chat.ChatMessage], topic: str) -> list[intake.Taken]:
    taken = []
    for m in messages:
        files, refused = await chat.files(c.settings, m.channel, m.files) if m.files else ([], [])
        message = intake.Message(
            channel=m.channel,
            external_id=m.message_id or f"{m.sender}:" + hashlib.sha256(m.text.encode()).hexdigest(),
            sender=m.sender,
            text=m.text,
            files=files,
            refused=m.refused + refused,
            position=m.position,
            # A sticker, a like or a GIF alone is nothing a person asked: it never opens a request.
            automatic="" if m.sender and m.says_something else "nothing a person wrote",
        )
        taken.append(
            await intake.take(c.settings, c.db, c.numbers, c.settings.request_files_path, message, topic)
        )
    return taken


async def _body(request: web.Request) -> bytes:
    """The whole body (a signed event may come in several TCP segments), at most MOST_BODY: a larger one is
    refused as too large, as soon as its length is known or read."""
    too_large = web.HTTPRequestEntityTooLarge(max_size=MOST_BODY, actual_size=request.content_length or 0)
    if (request.content_length or 0) > MOST_BODY:
        raise too_large
    body = bytearray()
    while chunk := await request.content.read(64 << 10):
        body += chunk
        if len(body) > MOST_BODY:
            raise too_large
    return bytes(body)


async def _answer(c: Context, parse: Callable[[], list[chat.ChatMessage]], topic: str) -> web.Response:
    try:
        messages = parse()
    except chat.ChatRefused as exc:
        log.warning("a webhook call refused: %s", exc)
        raise web.HTTPForbidden(text=str(exc)) from None
    except SettingsError as exc:
        log.error("a webhook call that cannot be checked: %s", exc)
        raise web.HTTPServiceUnavailable(text="not configured") from None
    try:
        taken = await _take(c, messages, topic)
    except (SQLAlchemyError, OSError, TimeoutError):
        log.exception("a chat message could not be kept; the platform will send it again")
        raise web.HTTPServiceUnavailable() from None
    return web.json_response({"taken": [t.outcome for t in taken]})


@routes.route("POST", "/webhooks/zalo", None)
async def zalo(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    if not c.settings.zalo.app_id:
        raise web.HTTPNotFound()
    body, signature = await _body(request), request.headers.get("X-ZEvent-Signature", "")
    return await _answer(c, lambda: chat.zalo_events(c.settings, body, signature), c.settings.zalo.topic)


@routes.route("GET", "/webhooks/facebook", None)
async def facebook_verify(request: web.Request) -> web.StreamResponse:
    """The page's webhook set-up: Facebook asks for the challenge back with the token the site chose."""
    c, q = ctx(request), request.query
    if not c.settings.facebook.page_id:
        raise web.HTTPNotFound()
    token = secrets.value(c.settings, secrets.FACEBOOK_VERIFY_TOKEN)
    if q.get("hub.mode") != "subscribe" or not same_secret(q.get("hub.verify_token", ""), token):
        raise web.HTTPForbidden(text="wrong verify token")
    return web.Response(text=q.get("hub.challenge", ""))


@routes.route("POST", "/webhooks/facebook", None)
async def facebook(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    if not c.settings.facebook.page_id:
        raise web.HTTPNotFound()
    body, signature = await _body(request), request.headers.get("X-Hub-Signature-256", "")
    return await _answer(
        c, lambda: chat.facebook_events(c.settings, body, signature), c.settings.facebook.topic
    )
