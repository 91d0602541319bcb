"""Requests in the browser: the list (overdue first) and a request's page, with a form for each step the
reader may take. The same pages serve the center and the agencies' portal: an agency's user sees only
their agency's requests. Forms post here and come back to the page (no script needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy import select

from casework import attachments, file_worker, steps
from casework import workflow as wf
from casework.steps import OPEN_STATUSES
from hotline.db.models import Case, CitizenRequest, RequestFile, Role
from hotline.retention import under
from web.audit import audit, playback
from web.context import Context, ctx, render, who
from web.errors import posted_form, refuse
from web.page_messages import carried, shown
from web.request_lookup import load_request
from web.routing import RouteTable
from web.staff.requests_api import actor, due_first, duplicates_view, may_open, view

routes = RouteTable()
# The steps a request's page has a form for (sharing a call's recording has its own list of calls, and
# merging one per possible duplicate).
PAGE_STEPS = tuple(n for n in steps.STAFF_STEPS if n not in ("share", "merge"))


def files_path(c: Context) -> Path:
    return c.settings.request_files_path


@routes.route("GET", "/requests", Role.AGENCY)
async def request_list(request: web.Request) -> web.StreamResponse:
    c, principal = ctx(request), who(request)
    stmt = select(CitizenRequest).where(CitizenRequest.status.in_([s.value for s in OPEN_STATUSES]))
    if principal.role is Role.AGENCY:
        stmt = stmt.where(CitizenRequest.agency == principal.agency)
    async with c.db() as session:
        found = list(await session.scalars(due_first(stmt).limit(500)))
    rows = sorted((view(c, r, principal) for r in found), key=lambda v: v["due"] != "overdue")
    await audit(c, principal, "request.search", "", on="page", rows=len(rows))
    return render("requests.html.j2", request, {"rows": rows, "tz": c.tz})


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
        recorded = (
            list(await session.scalars(select(Case.number).where(Case.id.in_(ids), Case.recording != "")))
            if ids and principal.can_supervise
            else []
        )
    await audit(c, principal, "request.view", found.number, on="page")
    return render(
        "request.html.j2",
        request,
        {
            "r": body,
            "tz": c.tz,
            "steps": c.steps.offered(found, actor(principal), PAGE_STEPS),
            "agencies": c.settings.agencies,
            "suggested": c.settings.suggested_agencies(body["topic"], found.ward_code),
            "error": shown(c.settings, request.query),
            "shareable": [n for n in recorded if n not in body["recordings"]],
            "may_merge": "merge" in c.steps.offered(found, actor(principal), ("merge",)),
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
