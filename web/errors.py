"""The one way the app says no: `{"error": "..."}` with the status for JSON callers, the error page (or the
sign-in page) for people in a browser."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from web.context import render
from web.routing import info

_STATUS: dict[int, type[web.HTTPError]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
}


def answer(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def fail(status: int, message: str) -> web.HTTPError:
    """The same answer, to raise from inside a handler."""
    return _STATUS[status](text=answer(status, message).text, content_type="application/json")


def bad(message: str) -> web.HTTPError:
    return fail(400, message)


def forbidden(message: str) -> web.HTTPError:
    return fail(403, message)


def not_found(message: str) -> web.HTTPError:
    return fail(404, message)


def wants_json(request: web.Request) -> bool:
    route = info(request)
    return bool(route and route.api) or request.path.startswith(("/api/", "/metrics", "/ws/"))


def refuse(request: web.Request, status: int, message: str) -> web.StreamResponse:
    """No, in the form the asker reads: JSON for the API, the sign-in page or an error page for people."""
    if wants_json(request):
        return answer(status, message)
    if status == 401:
        raise web.HTTPSeeOther(f"/login?next={request.path_qs}")
    return render("error.html.j2", request, {"message": message, "status": status}, status=status)


UNREADABLE_FORM = "the form could not be read: send it as UTF-8 form data"
Form = MultiDictProxy[str | bytes | bytearray | web.FileField]


async def form_data(request: web.Request) -> Form | None:
    """The posted form, or None when it is not one (text that is not UTF-8, a broken multipart body)."""
    try:
        return await request.post()
    except ValueError:  # UnicodeDecodeError is one
        return None


async def posted_form(request: web.Request) -> Form:
    """The posted form, or the refusal that says why it cannot be read (never a server error)."""
    form = await form_data(request)
    if form is None:
        refusal = refuse(request, 400, UNREADABLE_FORM)
        assert isinstance(refusal, web.Response)
        raise web.HTTPBadRequest(text=refusal.text, content_type=refusal.content_type)
    return form


async def json_object(request: web.Request) -> dict[str, Any]:
    """The request's body as a JSON object, or the answer that says why it is not one."""
    try:
        data = await request.json()
    except ValueError:
        raise bad("the body must be JSON") from None
    if not isinstance(data, dict):
        raise bad("the body must be a JSON object")
    return data
