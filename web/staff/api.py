"""The JSON API: the live board, cases, reports, agent and supervisor actions. Browsers call it with their
session cookie and CSRF token; integrations with a bearer token (`hotline token add`)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import select

from ami_bridge import actions
from ami_bridge import agents as agent_actions
from hotline import cases as case_view
from hotline import queued_callbacks
from hotline.asterisk.naming import endpoint
from hotline.db.models import AuditEntry, Case, CitizenRequest, Role, Status
from hotline.errors import AMIActionRefused, AMIError, HotlineError
from web.audit import audit
from web.context import ctx, own_origin, who
from web.errors import answer, bad, forbidden, json_object, not_found
from web.routing import RouteTable
from web.staff import recordings, requests_api
from web.staff.case_access import (
    SEARCH_PARAMS,
    count_param,
    day_param,
    load_case,
    may_see,
    search_cases,
    search_filters,
    sees_full_numbers,
)
from web.stats import report

routes = RouteTable()
SPY_OPTIONS = {"listen": "qE", "whisper": "qwE", "barge": "qBE"}


# -- live board -----------------------------------------------------------------------------------
@routes.route(
    "GET",
    "/api/v1/board",
    Role.SUPERVISOR,
    "Live queues (waiting callers, longest wait, members), agents (state, time in state, call) and "
    "today's counters per queue",
    api=True,
    response={"type": "object"},
)
async def board(request: web.Request) -> web.StreamResponse:
    return web.json_response(ctx(request).live.payload())


@routes.route(
    "GET", "/ws/live", Role.AGENT, "Live board pushed over WebSocket (an agent gets their own slice)"
)
async def live_socket(request: web.Request) -> web.StreamResponse:
    principal = who(request)
    # A page on another site may open a WebSocket here with the user's cookie (no CORS for WebSockets):
    # a browser session's socket must come from one of our own pages.
    if principal.csrf and request.headers.get("Origin") != own_origin(request):
        raise forbidden("this live board opens only from the hotline's own pages")
    return await ctx(request).live.serve(request, principal)


# -- cases ------------------------------------------------------------------------------------------
@routes.route(
    "GET",
    "/api/v1/cases",
    Role.SUPERVISOR,
    "Search cases",
    api=True,
    params=SEARCH_PARAMS,
    response={"type": "array", "items": case_view.SCHEMA},
)
async def cases(request: web.Request) -> web.StreamResponse:
    c, principal = ctx(request), who(request)
    found = await search_cases(request)
    await audit(c, principal, "case.search", "", filters=search_filters(request), rows=len(found))
    masked = not sees_full_numbers(principal, c)
    return web.json_response([case_view.view(case, masked) for case in found])


@routes.route(
    "GET", "/api/v1/cases.csv", Role.SUPERVISOR, "Search cases, as CSV", api=True, params=SEARCH_PARAMS
)
async def cases_csv(request: web.Request) -> web.StreamResponse:
    return web.Response(
        text=await _export(request),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="cases.csv"'},
    )


async def _export(request: web.Request) -> str:
    c, principal = ctx(request), who(request)
    found = await search_cases(request)
    await audit(c, principal, "case.export", "", filters=search_filters(request), rows=len(found))
    return case_view.to_csv(found, masked=not sees_full_numbers(principal, c))


@routes.route(
    "GET",
    "/api/v1/cases/{number}",
    Role.AGENT,
    "One case with its timeline (an agent: only cases they answered or are on)",
    api=True,
    params=(("number", "path", "case number"),),
    response=case_view.SCHEMA,
)
async def case_detail(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    case = await load_case(c, request.match_info["number"], events=True)
    if not may_see(who(request), case, c):
        raise forbidden("not your case")
    await audit(c, who(request), "case.view", case.number)
    async with c.db() as session:
        callbacks = await queued_callbacks.of_call(session, case.linkedid)
    masked = not sees_full_numbers(who(request), c)
    return web.json_response(
        case_view.view(case)
        | {
            "timeline": case_view.timeline(case),
            "callbacks": [queued_callbacks.view(cb, masked) for cb in callbacks],
        }
    )


CASE_UPDATE_FIELDS = ("category", "notes", "status", "follow_up")
CASE_UPDATE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "category": {"type": "string", "maxLength": 64},
        "notes": {"type": "string", "maxLength": 20000},
        "status": {"enum": [s.value for s in Status]},
        "follow_up": {"type": ["string", "null"], "format": "date"},
    },
    "additionalProperties": False,
}


@routes.route(
    "POST",
    "/api/v1/cases/{number}",
    Role.AGENT,
    "Set a case's category, notes, status and follow-up date",
    api=True,
    params=(("number", "path", "case number"),),
    body=CASE_UPDATE,
    response=case_view.SCHEMA,
)
async def case_update(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    principal = who(request)
    number = request.match_info["number"]
    try:
        data = await request.json()
    except ValueError:
        raise bad("the body must be JSON") from None
    if not isinstance(data, dict) or set(data) - set(CASE_UPDATE_FIELDS):
        raise bad(f"give only {', '.join(CASE_UPDATE_FIELDS)}")
    changes: dict[str, Any] = {}
    if "category" in data:
        changes["category"] = str(data["category"])[:64]
    if "notes" in data:
        changes["notes"] = str(data["notes"])[:20000]
    if "status" in data:
        if data["status"] not in {s.value for s in Status}:
            raise bad(f"status must be one of {', '.join(s.value for s in Status)}")
        changes["status"] = data["status"]
    if "follow_up" in data:
        try:
            day = date.fromisoformat(data["follow_up"]) if data["follow_up"] else None
        except (TypeError, ValueError):
            raise bad("follow_up must be YYYY-MM-DD or null") from None
        changes["follow_up"] = datetime.combine(day, datetime.min.time(), c.tz) if day else None
    async with c.db() as session, session.begin():
        case = await session.scalar(select(Case).where(Case.number == number))
        if case is None:
            raise not_found("no such case")
        if not may_see(principal, case, c):
            raise forbidden("not your case")
        for name, value in changes.items():
            setattr(case, name, value)
        view = case_view.view(case)
    await audit(c, principal, "case.update", number, fields=sorted(changes))
    return web.json_response(view)


@routes.route(
    "GET",
    "/api/v1/cases/{number}/recording",
    Role.SUPERVISOR,
    "The case's recording (WAV); every playback is written to the audit log",
    api=True,
    params=(("number", "path", "case number"),),
)
async def recording(request: web.Request) -> web.StreamResponse:
    number = request.match_info["number"]
    case = await load_case(ctx(request), number)
    return await recordings.play(request, number, case.recording, "this case has no recording")


# -- agents ---------------------------------------------------------------------------------------
AGENT_ACTION = {
    "type": "object",
    "properties": {"action": {"enum": ["login", "logout", "pause", "unpause"]}, "reason": {"type": "string"}},
    "required": ["action"],
}


@routes.route(
    "POST",
    "/api/v1/agents/{extension}/state",
    Role.AGENT,
    "Log an agent in or out of their queues, pause (with a reason) or unpause; an agent only themselves",
    api=True,
    params=(("extension", "path", "agent extension"),),
    body=AGENT_ACTION,
)
async def agent_state(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    principal = who(request)
    extension = request.match_info["extension"]
    if not principal.can_supervise and principal.extension != extension:
        raise forbidden("agents change only their own state")
    data = await json_object(request)
    action = data.get("action")
    reason = str(data.get("reason", "") or "")[:64]
    try:
        if action == "login":
            await agent_actions.login(c.ami, c.settings, extension)
        elif action == "logout":
            await agent_actions.logout(c.ami, c.settings, extension)
        elif action in ("pause", "unpause"):
            await agent_actions.pause(c.ami, c.settings, extension, action == "pause", reason)
        else:
            raise bad("action must be login, logout, pause or unpause")
    except HotlineError as exc:
        return answer(409 if isinstance(exc, AMIError) else 400, str(exc))
    if principal.extension != extension:
        await audit(c, principal, f"agent.{action}", extension, reason=reason)
    return web.json_response({"ok": True, "extension": extension, "action": action})


SPY_BODY = {"type": "object", "properties": {"mode": {"enum": list(SPY_OPTIONS)}}, "required": ["mode"]}


@routes.route(
    "POST",
    "/api/v1/agents/{extension}/spy",
    Role.SUPERVISOR,
    "Listen to, whisper to or barge into the agent's call: the supervisor's own SIP phone rings, answering "
    "starts ChanSpy",
    api=True,
    params=(("extension", "path", "agent extension"),),
    body=SPY_BODY,
)
async def spy(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    principal = who(request)
    extension = request.match_info["extension"]
    mode = (await json_object(request)).get("mode")
    if mode not in SPY_OPTIONS:
        raise bad(f"mode must be one of {', '.join(SPY_OPTIONS)}")
    if not principal.extension:
        raise bad("your user has no phone extension to ring; set one with 'hotline user add --extension'")
    if extension not in {a.extension for a in c.settings.agents}:
        raise not_found("no such agent")
    try:
        await actions.originate(
            c.ami,
            Channel=f"PJSIP/{endpoint(principal.extension)}",
            Application="ChanSpy",
            Data=f"PJSIP/{endpoint(extension)}-,{SPY_OPTIONS[mode]}",
            CallerID=f'"{mode} {extension}" <{extension}>',
            Timeout=30000,
        )
    except AMIActionRefused as exc:
        return answer(409, f"Asterisk refused: {exc}")
    await audit(c, principal, f"spy.{mode}", extension, phone=principal.extension)
    return web.json_response({"ok": True, "mode": mode, "extension": extension, "phone": principal.extension})


# -- desk, reports, audit ---------------------------------------------------------------------------
@routes.route(
    "GET",
    "/api/v1/desk",
    Role.AGENT,
    "The signed-in agent's state, current call, its case and the caller's earlier cases",
    api=True,
    response={"type": "object"},
)
async def desk(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    principal = who(request)
    snap = c.live.payload()
    me = next((a for a in snap["agents"] if a["extension"] == principal.extension), None)
    call = me["call"] if me else None
    current = None
    earlier: list[dict[str, Any]] = []
    if call:
        async with c.db() as session:
            found = await session.scalar(select(Case).where(Case.linkedid == call["linkedid"]))
            current = case_view.view(found) if found else None
            # A withheld, unknown or switchboard number is many people: it has no history of its own.
            history: list[Case] = []
            if case_view.callback_number(str(call["caller"])):
                history = list(
                    await session.scalars(
                        select(Case)
                        .where(Case.caller == call["caller"], Case.linkedid != call["linkedid"])
                        .order_by(Case.started_at.desc())
                        .limit(20)
                    )
                )
            masked = not sees_full_numbers(principal, c)
            earlier = [
                case_view.view(h, masked) if may_see(principal, h, c) else case_view.summary(h)
                for h in history
            ]
        if found is not None:
            await audit(c, principal, "case.view", found.number, on="desk", earlier=len(earlier))
    # The caller's requests still open: the agent links this call to one of them or opens a new one.
    requests = []
    if call and case_view.callback_number(str(call["caller"])):
        mine = await requests_api.open_requests_of(c, str(call["caller"]))
        requests = [requests_api.view(c, r, principal) for r in mine]
    # A call back handed to this agent is about one request (closed, with its answer): it comes first.
    if call and call.get("request"):
        async with c.db() as session:
            about = await session.scalar(
                select(CitizenRequest).where(CitizenRequest.number == str(call["request"]))
            )
        if about is not None:
            requests = [requests_api.view(c, about, principal)] + [
                r for r in requests if r["number"] != about.number
            ]
    return web.json_response(
        {"me": me, "call": call, "case": current, "earlier": earlier or [], "requests": requests}
    )


@routes.route(
    "GET",
    "/api/v1/reports",
    Role.SUPERVISOR,
    "Offered, answered and abandoned per hour, topic and agent; service level; average wait and handle",
    api=True,
    params=(
        ("from", "query", "first day YYYY-MM-DD (default today)"),
        ("to", "query", "last day (default from)"),
    ),
    response={"type": "object"},
)
async def reports(request: web.Request) -> web.StreamResponse:
    return web.json_response(await requested_report(request))


async def requested_report(request: web.Request) -> dict[str, Any]:
    c = ctx(request)
    first = day_param(request, "from", datetime.now(c.tz).date())
    last = day_param(request, "to", first)
    if last < first or (last - first).days > 366:
        raise bad("'to' must be on or after 'from', at most a year later")
    return await report(c.db, first, last, c.tz, c.settings.web.service_level_seconds)


@routes.route(
    "GET",
    "/api/v1/reports.csv",
    Role.SUPERVISOR,
    "The report's per-hour, per-topic and per-agent tables as one CSV",
    api=True,
    params=(("from", "query", "first day YYYY-MM-DD"), ("to", "query", "last day")),
)
async def reports_csv(request: web.Request) -> web.StreamResponse:
    data = await requested_report(request)
    first, last = data["from"], data["to"]
    fields = [
        "table",
        "key",
        "offered",
        "answered",
        "abandoned",
        "service_level",
        "average_answer",
        "average_handle",
        "ratings",
        "average_rating",
    ]
    rows = [
        {**row, "table": table, "key": row[key]}
        for table, key in (("per_hour", "hour"), ("per_topic", "topic"), ("per_agent", "agent"))
        for row in data[table]
    ]
    return web.Response(
        text=case_view.csv_text(fields, rows),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="report-{first}-{last}.csv"'},
    )


AUDIT_PARAMS = (
    ("from", "query", "first day YYYY-MM-DD (site time; default 30 days ago)"),
    ("to", "query", "last day (default today)"),
    ("actor", "query", "who: a user name, token:<name>, cli:<account> or anonymous@<address>"),
    ("action", "query", "what, or its first part (sign_in matches sign_in.wrong)"),
    ("target", "query", "a case number, user name or agent extension"),
    ("limit", "query", "at most this many, newest first (default 200)"),
)


async def search_audit(request: web.Request) -> list[dict[str, Any]]:
    c = ctx(request)
    today = datetime.now(c.tz).date()
    first = day_param(request, "from", today - timedelta(days=30))
    last = day_param(request, "to", today)
    stmt = select(AuditEntry).where(
        AuditEntry.at >= case_view.day_bounds(first, c.tz)[0],
        AuditEntry.at < case_view.day_bounds(last, c.tz)[1],
    )
    q = request.query
    if q.get("actor"):
        stmt = stmt.where(AuditEntry.actor == q["actor"])
    if q.get("action"):
        stmt = stmt.where(AuditEntry.action.startswith(q["action"]))
    if q.get("target"):
        stmt = stmt.where(AuditEntry.target == q["target"])
    stmt = stmt.order_by(AuditEntry.id.desc()).limit(count_param(request, "limit", 200, 50000))
    async with c.db() as session:
        return [
            {
                "at": r.at.isoformat(),
                "actor": r.actor,
                "action": r.action,
                "target": r.target,
                "detail": r.detail,
            }
            for r in await session.scalars(stmt)
        ]


@routes.route(
    "GET",
    "/api/v1/audit",
    Role.ADMIN,
    "The audit log, newest first, filtered",
    api=True,
    params=AUDIT_PARAMS,
    response={"type": "array"},
)
async def audit_log(request: web.Request) -> web.StreamResponse:
    return web.json_response(await search_audit(request))


@routes.route(
    "GET", "/api/v1/audit.csv", Role.ADMIN, "The audit log, filtered, as CSV", api=True, params=AUDIT_PARAMS
)
async def audit_csv(request: web.Request) -> web.StreamResponse:
    rows = await search_audit(request)
    given = {name: request.query[name] for name, _, _ in AUDIT_PARAMS if name in request.query}
    await audit(ctx(request), who(request), "audit.export", "", filters=given, rows=len(rows))
    text = case_view.csv_text(
        ("at", "actor", "action", "target", "detail"),
        ({**r, "detail": json.dumps(r["detail"], ensure_ascii=False)} for r in rows),
    )
    return web.Response(
        text=text,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )
