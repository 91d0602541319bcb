"""Requests in the browser: the list (overdue first) and a request's page, with a form for each step the
reader may take. The same pages serve the center and the agencies' portal: an agency's user sees only
their agency's requests. Forms post here and come back to the page (no script needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from casework import attachments, file_worker, steps
from casework import workflow as wf
from hotline.cases import csv_text
from hotline.db.models import Case, CitizenRequest, RequestFile, Role
from hotline.retention import under
from web import times
from web.audit import audit, playback
from web.auth import Principal
from web.context import Context, ctx, render, who
from web.errors import posted_form, refuse
from web.page_messages import carried, shown
from web.request_lookup import load_request
from web.routing import RouteTable
from web.staff import request_search
from web.staff.requests_api import actor, duplicates_view, may_open, suggestions_view, view

routes = RouteTable()
# The steps a request's page has a form for (sharing a call's recording has its own list of calls, and
# merging one per possible duplicate).
PAGE_STEPS = tuple(n for n in steps.STAFF_STEPS if n not in ("share", "merge"))
# The step a reader most likely came to take, shown open; the others are a click away.
PRIMARY = ("accept", "answer", "approve", "forward", "decide", "reopen")


def files_path(c: Context) -> Path:
    return c.settings.request_files_path


@routes.route("GET", "/requests", Role.AGENCY)
async def request_list(request: web.Request) -> web.StreamResponse:
    """The list the center lives in (and an agency's portal): searched, filtered, sorted, a page at a time."""
    c, principal = ctx(request), who(request)
    search = request_search.parse(request, principal)
    now = datetime.now(UTC)
    stmt = request_search.statement(c, search, now)
    async with c.db() as session:
        await request_search.plan_for_the_words(session, search)
        total = await session.scalar(request_search.counted(stmt)) or 0
        found = list(
            await session.scalars(
                stmt.offset((search.page - 1) * request_search.PAGE).limit(request_search.PAGE)
            )
        )
    rows = [row_view(c, r, principal) for r in found]
    await audit(c, principal, "request.search", "", on="page", rows=len(rows), filters=search.query())
    places = c.settings.places()
    return render(
        "requests.html.j2",
        request,
        {
            "rows": rows,
            "s": search,
            "total": total,
            "pages": max(1, -(-total // request_search.PAGE)),
            "more": total > request_search.MOST_COUNTED,
            "statuses": request_search.STATUSES,
            "channels": request_search.CHANNELS,
            "topics": c.settings.request_topics,
            "agencies": c.settings.agencies,
            "ward_label": places.label(search.ward) if search.ward else "",
        },
    )


def suggested_agencies(c: Context, found: CitizenRequest, learned: dict[str, Any]) -> list[str]:
    """Preselected on forwarding: the agencies of its ward and topic by the settings, else the one the
    closed requests suggest (the operator still chooses and confirms)."""
    by_rule = c.settings.suggested_agencies(found.topic, found.ward_code)
    by_words = [a["name"] for a in learned.get("agencies", [])][:1]
    return by_rule or by_words


def row_view(c: Context, r: CitizenRequest, principal: Principal) -> dict[str, Any]:
    """A request as a line of the list: what it is, where, from whom (masked for an agency), its words
    begun, and what is due."""
    out = view(c, r, principal)
    out["preview"] = preview(r.words)
    return out


def preview(words: str) -> str:
    """The start of the citizen's words, on one line."""
    said = " ".join(words[:400].split())
    return said[:160] + ("…" if len(said) > 160 or len(words) > 400 else "")


@routes.route(
    "GET",
    "/requests.csv",
    Role.AGENCY,
    "The requests a search finds, as CSV (the list's filters; an agency's user: their agency's)",
)
async def request_export(request: web.Request) -> web.StreamResponse:
    """Sent in parts as the rows are read, so a month of a province (tens of thousands of lines) never
    sits whole in memory; the audit says how many lines went out, even when the reader stopped early."""
    c, principal = ctx(request), who(request)
    search = request_search.parse(request, principal)
    stmt = request_search.statement(c, search, datetime.now(UTC)).limit(request_search.MOST_EXPORTED)
    reply = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="requests.csv"',
        }
    )
    sent = 0
    try:
        async with c.db() as session:
            await request_search.plan_for_the_words(session, search)
            found = await session.stream_scalars(stmt.execution_options(yield_per=EXPORT_PART))
            async for part in found.partitions(EXPORT_PART):
                text = csv_text(EXPORTED, [export_row(c, r, principal) for r in part], header=not sent)
                if not reply.prepared:
                    await reply.prepare(request)
                await reply.write(text.encode())
                sent += len(part)
        if not reply.prepared:  # nothing found: the header alone
            await reply.prepare(request)
            await reply.write(csv_text(EXPORTED, []).encode())
    finally:
        await audit(c, principal, "request.export", "", rows=sent, filters=search.query())
    await reply.write_eof()
    return reply


def export_row(c: Context, r: CitizenRequest, principal: Principal) -> dict[str, Any]:
    row = view(c, r, principal, names=EXPORTED_COLUMNS)
    row["preview"] = preview(r.words)
    for name in EXPORTED_TIMES:
        row[name] = times.shown(row.get(name), c.tz, "vi")
    return row


EXPORTED = (
    "number",
    "created_at",
    "channel",
    "topic_label",
    "priority",
    "status",
    "agency_label",
    "ward",
    "district",
    "address",
    "contact_name",
    "contact_phone",
    "contact_email",
    "due",
    "accept_due_at",
    "answer_due_at",
    "closed_at",
    "preview",
)
EXPORT_PART = 1000  # rows read, turned into CSV and sent at a time
EXPORTED_TIMES = ("created_at", "accept_due_at", "answer_due_at", "closed_at")
# The request's own columns the lines are made of (the labels, the ward, what is due and the preview are
# made from the request).
EXPORTED_COLUMNS = (
    "number",
    "channel",
    "priority",
    "status",
    "district",
    "address",
    "contact_name",
    "contact_phone",
    "contact_email",
    *EXPORTED_TIMES,
)


@routes.route("GET", "/requests/{number}", Role.AGENCY)
async def request_page(request: web.Request) -> web.StreamResponse:
    c, principal = ctx(request), who(request)
    async with c.db() as session:
        found = await load_request(session, request.match_info["number"])
        if not may_open(principal, found):
            return refuse(request, 404, "no such request")
        body = view(c, found, principal, history=True)
        body["duplicates"] = await duplicates_view(c, session, found, principal)
        ids = [k.case_id for k in found.contacts if k.case_id]
        # The calls behind it are the center's: an agency sees that there were calls, not which.
        calls = (
            list(await session.scalars(select(Case).where(Case.id.in_(ids)).order_by(Case.started_at)))
            if ids and principal.role is not Role.AGENCY
            else []
        )
        recorded = [k.number for k in calls if k.recording] if principal.can_supervise else []
    await audit(c, principal, "request.view", found.number, on="page")
    offered = c.steps.offered(found, actor(principal), PAGE_STEPS)
    learned = suggestions_view(c, found.words, found.ward_code) if "forward" in offered else {}
    return render(
        "request.html.j2",
        request,
        {
            "r": body,
            "tz": c.tz,
            "steps": offered,
            "agencies": c.settings.agencies,
            "suggested": suggested_agencies(c, found, learned),
            "learned": learned,
            "error": shown(c.settings, request.query),
            "shareable": [n for n in recorded if n not in body["recordings"]],
            "may_merge": "merge" in c.steps.offered(found, actor(principal), ("merge",)),
            "primary": next((s for s in PRIMARY if s in offered), ""),
            "calls": [
                {"number": k.number, "at": k.started_at, "agent": k.agent_name, "recorded": k.recording}
                for k in calls
            ],
        },
    )


@routes.route("POST", "/requests/{number}/steps", Role.AGENCY)
async def request_step(request: web.Request) -> web.StreamResponse:
    c, principal = ctx(request), who(request)
    number = request.match_info["number"]
    form = await posted_form(request)
    step = str(form.get("step", ""))
    if step not in steps.STAFF_STEPS:
        return refuse(request, 400, f"step must be one of {', '.join(steps.STAFF_STEPS)}")
    data: dict[str, object] = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    upload = form.get("file")
    now = datetime.now(UTC)
    async with c.db() as session, session.begin():
        found = await load_request(session, number)
        if not may_open(principal, found):
            return refuse(request, 404, "no such request")
        try:
            event = await c.steps.take(
                step, steps.Taking(c.settings, session, found, actor(principal), now, data)
            )
        except (wf.StepRefused, steps.StepInputError) as exc:
            raise web.HTTPSeeOther(f"/requests/{number}?{carried(c.settings, str(exc))}") from None
        if isinstance(upload, web.FileField) and upload.filename:
            purpose = "answer" if principal.role is Role.AGENCY else "citizen"
            stored = await _store(c, upload, purpose, principal.name)
            if isinstance(stored, str):
                raise web.HTTPSeeOther(f"/requests/{number}?{carried(c.settings, stored)}")
            stored.at = now
            found.files.append(stored)
    await audit(c, principal, f"request.{event.kind}", number, **event.detail)
    raise web.HTTPSeeOther(f"/requests/{number}")


@routes.route("GET", "/requests/{number}/recordings/{case}", Role.AGENCY)
async def shared_recording(request: web.Request) -> web.StreamResponse:
    """A call's recording, for the agency the center shared it with (and for supervisors)."""
    c, principal = ctx(request), who(request)
    case_number = request.match_info["case"]
    async with c.db() as session:
        found = await load_request(session, request.match_info["number"])
        shared = case_number in wf.shared_recordings(found)
        allowed = may_open(principal, found) and (shared or principal.can_supervise)
        case = await session.scalar(select(Case).where(Case.number == case_number))
        linked = case is not None and any(k.case_id == case.id for k in found.contacts)
    if not allowed or not linked or case is None or not case.recording:
        return refuse(request, 404, "no such recording")
    path = Path(case.recording)
    if not _playable(c.settings.recordings_path, path):
        return refuse(request, 404, "the recording is gone (deleted by the retention)")
    await playback(c, principal, case_number, request.headers.get("Range", ""))
    return web.FileResponse(path, headers={"Content-Type": "audio/wav", "Cache-Control": "no-store"})


@routes.route("GET", "/requests/{number}/files/{id}", Role.AGENCY)
async def request_file(request: web.Request) -> web.StreamResponse:
    c, principal = ctx(request), who(request)
    async with c.db() as session:
        found = await load_request(session, request.match_info["number"])
        file = next((f for f in found.files if str(f.id) == request.match_info["id"]), None)
        if not may_open(principal, found) or file is None:
            return refuse(request, 404, "no such file")
    path = files_path(c) / file.stored
    if not path.is_file():
        return refuse(request, 404, "the file is gone (deleted by the retention)")
    await audit(c, principal, "request.file", found.number, file=file.id, name=file.name)
    return web.FileResponse(
        path,
        headers={
            "Content-Type": file.content_type,
            "Content-Disposition": "attachment",
            "Cache-Control": "no-store",
        },
    )


async def _store(c: Context, upload: web.FileField, purpose: str, by: str) -> RequestFile | str:
    """The upload, checked by its content and photos encoded anew (casework/attachments.py), in the
    request files' folder under a name of ours; or why it is refused."""
    data = upload.file.read(attachments.MOST_BYTES + 1)
    try:
        checked = await file_worker.check_file(upload.filename, data)
    except attachments.FileRefused as exc:
        return str(exc)
    return attachments.store(files_path(c), checked, purpose, by)


def _playable(root: Path, path: Path) -> bool:
    """A recording inside the recordings folder that is still there (a path from the database is never
    trusted to be inside it)."""
    return under(root, path) and path.is_file()
