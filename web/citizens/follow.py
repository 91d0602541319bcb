"""The citizen's side, without signing in: follow a request by its number and the whole phone number it
was given from (written any way: 0914..., +84914...), rate the answer, reopen it within the allowed days;
and the answers the center published, by topic. Nothing personal is shown: no name, number, address or
the citizen's own words.

The phone number is the secret: hundreds of millions of possible numbers, against which the request
numbers Open311 lists are no help (docs/security.md has the arithmetic). A wrong pair costs the request
number a growing delay after three (web/throttle.py) and the address one after twenty (a mobile carrier
puts many citizens behind one address), so numbers can neither be guessed nor browsed. A right pair gives a
short-lived cookie for that request alone, signed with a key the process draws at start: the forms on the
page carry its value too, so another site cannot post them."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from casework import steps
from casework import workflow as wf
from casework.citizen_status import citizen_status
from hotline.db.models import CitizenRequest, RequestStatus
from hotline.db.numbers import is_valid
from hotline.links import follow_path, link_code
from hotline.values import contact_key, same_secret
from web.audit import audit
from web.context import Context, ctx, language, render, secure
from web.errors import posted_form
from web.request_lookup import load_request
from web.routing import RouteTable
from web.ward_map import period

routes = RouteTable()
COOKIE = "hotline_follow"
FOLLOW_SECONDS = 30 * 60
ANSWERS_PAGE = 50
# Per process: a restart asks the citizen for the pair again, which costs nothing.
_KEY = secrets.token_bytes(32)


MOST_PHONE = 20  # characters of a phone number as a person types it


def same_phone(given: str, kept: str) -> bool:
    """The citizen's phone, compared in its national form; a request without one opens by its link only."""
    if not kept or not given or len(given) > MOST_PHONE:
        return False
    digits = re.sub(r"\D", "", kept)
    return len(digits) >= 6 and same_secret(contact_key(given, ""), contact_key(kept, ""))


def follow_token(number: str, until: int) -> str:
    mac = hmac.new(_KEY, f"{number}.{until}".encode(), hashlib.sha256).hexdigest()
    return f"{number}.{until}.{mac}"


def follow_link(c: Context, number: str) -> str:
    return follow_path(c.follow_key, number)


def token_number(token: str, now: float | None = None) -> str | None:
    """The request number a token opens, if it is ours and not expired."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    number, until = parts[0], int(parts[1])
    if not same_secret(token, follow_token(number, until)):
        return None
    return number if (now if now is not None else time.time()) < until else None


def _local(c: Context, at: datetime | None) -> str:
    return at.astimezone(c.tz).strftime("%d/%m/%Y %H:%M") if at else ""


def citizen_view(
    c: Context, r: CitizenRequest, now: datetime, language: str = "vi", joined: CitizenRequest | None = None
) -> dict[str, Any]:
    """What the citizen may read of their request: no contact data, not even their own words (a page
    that leaks them to whoever learns the pair would be worse than none). A request merged into another
    shows that one (`joined`): its number and where it stands."""
    status = RequestStatus(r.status)
    with_agency = status in (RequestStatus.FORWARDED, RequestStatus.ACCEPTED, RequestStatus.ANSWERED)
    agency = c.settings.agency_label(r.agency)
    told = citizen_status(c.settings, r)
    answered = status is RequestStatus.CLOSED or (status is RequestStatus.MERGED and bool(r.answer))
    return {
        "number": r.number,
        "status": status.value,
        "shown": told.shown.value,
        "sentence": told.sentence(language),
        "merged_into": r.merged_into,
        "joined": citizen_status(c.settings, joined).sentence(language) if joined is not None else "",
        "topic": c.settings.topic_label(r.topic),
        "agency": agency if with_agency or answered else "",
        "received": _local(c, r.created_at),
        "answer_due": _local(c, r.answer_due_at) if with_agency else "",
        "closed": _local(c, r.closed_at),
        "answer": r.answer if answered else "",
        "reason": r.reason if status is RequestStatus.REJECTED else "",
        "rating": r.rating,
        "may_rate": status is RequestStatus.CLOSED and bool(r.answer),
        "may_reopen": wf.may_reopen(c.settings, r, now, citizen=True),
        "reopen_days": c.settings.requests.reopen_days,
    }


@routes.route("GET", "/follow", None)
async def follow_form(request: web.Request) -> web.StreamResponse:
    return render("follow.html.j2", request, {"error": "", "r": None, "number": ""})


@routes.route("POST", "/follow", None)
async def follow_check(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    form = await posted_form(request)
    number = str(form.get("number", "")).strip()[:16]
    phone = str(form.get("phone", "")).strip()[: MOST_PHONE + 1]
    address = request.remote or ""
    wait = max(await c.follow_numbers.wait([number]), await c.follow_addresses.wait([address]))
    if wait > 0:
        response = render(
            "follow.html.j2", request, {"error": "follow_throttled", "r": None, "number": number}, status=429
        )
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    found = None
    if is_valid(number) and phone:
        async with c.db() as session:
            found = await session.scalar(select(CitizenRequest).where(CitizenRequest.number == number))
    if found is None or found.erased_at is not None or not same_phone(phone, found.contact_phone):
        # A number that is no request's costs the address only: junk cannot crowd out real numbers' delays.
        if is_valid(number):
            await c.follow_numbers.failed([number])
        await c.follow_addresses.failed([address])
        await audit(c, f"citizen@{address}", "follow.refused", number, address=address)
        return render(
            "follow.html.j2", request, {"error": "follow_not_found", "r": None, "number": number}, status=404
        )
    await c.follow_numbers.succeeded(number)
    await audit(c, f"citizen@{address}", "follow.view", number, address=address)
    raise _opening(request, number)


def _opening(request: web.Request, number: str) -> web.HTTPSeeOther:
    """To the request's page, with the cookie that opens it for a while."""
    response = web.HTTPSeeOther(f"/follow/{number}")
    response.set_cookie(
        COOKIE,
        follow_token(number, int(time.time()) + FOLLOW_SECONDS),
        max_age=FOLLOW_SECONDS,
        httponly=True,
        samesite="Lax",  # the link arrives from a mail or a message: a cross-site first visit
        secure=secure(request),
        path="/follow",
    )
    return response


@routes.route("GET", "/follow/{number}/k/{code}", None)
async def follow_by_link(request: web.Request) -> web.StreamResponse:
    c, number = ctx(request), request.match_info["number"]
    if not same_secret(request.match_info["code"], link_code(c.follow_key, number)):
        return render(
            "follow.html.j2", request, {"error": "follow_not_found", "r": None, "number": ""}, status=404
        )
    async with c.db() as session:
        found = await session.scalar(select(CitizenRequest).where(CitizenRequest.number == number))
    if found is None or found.erased_at is not None:  # deleted or erased: its link opens nothing
        return render(
            "follow.html.j2", request, {"error": "follow_not_found", "r": None, "number": ""}, status=404
        )
    if not wf.link_opens(c.settings, found, datetime.now(UTC)):
        return render(
            "follow.html.j2",
            request,
            {"error": "follow_link_expired", "r": None, "number": number},
            status=410,
        )
    await audit(c, f"citizen@{request.remote or ''}", "follow.view", number, by="link")
    raise _opening(request, number)


def _opened(request: web.Request) -> str:
    """The request number this browser proved it may follow, or a redirect to the form."""
    number = request.match_info["number"]
    if token_number(request.cookies.get(COOKIE, "")) != number:
        raise web.HTTPSeeOther("/follow")
    return number


@routes.route("GET", "/follow/{number}", None)
async def follow_page(request: web.Request) -> web.StreamResponse:
    c, number = ctx(request), _opened(request)
    async with c.db() as session:
        found = await session.scalar(select(CitizenRequest).where(CitizenRequest.number == number))
        joined = (
            await session.scalar(select(CitizenRequest).where(CitizenRequest.number == found.merged_into))
            if found is not None and found.merged_into
            else None
        )
    if found is None or found.erased_at is not None:  # deleted or erased since
        raise web.HTTPSeeOther("/follow")
    values = {
        "r": citizen_view(c, found, datetime.now(UTC), language(request), joined),
        "token": request.cookies.get(COOKIE, ""),
        # Only the follow page's own messages (a code of ours): never text from the address.
        "error": error if (error := request.query.get("error", "")) in FOLLOW_ERRORS else "",
        "done": done if (done := request.query.get("done", "")) in ("rate", "reopen") else "",
        "number": number,
    }
    return render("follow.html.j2", request, values)


FOLLOW_ERRORS = frozenset({"follow_expired", "follow_rate_refused", "follow_reopen_refused"})


async def _citizen_step(request: web.Request, step: str) -> web.StreamResponse:
    c, number = ctx(request), _opened(request)
    form = await posted_form(request)
    if not same_secret(str(form.get("token", "")), request.cookies.get(COOKIE, "")):
        raise web.HTTPSeeOther(f"/follow/{number}?error=follow_expired")
    citizen = wf.Actor(f"citizen@{request.remote or ''}", None)
    now = datetime.now(UTC)
    async with c.db() as session, session.begin():
        found = await load_request(session, number)
        if found.erased_at is not None:
            raise web.HTTPSeeOther("/follow")
        inputs = {k: v for k, v in form.items() if isinstance(v, str) and k in ("stars", "why")}
        try:
            event = await c.steps.take(
                "rate" if step == "rate" else "reopen",
                steps.Taking(c.settings, session, found, citizen, now, inputs),
            )
        except (wf.StepRefused, steps.StepInputError):
            raise web.HTTPSeeOther(f"/follow/{number}?error=follow_{step}_refused") from None
    await audit(c, citizen.name, f"request.{event.kind}", number, **event.detail)
    raise web.HTTPSeeOther(f"/follow/{number}?done={step}")


@routes.route("POST", "/follow/{number}/rating", None)
async def rate(request: web.Request) -> web.StreamResponse:
    return await _citizen_step(request, "rate")


@routes.route("POST", "/follow/{number}/reopen", None)
async def reopen(request: web.Request) -> web.StreamResponse:
    return await _citizen_step(request, "reopen")


@routes.route("GET", "/answers", None)
async def public_answers(request: web.Request) -> web.StreamResponse:
    """The answers the center published, newest first, by topic."""
    c = ctx(request)
    first, last, _, _ = period(request, c, asked=False)  # the public map's one period
    topic = request.query.get("topic", "")[:64]
    page = int(p) if (p := request.query.get("page", "1")).isdigit() and 0 < int(p) < 10_000 else 1
    stmt = select(CitizenRequest).where(
        CitizenRequest.public.is_(True), CitizenRequest.status == RequestStatus.CLOSED.value
    )
    if topic:
        stmt = stmt.where((CitizenRequest.topic == topic) | CitizenRequest.topic.startswith(f"{topic}."))
    async with c.db() as session:
        total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        found = list(
            await session.scalars(
                stmt.order_by(CitizenRequest.closed_at.desc(), CitizenRequest.id.desc())
                .offset((page - 1) * ANSWERS_PAGE)
                .limit(ANSWERS_PAGE)
            )
        )
    answers = [
        {
            "number": r.number,
            "topic": c.settings.topic_label(r.topic),
            "question": r.public_question,
            "answer": r.public_answer,
            "agency": c.settings.agency_label(r.agency),
            "closed": _local(c, r.closed_at)[:10],
        }
        for r in found
    ]
    return render(
        "answers.html.j2",
        request,
        {
            "answers": answers,
            "topics": c.settings.request_topics,
            "topic": topic,
            "page": page,
            "pages": max(1, math.ceil(total / ANSWERS_PAGE)),
            # The map of the last 30 days' requests by ward (web/ward_map.py).
            "source": "/answers/map.json",
            "first": first.isoformat(),
            "last": last.isoformat(),
        },
    )
