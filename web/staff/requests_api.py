"""Citizens' requests over the JSON API: the center opens them (from a call, under the number the IVR read
to the caller), links later calls to them and takes them through the workflow; an agency's users see and
act on their agency's requests only. Every step is in the request's history and in the audit log."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from casework import duplicates, steps
from casework import workflow as wf
from casework.steps import OPEN_STATUSES
from hotline import personal
from hotline.db.models import Case, CitizenRequest, RequestContact, RequestStatus, Role, open_only
from hotline.values import clean, mask_actor, number_forms
from web.audit import audit
from web.auth import Principal
from web.context import Context, ctx, who
from web.errors import bad, forbidden, json_object, not_found
from web.request_lookup import load_request
from web.routing import RouteTable
from web.staff.case_access import count_param

routes = RouteTable()
# What a request holds of the citizen's, and its bounds: text from a form or an agent is cut, never refused.
CONTACT_FIELDS = {
    "contact_phone": 32,
    "contact_name": 128,
    "contact_email": 254,
    "address": 255,
    "district": 128,
}
REQUEST_SCHEMA: dict[str, Any] = {"type": "object"}
# What an agency does not see of a citizen who asked to stay anonymous to it.
ANONYMOUS_FIELDS = ("contact_name", "contact_phone", "contact_email", "contact_chat")


def due_first(stmt: Select[tuple[CitizenRequest]]) -> Select[tuple[CitizenRequest]]:
    """What is due soonest first, so the overdue lead; then those with nothing due from an agency."""
    return stmt.order_by(CitizenRequest.due_at.asc().nulls_last(), CitizenRequest.id)


def actor(principal: Principal) -> wf.Actor:
    return wf.Actor(principal.name, principal.role, principal.agency)


def may_open(principal: Principal, request: CitizenRequest) -> bool:
    """The center sees every request; an agency's user those forwarded to their agency."""
    if principal.role is Role.AGENCY:
        return bool(principal.agency) and request.agency == principal.agency
    return True


# A request's columns as the API gives them (the view adds the labels, the place, what is due).
VIEWED = (
    "number",
    "status",
    "topic",
    "priority",
    "words",
    *CONTACT_FIELDS,
    "latitude",
    "longitude",
    "agency",
    "instructions",
    "answer",
    "remark",
    "reason",
    "created_at",
    "forwarded_at",
    "accept_due_at",
    "accepted_at",
    "answer_due_at",
    "answered_at",
    "closed_at",
    "extension_hours",
    "extension_reason",
    "extension_decision",
    "reopened",
    "rating",
    "rated_at",
    "public",
    "public_question",
    "public_answer",
    "outcome",
    "returned_by",
    "merged_into",
    "due_at",
    "channel",
)


def view(
    c: Context,
    request: CitizenRequest,
    principal: Principal,
    history: bool = False,
    names: Iterable[str] = VIEWED,
) -> dict[str, Any]:
    """`names`: the columns wanted (an export of tens of thousands of lines takes only its own)."""
    at = datetime.now(UTC)
    out: dict[str, Any] = {
        name: (value.isoformat() if isinstance(value, datetime) else value)
        for name in names
        for value in (getattr(request, name),)
    }
    out["due"] = wf.due_state(c.settings, request, at).value
    # What people read: the topic's and the agencies' names, not their codes.
    out["topic_label"] = c.settings.topic_label(request.topic)
    out["agency_label"] = c.settings.agency_label(request.agency) if request.agency else ""
    out["returned_by_label"] = c.settings.agency_label(request.returned_by) if request.returned_by else ""
    out |= place_view(c, request)
    hidden = principal.role is Role.AGENCY and request.anonymous
    if principal.role is Role.AGENCY:
        # An agency handles the matter, the center talks to the citizen: it sees who, not how to reach them;
        # and of a citizen who asked to stay anonymous to it, nothing.
        out = personal.masked(CitizenRequest, out)
        if hidden:
            out |= dict.fromkeys(ANONYMOUS_FIELDS, "")
    out["anonymous"] = request.anonymous
    if history:
        # An agency sees who acted as the contact masking shows them (the audit log keeps the whole).
        def shown(actor: str) -> str:
            if principal.role is not Role.AGENCY:
                return actor
            return "citizen" if hidden and actor.startswith("citizen") else mask_actor(actor)

        out["history"] = [
            {"at": e.at.isoformat(), "actor": shown(e.actor), "kind": e.kind, "detail": e.detail}
            for e in request.events
        ]
        # The calls behind it are the center's: an agency sees that there were calls, not which.
        out["contacts"] = [
            {"at": k.at.isoformat(), "channel": k.channel, "note": "" if hidden else k.note}
            | ({"case_id": k.case_id} if principal.role is not Role.AGENCY else {})
            for k in request.contacts
        ]
        # The recordings of its calls that the center shared with the agency.
        out["recordings"] = sorted(wf.shared_recordings(request))
        out["files"] = [
            {"id": f.id, "name": f.name, "purpose": f.purpose, "size": f.size, "content_type": f.content_type}
            for f in request.files
        ]
    return out


def place_view(c: Context, request: CitizenRequest) -> dict[str, Any]:
    """The ward it is in, by code and name, how it was found, and the pre-2025 name it was found by."""
    places = c.settings.places()
    ward = places.ward(request.ward_code)
    old = ""
    if request.ward_basis == "old_name" and ward is not None:
        found = places.find(request.district or "", request.address or "")
        old = f"{found.old.name}, {found.old.district}" if found and found.old else ""
    return {
        "ward_code": request.ward_code,
        "ward": places.label(request.ward_code),
        "ward_basis": request.ward_basis,
        "ward_position": [ward.latitude, ward.longitude] if ward else None,
        "old_place": old,
    }


async def duplicates_view(
    c: Context, session: AsyncSession, request: CitizenRequest, principal: Principal
) -> list[dict[str, Any]]:
    """The open requests this one may repeat, for the center while it has not forwarded it."""
    if principal.role is Role.AGENCY or request.status != RequestStatus.RECEIVED.value:
        return []
    return [
        {
            "number": d.request.number,
            "status": d.request.status,
            "topic": d.request.topic,
            "words": d.request.words[:300],
            "ward": c.settings.places().label(d.request.ward_code),
            "created_at": d.request.created_at.isoformat(),
            "alike": round(d.words, 2),
            "metres": None if d.metres is None else round(d.metres),
            "same_ward": d.same_ward,
        }
        for d in await duplicates.candidates(session, c.settings, request)
    ]


def suggestions_view(c: Context, words: str, ward: str) -> dict[str, Any]:
    """The topics and agencies a request's words suggest, with their names and the model's confidence;
    empty until the center has closed enough requests to learn from."""
    model = c.suggestions.current
    if model is None:
        return {"topics": [], "agencies": [], "learned_from": 0}
    guess = model.suggest(words, ward)
    topic, agency = c.settings.topic_label, c.settings.agency_label
    return {
        "topics": [{"name": g.name, "label": topic(g.name), "score": g.score} for g in guess.topics],
        "agencies": [{"name": g.name, "label": agency(g.name), "score": g.score} for g in guess.agencies],
        "learned_from": model.examples,
    }


@routes.route(
    "POST",
    "/api/v1/requests/suggest",
    Role.AGENT,
    "The topics and agencies a request's words (and ward) suggest, learned from the closed requests: "
    "for the operator to confirm",
    api=True,
    body={"type": "object", "required": ["words"]},
)
async def suggest_for(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    data = await json_object(request)
    words, ward = _text(data, "words", 4000), _text(data, "ward", 8)
    # Segmenting and scoring take about a millisecond: no need to leave the loop.
    return web.json_response(suggestions_view(c, words, ward))


def _text(data: dict[str, Any], name: str, limit: int = 20000) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise bad(f"{name} must be text")
    return clean(value, limit) if limit <= 512 else value[:limit].replace("\x00", "")


@routes.route(
    "POST",
    "/api/v1/requests",
    Role.AGENT,
    "Open a request: from a call (`case`: its case number, which the request takes) or typed in",
    api=True,
    body={"type": "object", "required": ["topic", "words"]},
    response=REQUEST_SCHEMA,
)
async def open_request(request: web.Request) -> web.StreamResponse:
    c, principal = ctx(request), who(request)
    data = await json_object(request)
    topic, words = _text(data, "topic", 64), _text(data, "words")
    if not topic or not words.strip():
        raise bad("give the topic and the citizen's words")
    contact: dict[str, Any] = {
        name: _text(data, name, limit) for name, limit in CONTACT_FIELDS.items() if name in data
    }
    for name, bound in (("latitude", 90.0), ("longitude", 180.0)):
        if data.get(name) is not None:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not -bound <= value <= bound:
                raise bad(f"{name} must be a number from -{bound:g} to {bound:g}")
            contact[name] = float(value)
    now = datetime.now(UTC)
    async with c.db() as session, session.begin():
        case = None
        if data.get("case"):
            case = await session.scalar(select(Case).where(Case.number == str(data["case"])))
            if case is None:
                raise not_found("no call with that case number")
            if (
                await session.scalar(select(RequestContact.id).where(RequestContact.case_id == case.id))
                is not None
            ):
                raise bad("this call already belongs to a request: link it, do not open another")
            contact.setdefault("contact_phone", case.caller)
        number = case.number if case is not None else await c.numbers.next_number(wait=5)
        if await session.scalar(select(CitizenRequest.id).where(CitizenRequest.number == number)):
            raise bad(f"request {number} exists already")
        try:
            opened = wf.open_request(
                number,
                actor(principal),
                now,
                topic=topic,
                words=words,
                priority=str(data.get("priority", "normal")),
                channel="call" if case is not None else "center",
                case_id=case.id if case is not None else None,
                places=c.settings.places(),
                ward=_text(data, "ward", 8),
                anonymous=data.get("anonymous") is True,
                **contact,
            )
        except wf.StepRefused as exc:
            raise bad(str(exc)) from None
        session.add(opened)
        await session.flush()
        body = view(c, opened, principal, history=True)
        body["duplicates"] = await duplicates_view(c, session, opened, principal)
    await audit(c, principal, "request.open", number, case=case.number if case is not None else "")
    return web.json_response(body, status=201)


@routes.route(
    "GET",
    "/api/v1/requests",
    Role.AGENCY,
    "Requests, overdue first then by due time (an agency's user: their agency's)",
    api=True,
    params=(
        (
            "status",
            "query",
            "received, forwarded, accepted, answered, closed, rejected; default: the open ones",
        ),
        ("agency", "query", "an agency's name (the center)"),
        ("phone", "query", "the citizen's phone number (the center)"),
        ("limit", "query", "at most this many (default 200)"),
    ),
    response={"type": "array", "items": REQUEST_SCHEMA},
)
async def list_requests(request: web.Request) -> web.StreamResponse:
    c, principal = ctx(request), who(request)
    q = request.query
    stmt = select(CitizenRequest)
    if q.get("status"):
        if q["status"] not in {s.value for s in RequestStatus}:
            raise bad(f"status must be one of {', '.join(s.value for s in RequestStatus)}")
        stmt = stmt.where(CitizenRequest.status == q["status"])
    else:
        stmt = stmt.where(open_only())
    if principal.role is Role.AGENCY:
        stmt = stmt.where(CitizenRequest.agency == principal.agency)
    else:
        if q.get("agency"):
            stmt = stmt.where(CitizenRequest.agency == q["agency"])
        if q.get("phone"):
            stmt = stmt.where(CitizenRequest.contact_phone == q["phone"])
    stmt = due_first(stmt)
    async with c.db() as session:
        found = list(await session.scalars(stmt.limit(count_param(request, "limit", 200, 5000))))
    views = [view(c, r, principal) for r in found]
    views.sort(key=lambda v: v["due"] != "overdue")  # overdue first, the rest by due time (stable)
    await audit(c, principal, "request.search", "", filters=dict(q), rows=len(views))
    return web.json_response(views)


@routes.route(
    "GET",
    "/api/v1/requests/{number}",
    Role.AGENCY,
    "One request with its history, contacts and files",
    api=True,
    params=(("number", "path", "request number"),),
    response=REQUEST_SCHEMA,
)
async def request_detail(request: web.Request) -> web.StreamResponse:
    c, principal = ctx(request), who(request)
    async with c.db() as session:
        found = await load_request(session, request.match_info["number"])
        if not may_open(principal, found):
            raise not_found("no such request")  # an agency does not learn what other agencies have
        body = view(c, found, principal, history=True)
        body["duplicates"] = await duplicates_view(c, session, found, principal)
    await audit(c, principal, "request.view", found.number)
    return web.json_response(body)


@routes.route(
    "POST",
    "/api/v1/requests/{number}/steps",
    Role.AGENCY,
    "Take a step: forward (agency, instructions), accept, return (reason), answer (text), approve "
    "(by_agent: a call back has an agent tell the answer), "
    "send_back (remark), reject (reason), reopen (why), extension (hours, reason), decide (grant), "
    "share (case: a call's recording, for the agency to hear), publish (question and answer: the public "
    "text, worded without personal data; refused when it holds a phone number, an e-mail address or the "
    "citizen's name or address), withdraw",
    api=True,
    params=(("number", "path", "request number"),),
    body={"type": "object", "properties": {"step": {"enum": list(steps.STAFF_STEPS)}}, "required": ["step"]},
    response=REQUEST_SCHEMA,
)
async def take_step(request: web.Request) -> web.StreamResponse:
    c, principal = ctx(request), who(request)
    data = await json_object(request)
    step = data.get("step")
    if step not in steps.STAFF_STEPS:
        raise bad(f"step must be one of {', '.join(steps.STAFF_STEPS)}")
    now, who_ = datetime.now(UTC), actor(principal)
    async with c.db() as session, session.begin():
        found = await load_request(session, request.match_info["number"])
        if not may_open(principal, found):
            raise not_found("no such request")
        try:
            event = await c.steps.take(str(step), steps.Taking(c.settings, session, found, who_, now, data))
        except steps.StepInputError as exc:
            raise bad(str(exc)) from None
        except wf.StepRefused as exc:
            raise forbidden(str(exc)) from None
        await session.flush()
        body = view(c, found, principal, history=True)
    await audit(c, principal, f"request.{event.kind}", found.number, **event.detail)
    return web.json_response(body)


@routes.route(
    "POST",
    "/api/v1/requests/{number}/calls",
    Role.AGENT,
    "Link a call (by its case number) to a request: a repeat caller about the same matter",
    api=True,
    params=(("number", "path", "request number"),),
    body={"type": "object", "required": ["case"]},
    response=REQUEST_SCHEMA,
)
async def link_call(request: web.Request) -> web.StreamResponse:
    c, principal = ctx(request), who(request)
    data = await json_object(request)
    async with c.db() as session, session.begin():
        found = await load_request(session, request.match_info["number"])
        case = await session.scalar(select(Case).where(Case.number == str(data.get("case", ""))))
        if case is None:
            raise not_found("no call with that case number")
        try:
            wf.link_call(found, actor(principal), datetime.now(UTC), case.id, case.number, case.started_at)
        except wf.StepRefused as exc:
            raise bad(str(exc)) from None
        await session.flush()
        body = view(c, found, principal, history=True)
    await audit(c, principal, "request.call_linked", found.number, case=case.number)
    return web.json_response(body)


async def open_requests_of(c: Context, phone: str) -> list[CitizenRequest]:
    """A caller's requests still open (for the agent's screen when their call is answered)."""
    async with c.db() as session:
        return list(
            await session.scalars(
                select(CitizenRequest)
                .where(
                    CitizenRequest.contact_phone.in_(number_forms(phone)),
                    CitizenRequest.status.in_([s.value for s in OPEN_STATUSES]),
                )
                .order_by(CitizenRequest.created_at.desc())
                .limit(20)
            )
        )
