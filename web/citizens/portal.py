"""The public web form (/report): a citizen writes to the hotline from a phone's browser without an
account: topic, what happened, where (address, district, a position if they share it), who they are and
how to reach them, up to [portal] files photos or documents, and their consent. The answer page gives the
request's number and the link to follow it.

A submission is checked whole before anything is kept: the challenge, the fields, every file (by its
content; photos encoded anew, casework/attachments.py), the limits per address and per contact. A refused
one stores nothing and says why; an accepted one is one request with its files, or, if the database fails,
nothing (the files written for it are removed)."""

from __future__ import annotations

import logging
import math
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from casework import attachments, file_worker
from casework import workflow as wf
from hotline import contact_channels
from hotline.values import clean, contact_key
from web import i18n
from web.audit import audit
from web.citizens import challenge
from web.citizens.follow import follow_link
from web.context import Context, ctx, language, render
from web.errors import posted_form
from web.routing import RouteTable
from web.throttle import RateLimit

log = logging.getLogger(__name__)
routes = RouteTable()
HOUR = 3600.0
WORDS_LIMIT = 4000
PHONE = re.compile(r"^\+?[0-9][0-9 .\-]{7,18}[0-9]$")
EMAIL = re.compile(r"^[^@\s<>\"(),;:]{1,64}@[A-Za-z0-9.\-]{1,253}\.[A-Za-z]{2,24}$")
FIELDS = (
    "topic",
    "words",
    "address",
    "district",
    "ward",
    "latitude",
    "longitude",
    "name",
    "phone",
    "email",
    "notify_by",
)
ANSWERS = web.AppKey("portal_answers", challenge.Answers)
ADDRESSES = web.AppKey("portal_addresses", RateLimit)
CONTACTS = web.AppKey("portal_contacts", RateLimit)


class Refused(Exception):
    """Why a submission is not taken: a key of web/i18n.py and what fills it in."""

    def __init__(self, key: str, status: int = 400, retry_after: float = 0.0, **params: object) -> None:
        super().__init__(key)
        self.key, self.status, self.retry_after, self.params = key, status, retry_after, params


def setup(app: web.Application, c: Context) -> None:
    """The form's limits and questions, in the database and signed with the site's key: the same on every
    center."""
    app[ANSWERS] = challenge.Answers(c.db, c.limits_key)
    app[ADDRESSES] = RateLimit(c.db, "form_address", c.limits_key, c.settings.portal.per_address_hour, HOUR)
    app[CONTACTS] = RateLimit(c.db, "form_contact", c.limits_key, c.settings.portal.per_contact_hour, HOUR)


def _page(request: web.Request, values: dict[str, str], error: str = "", status: int = 200) -> web.Response:
    c = ctx(request)
    question = challenge.ask(c.limits_key)
    return render(
        "report.html.j2",
        request,
        {
            "v": values,
            "error": error,
            "topics": c.settings.request_topics,
            "question": question,
            "portal": c.settings.portal,
            "ways": contact_channels.ON_FORM,
        },
        status=status,
    )


@routes.route("GET", "/report", None)
async def report_form(request: web.Request) -> web.StreamResponse:
    if not ctx(request).settings.portal.enabled:
        raise web.HTTPNotFound()
    return _page(request, {})


def _values(form: Any) -> dict[str, str]:
    """The form's text fields as the citizen typed them (to show again after a refusal)."""
    return {
        name: str(form.get(name, ""))[: WORDS_LIMIT + 1] for name in FIELDS if isinstance(form.get(name), str)
    }


def _validated(c: Context, v: dict[str, str], form: Any) -> dict[str, Any]:
    topics = {t.name for t in c.settings.request_topics}
    if v.get("topic") not in topics:
        raise Refused("report_no_topic")
    words = v.get("words", "").replace("\x00", "").strip()
    if not words:
        raise Refused("report_no_words")
    if len(words) > WORDS_LIMIT:
        raise Refused("report_words_too_long", limit=WORDS_LIMIT)
    phone = clean(v.get("phone", ""), 32)
    email = clean(v.get("email", ""), 254)
    if not phone and not email:
        raise Refused("report_no_contact")
    if phone and not PHONE.match(phone):
        raise Refused("report_bad_phone")
    if email and not EMAIL.match(email):
        raise Refused("report_bad_email")
    notify_by = v.get("notify_by", "") or ("sms" if phone else "email")
    way = contact_channels.CHANNELS.get(notify_by)
    reaches = {contact_channels.Reach.PHONE: phone, contact_channels.Reach.EMAIL: email}
    if notify_by not in contact_channels.ON_FORM or way is None or not reaches.get(way.reach):
        raise Refused("report_bad_notify")
    if form.get("consent") != "yes":
        raise Refused("report_no_consent")
    position: dict[str, float] = {}
    for name, bound in (("latitude", 90.0), ("longitude", 180.0)):
        raw = v.get(name, "").strip()
        if raw:
            try:
                value = float(raw)
            except ValueError:
                raise Refused("report_bad_position") from None
            if not (-bound <= value <= bound) or math.isnan(value):
                raise Refused("report_bad_position")
            position[name] = value
    if len(position) == 1:
        raise Refused("report_half_position")
    return {
        "topic": v["topic"],
        "words": words,
        "contact_phone": phone,
        "contact_email": email,
        "contact_name": clean(v.get("name", ""), 128),
        "address": clean(v.get("address", ""), 255),
        "district": clean(v.get("district", ""), 128),
        "ward": clean(v.get("ward", ""), 8),
        "anonymous": form.get("anonymous") == "yes",
        "notify_by": notify_by,
        **position,
    }


async def _files(c: Context, form: Any) -> list[attachments.CheckedFile]:
    uploads = [f for f in form.getall("files", []) if isinstance(f, web.FileField) and f.filename]
    if len(uploads) > c.settings.portal.files:
        raise Refused("report_too_many_files", limit=c.settings.portal.files)
    checked = []
    for upload in uploads:
        data = upload.file.read(attachments.MOST_BYTES + 1)
        try:
            checked.append(await file_worker.check_file(upload.filename, data))
        except attachments.FileRefused as exc:
            raise Refused("report_bad_file", reason=str(exc)) from None
    return checked


@routes.route("POST", "/report", None)
async def report(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    if not c.settings.portal.enabled:
        raise web.HTTPNotFound()
    address = request.remote or ""
    form = await posted_form(request)
    v = _values(form)
    try:
        # Looked at and counted in one step as it starts: submissions sent at once, to one center or to
        # several, cannot all pass before the first is counted.
        wait = await request.app[ADDRESSES].take(address)
        if wait > 0:
            raise Refused("report_address_limit", 429, wait)
        if not await request.app[ANSWERS].check(
            str(form.get("challenge_token", "")), str(form.get("challenge", ""))
        ):
            raise Refused("report_bad_challenge")
        fields = _validated(c, v, form)
        files = await _files(c, form)
        # Once the submission will be kept: what the contact is sent counts, not a form refused for a file.
        contact = contact_key(fields["contact_phone"], fields["contact_email"])
        wait = await request.app[CONTACTS].take(contact)
        if wait > 0:
            raise Refused("report_contact_limit", 429, wait)
    except Refused as refused:
        message = i18n.translate(language(request), refused.key).format(**refused.params)
        response = _page(request, v, message, refused.status)
        if refused.retry_after:
            response.headers["Retry-After"] = str(math.ceil(refused.retry_after))
        return response
    except (SQLAlchemyError, OSError, TimeoutError):
        # The limits live in the database: without it nothing can be counted, nor kept.
        log.exception("the web form's limits could not be read")
        return _unavailable(request, v)
    if form.get("share_place") == "yes" and "latitude" not in fields:
        place = next((f.position for f in files if f.position), None)
        if place:
            fields["latitude"], fields["longitude"] = place
    try:
        number = await _keep(c, fields, files, address)
    except (SQLAlchemyError, OSError, TimeoutError):
        log.exception("a request from the web form could not be kept")
        return _unavailable(request, v)
    await audit(c, f"citizen@{address}", "request.open", number, channel="web", files=len(files))
    return render(
        "report_done.html.j2",
        request,
        {"number": number, "link": follow_link(c, number), "notify_by": fields["notify_by"]},
        status=201,
    )


def _unavailable(request: web.Request, values: dict[str, str]) -> web.Response:
    """Nothing was kept: say so plainly, with what they wrote still in the form."""
    return _page(request, values, i18n.translate(language(request), "report_unavailable"), 503)


async def _keep(
    c: Context, fields: dict[str, Any], files: list[attachments.CheckedFile], address: str
) -> str:
    now = datetime.now(UTC)
    citizen = wf.Actor(f"citizen@{address}", None)
    number = await c.numbers.next_number(wait=5)
    request = wf.open_request(
        number,
        citizen,
        now,
        channel="web",
        consent=c.settings.portal.consent,
        places=c.settings.places(),
        **fields,
    )
    folder = c.settings.request_files_path
    kept = []
    try:
        for checked in files:
            stored = attachments.store(folder, checked, "citizen", citizen.name)
            stored.at = now
            kept.append(stored)
            request.files.append(stored)
        async with c.db() as session, session.begin():
            session.add(request)
    except BaseException:
        for stored in kept:
            (folder / stored.stored).unlink(missing_ok=True)
        raise
    return number
