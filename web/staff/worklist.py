"""The worklist of missed calls for agents and supervisors: open entries the longest-waiting first, one click
calls the citizen from the agent's own phone (the phone rings first; Asterisk dials the citizen once it is
answered), the agent says what came of it, and the voice message the citizen left can be heard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import aliased

from ami_bridge import actions
from hotline import worklist
from hotline.asterisk.channel_vars import Var
from hotline.asterisk.naming import endpoint
from hotline.db.models import Case, MissedCall, MissedStatus, Role
from hotline.errors import AMIError
from hotline.values import mask_number
from web.audit import audit
from web.context import ctx, render, who
from web.errors import answer, bad, json_object, not_found
from web.routing import RouteTable
from web.staff import recordings
from web.staff.case_access import sees_full_numbers

routes = RouteTable()
ENTRY = (("id", "path", "the worklist entry"),)
SHOWN_CLOSED = 50  # the most recently closed entries, below the open ones
RESULT_BODY = {
    "type": "object",
    "properties": {"result": {"enum": list(worklist.RESULTS)}},
    "required": ["result"],
}


def entry_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 18:
        raise not_found("no such entry on the worklist")
    return int(raw)


async def entries(request: web.Request) -> list[dict[str, Any]]:
    c = ctx(request)
    masked = not sees_full_numbers(who(request), c)
    first, last, message = aliased(Case), aliased(Case), aliased(Case)
    columns = (MissedCall, first.number, last.number, message.number)
    joined = (
        select(*columns)
        .outerjoin(first, first.id == MissedCall.first_case_id)
        .outerjoin(last, last.id == MissedCall.last_case_id)
        .outerjoin(message, message.id == MissedCall.voicemail_case_id)
    )
    async with c.db() as session:
        open_rows = (
            await session.execute(
                joined.where(MissedCall.status == MissedStatus.OPEN.value).order_by(MissedCall.first_at)
            )
        ).all()
        closed_rows = (
            await session.execute(
                joined.where(MissedCall.status != MissedStatus.OPEN.value)
                .order_by(MissedCall.closed_at.desc())
                .limit(SHOWN_CLOSED)
            )
        ).all()
    out = []
    for entry, first_no, last_no, message_no in [*open_rows, *closed_rows]:
        out.append(
            {
                "id": entry.id,
                "caller": mask_number(entry.caller) if masked else entry.caller,
                "status": entry.status,
                "topic": entry.topic,
                "outcome": entry.outcome,
                "calls": entry.calls,
                "first_at": entry.first_at.isoformat(),
                "last_at": entry.last_at.isoformat(),
                "first_case": first_no,
                "last_case": last_no,
                "voicemail_case": message_no,
                "tries": entry.tries,
                "most_tries": c.settings.worklist.tries,
                "last_result": entry.last_result,
                "last_try_at": entry.last_try_at.isoformat() if entry.last_try_at else None,
                "closed_at": entry.closed_at.isoformat() if entry.closed_at else None,
            }
        )
    return out


@routes.route(
    "GET",
    "/api/v1/worklist",
    Role.AGENT,
    "Missed calls to call back: open entries (one per caller number) the longest-waiting first, then the "
    "most recently closed",
    api=True,
    response={"type": "object"},
)
async def worklist_json(request: web.Request) -> web.StreamResponse:
    return web.json_response({"entries": await entries(request)})


@routes.route("GET", "/worklist", Role.AGENT)
async def worklist_page(request: web.Request) -> web.StreamResponse:
    return render("worklist.html.j2", request, {"results": worklist.RESULTS})


@routes.route(
    "POST",
    "/api/v1/worklist/{id}/call",
    Role.AGENT,
    "Call the citizen back: the signed-in user's phone rings first, and once it is answered Asterisk dials "
    "the citizen; the call is recorded",
    api=True,
    params=ENTRY,
)
async def call_back(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    principal = who(request)
    if not principal.extension:
        raise bad("your user has no phone extension to ring; set one with 'hotline user add --extension'")
    now = datetime.now(UTC)
    async with c.db() as session, session.begin():
        try:
            started = await worklist.start_try(
                session, entry_id(request), principal.name, principal.extension, now
            )
        except worklist.WorklistError as exc:
            return answer(409, str(exc))
        number, attempt = started.entry.caller, started.attempt
        day = now.astimezone(c.tz).strftime("%Y/%m/%d")
        attempt.recording = str(
            c.settings.recordings_path / day / f"worklist-{started.entry.id}-{attempt.id}.wav"
        )
        recording = attempt.recording
        # Asterisk dials only once the try is on record: a call back is never made that nobody can see.
    try:
        await actions.originate(
            c.ami,
            Channel=f"PJSIP/{endpoint(principal.extension)}",
            Context="hotline-worklist",
            Exten="s",
            Priority="1",
            CallerID=f'"{mask_number(number)}" <{number}>',
            Timeout=str(c.settings.callbacks.ring_seconds * 1000),
            Variable=[
                f"{Var.DIAL}={c.settings.callbacks.dial.format(number=number)}",
                f"{Var.REC}={recording}",
            ],
        )
        refused = ""
    except AMIError as exc:  # refused, or not connected to Asterisk now
        refused = str(exc)
    if refused:
        async with c.db() as session, session.begin():
            entry = await session.get(MissedCall, started.entry.id)
            if entry is not None:
                entry.tries = max(0, entry.tries - 1)
            await session.delete(await session.merge(attempt))
        return answer(409, f"Asterisk did not call: {refused}")
    await audit(c, principal, "worklist.call", str(started.entry.id), phone=principal.extension)
    return web.json_response({"ok": True, "id": started.entry.id, "phone": principal.extension})


@routes.route(
    "POST",
    "/api/v1/worklist/{id}/result",
    Role.AGENT,
    "What came of the call back under way: reached and wrong_number close the entry, no_answer closes it "
    "once the tries run out",
    api=True,
    params=ENTRY,
    body=RESULT_BODY,
)
async def result(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    said = (await json_object(request)).get("result")
    async with c.db() as session, session.begin():
        try:
            entry = await worklist.record_result(
                session, entry_id(request), str(said), datetime.now(UTC), c.settings.worklist.tries
            )
        except worklist.WorklistError as exc:
            return answer(409 if said in worklist.RESULTS else 400, str(exc))
        status, tries = entry.status, entry.tries
    await audit(c, who(request), f"worklist.{said}", request.match_info["id"])
    return web.json_response({"ok": True, "status": status, "tries": tries})


@routes.route(
    "GET",
    "/api/v1/worklist/{id}/voicemail",
    Role.AGENT,
    "The voice message the citizen left (WAV); every playback is written to the audit log",
    api=True,
    params=ENTRY,
)
async def voicemail(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    async with c.db() as session:
        found = (
            await session.execute(
                select(Case.number, Case.voicemail)
                .join(MissedCall, MissedCall.voicemail_case_id == Case.id)
                .where(MissedCall.id == entry_id(request))
            )
        ).first()
    number, stored = found if found else ("", "")
    return await recordings.play(request, number, stored or "", "this entry has no voice message")
