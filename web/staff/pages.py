"""HTML pages: sign-in, wallboard, agent desk, cases, reports, audit log. They draw the frame; live data
comes from the WebSocket and the JSON API."""

from __future__ import annotations

import logging
import math
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import select

from channels import outbox
from hotline import queued_callbacks
from hotline.db.models import CitizenRequest, DeadLetter, OutboxMessage, OutboxStatus, Role, Status
from hotline.values import mask_number, same_secret
from web import auth, devices
from web.audit import audit
from web.context import PRINCIPAL, ctx, language, render, secure, who
from web.errors import posted_form, refuse
from web.routing import RouteTable
from web.staff.case_access import load_case, may_see, search_cases, search_filters, sees_full_numbers

routes = RouteTable()
log = logging.getLogger(__name__)


def page(name: str, request: web.Request, **values: Any) -> web.Response:
    return render(name, request, values)


@routes.route("GET", "/", None)
async def home(request: web.Request) -> web.StreamResponse:
    principal = request.get(PRINCIPAL)
    if principal is None:
        raise web.HTTPSeeOther("/login")
    if principal.role is Role.AGENCY:
        raise web.HTTPSeeOther("/requests")  # the agency's portal
    raise web.HTTPSeeOther("/wallboard" if principal.can_supervise else "/desk")


LOGIN_COOKIE = "hotline_login"


def login_page(request: web.Request, error: str, target: str, status: int = 200) -> web.Response:
    """The sign-in form with a token of its own, also set as a cookie: a sign-in posted from another site
    (which cannot read the cookie) is refused, so no one is signed in to an account of the attacker's."""
    token = request.cookies.get(LOGIN_COOKIE, "") or secrets.token_urlsafe(24)
    response = render(
        "login.html.j2", request, {"error": error, "next": target, "csrf": token}, status=status
    )
    response.set_cookie(
        LOGIN_COOKIE, token, max_age=3600, httponly=True, samesite="Strict", secure=secure(request), path="/"
    )
    return response


@routes.route("GET", "/login", None)
async def login_form(request: web.Request) -> web.StreamResponse:
    response = login_page(request, "", _next(request.query.get("next", "/")))
    if "lang" in request.query:
        response.set_cookie(
            "hotline_lang", language(request), max_age=365 * 86400, samesite="Lax", httponly=True
        )
    return response


@routes.route("POST", "/login", None)
async def login(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    form = await posted_form(request)
    target = _next(str(form.get("next", "/")))
    expected = request.cookies.get(LOGIN_COOKIE, "")
    if not expected or not same_secret(expected, str(form.get("csrf", ""))):
        return login_page(request, "login_expired", target, status=403)
    username = str(form.get("username", ""))[:64]
    address = request.remote or ""
    device = devices.recognised(c.settings, username, request.cookies.get(devices.COOKIE, ""))
    # From the user's own browser, wrong tries slow down that browser only; from elsewhere, the account
    # and the address (so guessing from many places locks the guessers out, not the person).
    keys = [f"device:{device}"] if device else [f"user:{username.casefold()}", f"address:{address}"]
    wait = await c.throttle.wait(keys)
    if wait > 0:
        log.warning(
            "sign-in as %r from %s refused for %.0f s more: too many wrong passwords", username, address, wait
        )
        response = login_page(request, "throttled", target, status=429)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    required = c.settings.web.second_factor_role
    signed = await auth.sign_in(
        c.db,
        username,
        str(form.get("password", "")),
        c.settings.web.session_hours,
        code=str(form.get("code", "")),
        second_factor_role=Role(required) if required else None,
        known_device=bool(device),
    )
    if signed.result is not auth.SignInResult.OK or signed.principal is None:
        await c.throttle.failed(keys)
        action = "sign_in.locked_out" if signed.just_locked else f"sign_in.{signed.result.value}"
        await audit(c, f"anonymous@{address}", action, username, address=address)
        error = {
            auth.SignInResult.LOCKED: "locked",
            auth.SignInResult.WRONG_CODE: "bad_code",
            auth.SignInResult.NO_SECOND_FACTOR: "no_second_factor",
        }.get(signed.result, "bad_login")
        return login_page(request, error, target, status=401)
    await c.throttle.succeeded(keys[0])
    principal, token = signed.principal, signed.token
    await audit(c, principal, "sign_in", principal.name, address=address)
    response = web.HTTPSeeOther(target)
    response.del_cookie(LOGIN_COOKIE, path="/")
    response.set_cookie(
        auth.COOKIE,
        token,
        max_age=c.settings.web.session_hours * 3600,
        httponly=True,
        samesite="Strict",
        secure=secure(request),
        path="/",
    )
    if not device:
        response.set_cookie(
            devices.COOKIE,
            devices.issue(c.settings, principal.name),
            max_age=devices.DAYS * 86400,
            httponly=True,
            samesite="Strict",
            secure=secure(request),
            path="/login",
        )
    raise response


@routes.route("POST", "/logout", Role.AGENT)
async def logout(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    await auth.sign_out(c.db, request.cookies.get(auth.COOKIE, ""))
    await c.live.close_signed_out({who(request).credential})
    response = web.HTTPSeeOther("/login")
    response.del_cookie(auth.COOKIE, path="/")
    raise response


@routes.route("GET", "/wallboard", Role.SUPERVISOR)
async def wallboard(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    return page(
        "wallboard.html.j2",
        request,
        big=request.query.get("big") == "1",
        queues=c.settings.queues,
        sl=c.settings.web.service_level_seconds,
    )


@routes.route("GET", "/desk", Role.AGENT)
async def desk(request: web.Request) -> web.StreamResponse:
    return page(
        "desk.html.j2",
        request,
        statuses=[s.value for s in Status],
        topics=ctx(request).settings.request_topics,
    )


@routes.route("GET", "/cases", Role.SUPERVISOR)
async def cases(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    today = datetime.now(c.tz).date()
    found = await search_cases(request)
    principal = who(request)
    await audit(c, principal, "case.search", "", filters=search_filters(request), rows=len(found), on="page")
    return page(
        "cases.html.j2",
        request,
        cases=found,
        q=request.query,
        default_from=(today - timedelta(days=6)).isoformat(),
        default_to=today.isoformat(),
        tz=c.tz,
        query=request.query_string,
        caller=(lambda n: n) if sees_full_numbers(principal, c) else mask_number,
    )


@routes.route("GET", "/cases/{number}", Role.AGENT)
async def case(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    found = await load_case(c, request.match_info["number"], events=True)
    if not may_see(who(request), found, c):
        return refuse(request, 403, "not your case")
    await audit(c, who(request), "case.view", found.number, on="page")
    async with c.db() as session:
        callbacks = await queued_callbacks.of_call(session, found.linkedid)
    masked = not sees_full_numbers(who(request), c)
    return page(
        "case.html.j2",
        request,
        case=found,
        tz=c.tz,
        statuses=[s.value for s in Status],
        callbacks=[queued_callbacks.view(cb, masked) for cb in callbacks],
    )


@routes.route("GET", "/reports", Role.SUPERVISOR)
async def reports(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    today = datetime.now(c.tz).date().isoformat()
    return page(
        "reports.html.j2",
        request,
        first=request.query.get("from", today),
        last=request.query.get("to", today),
    )


@routes.route("GET", "/audit", Role.ADMIN)
async def audit_page(request: web.Request) -> web.StreamResponse:
    return page("audit.html.j2", request, tz=ctx(request).tz, q=request.query)


@routes.route("GET", "/dead-letters", Role.ADMIN)
async def dead_letters_page(request: web.Request) -> web.StreamResponse:
    """Calls the database refused to store: why, since when, and a way to write them once fixed."""
    c = ctx(request)
    async with c.db() as session:
        rows = list(await session.scalars(select(DeadLetter).order_by(DeadLetter.last_failed_at.desc())))
        # Messages to citizens that were given up on, with their request's number: the newest first.
        parked = (
            await session.execute(
                select(OutboxMessage, CitizenRequest.number)
                .outerjoin(CitizenRequest, CitizenRequest.id == OutboxMessage.request_id)
                .where(OutboxMessage.status == OutboxStatus.FAILED.value)
                .order_by(OutboxMessage.id.desc())
                .limit(PARKED_SHOWN)
            )
        ).all()
    return page(
        "dead_letters.html.j2",
        request,
        rows=rows,
        parked=parked,
        tz=c.tz,
        retried=request.query.get("retried"),
        resent=request.query.get("resent"),
    )


PARKED_SHOWN = 500


@routes.route("POST", "/dead-letters/messages", Role.ADMIN)
async def parked_messages_send_again(request: web.Request) -> web.StreamResponse:
    """Messages to citizens given up on, sent again (one, or all): once their cause is fixed."""
    c = ctx(request)
    form = await posted_form(request)
    raw = str(form.get("message", ""))
    one = int(raw) if raw.isdigit() and len(raw) < 12 else None
    count = await outbox.send_again(c.db, datetime.now(UTC), one)
    await audit(c, who(request), "send_messages_again", raw or "all", count=count)
    raise web.HTTPSeeOther(f"/dead-letters?resent={count}")


@routes.route("POST", "/dead-letters/retry", Role.ADMIN)
async def dead_letters_retry(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    count = await c.writer.retry_dead_letters()
    await audit(c, who(request), "retry_dead_letters", "", count=count)
    raise web.HTTPSeeOther(f"/dead-letters?retried={count}")


def _next(target: str) -> str:
    """Only a path on this site: a sign-in link must not send anyone elsewhere."""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target
