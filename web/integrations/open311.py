"""Open311 GeoReport v2 for the province's portal and apps, in XML (the format the specification requires)
and JSON (web/open311_format.py): the services (the topics), new requests (POST with an API token as
`api_key`, in the form or in the query string) and the requests' public state. Services are `realtime`: a
POST answers with the request's number at once.

A request's `service_request_id` is its number, the one the citizen follows it by. Request numbers are
short and can be guessed, so a GET says only what anyone may know: status, topic, agency, dates, and the
answer once the center published it. It never returns a name, phone number, e-mail, address, place or the
citizen's own words; the citizen reads their own answer on the follow page with their phone's digits.
Errors are the spec's: a list of `{code, description}` (`<errors><error>` in XML) with the same HTTP
status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import func, or_, select

from casework import workflow as wf
from casework.citizen_status import citizen_status
from hotline.db.models import CitizenRequest, RequestEvent, RequestStatus, Role
from hotline.values import clean
from web.audit import audit
from web.auth import token_principal
from web.context import Context, ctx
from web.errors import UNREADABLE_FORM, form_data
from web.integrations.open311_format import FORMATS, respond
from web.integrations.open311_format import error as error_document
from web.routing import RouteTable

routes = RouteTable()
BASE = "/open311/v2"
MOST_RECORDS = 1000
DEFAULT_DAYS = 90
DESCRIPTION_LIMIT = 4000
ENDED = (RequestStatus.CLOSED.value, RequestStatus.REJECTED.value, RequestStatus.MERGED.value)


class Open311Error(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


def _format(request: web.Request) -> str:
    """The format the resource's name asks for; an unknown one is answered in XML, the required format."""
    fmt = request.match_info.get("format", "xml")
    return fmt if fmt in FORMATS else "xml"


def _error(request: web.Request, exc: Open311Error) -> web.Response:
    return error_document(_format(request), exc.code, exc.description)


def _check_format(request: web.Request) -> str:
    fmt = request.match_info.get("format", "")
    if fmt not in FORMATS:
        raise Open311Error(400, f"no format {fmt[:16]!r}: ask for .xml or .json")
    return fmt


def _when(c: Context, at: datetime | None) -> str | None:
    return at.astimezone(c.tz).isoformat(timespec="seconds") if at else None


def _services(c: Context) -> list[dict[str, Any]]:
    return [
        {
            "service_code": t.name,
            "service_name": t.label,
            "description": t.description,
            "metadata": False,
            "type": "realtime",
            "keywords": ", ".join(t.keywords),
            "group": t.group,
        }
        for t in c.settings.request_topics
    ]


@routes.route("GET", BASE + "/discovery.{format}", None, "Open311 discovery: where this endpoint is")
async def discovery(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    try:
        fmt = _check_format(request)
    except Open311Error as exc:
        return _error(request, exc)
    url = f"{request.scheme}://{request.host}{BASE}/"
    return respond(
        fmt,
        "discovery",
        {
            "changeset": "2026-11-23T00:00:00Z",
            "contact": c.settings.site.name,
            "key_service": "an API token made with `hotline token add NAME --role agent`",
            "endpoints": [
                {
                    "specification": "http://wiki.open311.org/GeoReport_v2",
                    "url": url,
                    "type": "production",
                    "formats": [FORMATS["xml"], FORMATS["json"]],
                }
            ],
        },
    )


@routes.route("GET", BASE + "/services.{format}", None, "Open311: the topics a request can be about")
async def services(request: web.Request) -> web.StreamResponse:
    try:
        fmt = _check_format(request)
    except Open311Error as exc:
        return _error(request, exc)
    return respond(fmt, "services", _services(ctx(request)))


@routes.route("GET", BASE + "/services/{code}.{format}", None, "Open311: one service's definition")
async def service_definition(request: web.Request) -> web.StreamResponse:
    try:
        fmt = _check_format(request)
        code = request.match_info["code"]
        if code not in {s["service_code"] for s in _services(ctx(request))}:
            raise Open311Error(404, f"no service {code[:64]!r}")
    except Open311Error as exc:
        return _error(request, exc)
    return respond(fmt, "service_definition", {"service_code": code, "attributes": []})


def _record(c: Context, r: CitizenRequest, updated: datetime | None) -> dict[str, Any]:
    status = RequestStatus(r.status)
    ended = r.status in ENDED
    # GeoReport v2 has open or closed and a free text: the text is the status as the citizen is told it
    # (merged: which request it joined), or the answer the center published.
    told = citizen_status(c.settings, r)
    notes = r.public_answer if status is RequestStatus.CLOSED and r.public else told.sentence("vi")
    return {
        "service_request_id": r.number,
        "status": "closed" if ended else "open",
        "status_notes": notes,
        "service_name": c.settings.topic_label(r.topic),
        "service_code": r.topic,
        "description": r.public_question if r.public else "",
        "agency_responsible": c.settings.agency_label(r.agency),
        "service_notice": "",
        "requested_datetime": _when(c, r.created_at),
        "updated_datetime": _when(c, updated or r.created_at),
        "expected_datetime": _when(c, r.answer_due_at) if not ended else None,
        "address": None,
        # The ward (its code on the 2025 list), as the public map shows it: never the citizen's address.
        "address_id": r.ward_code or None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


async def _records(c: Context, stmt: Any) -> list[dict[str, Any]]:
    async with c.db() as session:
        found = list(await session.scalars(stmt))
        ids = [r.id for r in found]
        updated = (
            dict(
                (
                    await session.execute(
                        select(RequestEvent.request_id, func.max(RequestEvent.at))
                        .where(RequestEvent.request_id.in_(ids))
                        .group_by(RequestEvent.request_id)
                    )
                )
                .tuples()
                .all()
            )
            if ids
            else {}
        )
    return [_record(c, r, updated.get(r.id)) for r in found]


EARLIEST_YEAR, LATEST_YEAR = 1970, 2200


def _date(c: Context, value: str, name: str) -> datetime:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if at.tzinfo is None:  # a date alone, or a time without its zone: the site's
            at = at.replace(tzinfo=c.tz)
        at = at.astimezone(UTC)  # year 1 or 9999 in another zone falls outside what a datetime holds
    except (ValueError, OverflowError):
        raise Open311Error(
            400, f"{name} must be a W3C date and time, e.g. 2026-11-01T00:00:00+07:00"
        ) from None
    if not EARLIEST_YEAR <= at.year <= LATEST_YEAR:
        raise Open311Error(400, f"{name} must be between {EARLIEST_YEAR} and {LATEST_YEAR}")
    return at


@routes.route("GET", BASE + "/requests.{format}", None, "Open311: requests, by number or by filters")
async def list_requests(request: web.Request) -> web.StreamResponse:
    c, q = ctx(request), request.query
    try:
        fmt = _check_format(request)
        stmt = select(CitizenRequest)
        if q.get("service_request_id"):
            numbers = [n.strip() for n in q["service_request_id"].split(",") if n.strip()][:MOST_RECORDS]
            stmt = stmt.where(CitizenRequest.number.in_(numbers))
        else:
            now = datetime.now(UTC)
            end = _date(c, q["end_date"], "end_date") if q.get("end_date") else now
            start = (
                _date(c, q["start_date"], "start_date")
                if q.get("start_date")
                else end - timedelta(days=DEFAULT_DAYS)
            )
            if start > end:
                raise Open311Error(400, "start_date is after end_date")
            stmt = stmt.where(CitizenRequest.created_at >= start, CitizenRequest.created_at <= end)
            if q.get("service_code"):
                codes = [s.strip() for s in q["service_code"].split(",") if s.strip()]
                stmt = stmt.where(
                    or_(
                        CitizenRequest.topic.in_(codes),
                        *(CitizenRequest.topic.startswith(f"{code}.") for code in codes),
                    )
                )
            if q.get("status"):
                wanted = {s.strip() for s in q["status"].split(",")}
                if not wanted <= {"open", "closed"}:
                    raise Open311Error(400, "status is open, closed or both (comma separated)")
                if wanted == {"open"}:
                    stmt = stmt.where(CitizenRequest.status.not_in(ENDED))
                elif wanted == {"closed"}:
                    stmt = stmt.where(CitizenRequest.status.in_(ENDED))
        stmt = stmt.order_by(CitizenRequest.created_at.desc(), CitizenRequest.id.desc()).limit(MOST_RECORDS)
    except Open311Error as exc:
        return _error(request, exc)
    return respond(fmt, "service_requests", await _records(c, stmt))


@routes.route("GET", BASE + "/requests/{number}.{format}", None, "Open311: one request")
async def one_request(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    try:
        fmt = _check_format(request)
        number = request.match_info["number"]
        records = await _records(c, select(CitizenRequest).where(CitizenRequest.number == number))
        if not records:
            raise Open311Error(404, f"no request {number[:16]}")
    except Open311Error as exc:
        return _error(request, exc)
    return respond(fmt, "service_requests", records)


def _coordinate(form: Any, name: str, bound: float) -> float | None:
    raw = str(form.get(name, "")).strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise Open311Error(400, f"{name} must be a number") from None
    if not -bound <= value <= bound:
        raise Open311Error(400, f"{name} must be from -{bound:g} to {bound:g}")
    return value


@routes.route("POST", BASE + "/requests.{format}", None, "Open311: a new request (api_key required)")
async def new_request(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    try:
        fmt = _check_format(request)
        form = await form_data(request)
        if form is None:
            raise Open311Error(400, UNREADABLE_FORM)
        # Some clients send the key in the query string, as they do jurisdiction_id.
        key = str(form.get("api_key", "") or request.query.get("api_key", ""))
        principal = await token_principal(c.db, key) if key else None
        if principal is None or not principal.can(Role.AGENT):
            raise Open311Error(403, "api_key is missing, unknown, revoked, or may not open requests")
        code = str(form.get("service_code", ""))
        if code not in {s["service_code"] for s in _services(c)}:
            raise Open311Error(
                404 if code else 400, f"no service {code!r}" if code else "service_code is required"
            )
        lat, long = _coordinate(form, "lat", 90.0), _coordinate(form, "long", 180.0)
        address = clean(str(form.get("address_string", "")), 255)
        if (lat is None or long is None) and not address and not form.get("address_id"):
            raise Open311Error(400, "a location is required: lat and long, address_string or address_id")
        description = str(form.get("description", "")).replace("\x00", "")
        if len(description) > DESCRIPTION_LIMIT:
            raise Open311Error(400, f"description is longer than {DESCRIPTION_LIMIT} characters")
        if not description.strip():
            raise Open311Error(400, "description is required: what happened, and where")
        name = " ".join(
            clean(str(form.get(part, "")), 64) for part in ("first_name", "last_name") if form.get(part)
        )
        media = clean(str(form.get("media_url", "")), 512)
        now = datetime.now(UTC)
        number = await c.numbers.next_number(wait=5)
        opened = wf.open_request(
            number,
            wf.Actor(principal.name, principal.role),
            now,
            topic=code,
            words=description,
            channel="open311",
            contact_phone=clean(str(form.get("phone", "")), 32),
            contact_name=name,
            contact_email=clean(str(form.get("email", "")), 254),
            address=address,
            latitude=lat if long is not None else None,
            longitude=long if lat is not None else None,
            places=c.settings.places(),
            # The jurisdiction's own address identifier: here, a ward's code on the 2025 list.
            ward=clean(str(form.get("address_id", "")), 8),
        )
        if media:
            opened.contacts[0].note = f"media_url: {media}"
        async with c.db() as session, session.begin():
            session.add(opened)
    except Open311Error as exc:
        return _error(request, exc)
    except TimeoutError:
        return _error(request, Open311Error(503, "the database is not answering: try again shortly"))
    await audit(c, principal, "request.open", number, channel="open311")
    notice = (
        f"Mã số yêu cầu {number}. Tra cứu tại /follow với mã số này và số điện thoại."
        if opened.contact_phone
        else f"Mã số yêu cầu {number}."
    )
    return respond(
        fmt,
        "service_requests",
        [{"service_request_id": number, "service_notice": notice, "account_id": None}],
        status=201,
    )
