"""Switches for an emergency, thrown by a supervisor: an announcement every caller hears before the menu
(typed and synthesised, or an uploaded sound), and the hotline forced open or closed whatever its hours.
Each has an end time (a switch nobody turns off ends by itself), each change is audited, and the
wallboard shows what is on."""

from __future__ import annotations

import asyncio
import io
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from argon2 import PasswordHasher
from pydub import AudioSegment
from sqlalchemy import select

from hotline import files, switches
from hotline.db.models import Role, User
from hotline.settings import Settings
from hotline.values import clean
from ivr.prompts.build import Synthesiser, for_asterisk
from web.audit import audit
from web.context import ctx, render, who
from web.errors import bad, json_object, posted_form
from web.routing import RouteTable

routes = RouteTable()
LONGEST = timedelta(days=7)  # a switch may be thrown for at most this long
MOST_TEXT = 600  # characters of a typed announcement (about 40 s of speech)
MOST_SECONDS = 60  # an announcement every caller must sit through
MOST_UPLOAD = 20 << 20
_VOICE = Synthesiser("auto")
_PINS = PasswordHasher()


def end_time(raw: object, now: datetime) -> datetime:
    """An end time given as ISO 8601 with its zone (or the site's, without): after now, within a week."""
    try:
        until = datetime.fromisoformat(str(raw))
    except ValueError:
        raise bad(
            "until: give the end time as YYYY-MM-DDTHH:MM (with its time zone, or the site's)"
        ) from None
    if until.tzinfo is None:
        until = until.replace(tzinfo=now.tzinfo)
    if until <= now:
        raise bad("until: the end time has passed")
    if until - now > LONGEST:
        raise bad(f"until: at most {LONGEST.days} days from now")
    return until.astimezone(UTC)


def save_sound(settings: Settings, audio: AudioSegment) -> str:
    """The announcement as a prompt Asterisk plays (blocking: run it in a thread); its prompt name."""
    if len(audio) > MOST_SECONDS * 1000:
        raise ValueError(f"the announcement lasts {len(audio) // 1000} s; at most {MOST_SECONDS} s")
    name = f"a-{time.time_ns()}"
    folder = settings.sounds_path / settings.site.language / "hotline" / switches.ANNOUNCEMENTS
    folder.mkdir(parents=True, exist_ok=True)
    for_asterisk(audio).export(folder / f"{name}.wav", format="wav")
    files.open_to_all(folder)
    return f"{switches.ANNOUNCEMENTS}/{name}"


def from_upload(data: bytes) -> AudioSegment:
    try:
        return AudioSegment.from_file(io.BytesIO(data))
    except Exception:
        raise ValueError("the file is not a sound ffmpeg can read (WAV, MP3, OGG, M4A)") from None


@routes.route(
    "GET",
    "/api/v1/switches",
    Role.AGENT,
    "What is switched on now: the announcement before the menu and the hours override, with their ends",
    api=True,
    response={"type": "object"},
)
async def current(request: web.Request) -> web.StreamResponse:
    return web.json_response((await switches.read(ctx(request).db)).view())


@routes.route("GET", "/switches", Role.SUPERVISOR)
async def page(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    now = datetime.now(c.tz)
    return render(
        "switches.html.j2",
        request,
        {
            "on": await switches.read(c.db),
            "tz": c.tz,
            "default_until": (now + timedelta(hours=4)).strftime("%Y-%m-%dT%H:%M"),
            "feature_code": c.settings.switches.feature_code,
        },
    )


async def announcement_body(request: web.Request) -> tuple[dict[str, Any], bytes]:
    if request.content_type == "multipart/form-data":
        form = await posted_form(request)
        sound = form.get("sound")
        data = b""
        if sound is not None and hasattr(sound, "file"):
            data = sound.file.read(MOST_UPLOAD + 1)
            if len(data) > MOST_UPLOAD:
                raise bad(f"the sound file is larger than {MOST_UPLOAD >> 20} MB")
        return {"text": form.get("text", ""), "until": form.get("until", "")}, data
    return await json_object(request), b""


@routes.route(
    "POST",
    "/api/v1/switches/announcement",
    Role.SUPERVISOR,
    "Turn on the announcement every caller hears before the menu, until `until`: `text` is synthesised, "
    "or a `sound` file is uploaded (multipart)",
    api=True,
    body={
        "type": "object",
        "properties": {"text": {"type": "string"}, "until": {"type": "string"}},
        "required": ["until"],
    },
)
async def announcement_on(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    body, upload = await announcement_body(request)
    until = end_time(body.get("until", ""), datetime.now(c.tz))
    text = clean(str(body.get("text") or ""), MOST_TEXT + 1).strip()
    if len(text) > MOST_TEXT:
        raise bad(f"text: at most {MOST_TEXT} characters (callers hear all of it before the menu)")
    if not upload and not text:
        raise bad("give the announcement's text or a sound file")
    language = c.settings.site.language

    def make() -> str:
        audio = from_upload(upload) if upload else _VOICE(text, language)
        return save_sound(c.settings, audio)

    try:
        prompt = await asyncio.to_thread(make)
    except ValueError as exc:
        raise bad(str(exc)) from None
    principal = who(request)
    async with c.db() as session, session.begin():
        await switches.throw(session, switches.ANNOUNCEMENT, prompt, until, principal.name, text)
    await audit(
        c,
        principal,
        "switch.announcement.on",
        prompt,
        until=until.isoformat(),
        text=text,
        uploaded=bool(upload),
    )
    return web.json_response((await switches.read(c.db)).view())


@routes.route(
    "POST",
    "/api/v1/switches/hours",
    Role.SUPERVISOR,
    "Force the hotline open or closed whatever its hours until `until`, or `auto` to follow the hours again",
    api=True,
    body={
        "type": "object",
        "properties": {"mode": {"enum": ["open", "closed", "auto"]}, "until": {"type": "string"}},
        "required": ["mode"],
    },
)
async def hours(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    body = await json_object(request)
    mode = body.get("mode")
    principal = who(request)
    if mode == "auto":
        async with c.db() as session, session.begin():
            await switches.turn_off(session, switches.HOURS)
        await audit(c, principal, "switch.hours.auto", "hours")
    elif mode in switches.FORCED:
        until = end_time(body.get("until", ""), datetime.now(c.tz))
        async with c.db() as session, session.begin():
            await switches.throw(session, switches.HOURS, str(mode), until, principal.name)
        await audit(c, principal, f"switch.hours.{mode}", "hours", until=until.isoformat())
    else:
        raise bad("mode must be open, closed or auto")
    return web.json_response((await switches.read(c.db)).view())


PIN_BODY = {"type": "object", "properties": {"pin": {"type": "string"}}, "required": ["pin"]}


@routes.route(
    "POST",
    "/api/v1/me/phone-pin",
    Role.SUPERVISOR,
    "Set the signed-in supervisor's PIN for the emergency switches from their phone (4 to 8 digits)",
    api=True,
    body=PIN_BODY,
)
async def phone_pin(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    principal = who(request)
    pin = str((await json_object(request)).get("pin", ""))
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 8) or len(set(pin)) < 3:
        raise bad("pin: 4 to 8 digits, at least 3 of them different")
    if not principal.extension:
        raise bad("your user has no phone extension; set one with 'hotline user add --extension'")
    hashed = await asyncio.to_thread(_PINS.hash, pin)
    async with c.db() as session, session.begin():
        user = await session.scalar(select(User).where(User.username == principal.name))
        if user is None:
            raise bad("only a signed-in user has a phone PIN")
        user.phone_pin_hash = hashed
    await audit(c, principal, "switch.pin", principal.name, phone=principal.extension)
    return web.json_response({"ok": True, "extension": principal.extension})


@routes.route(
    "POST",
    "/api/v1/switches/announcement/off",
    Role.SUPERVISOR,
    "Turn the announcement off now",
    api=True,
)
async def announcement_off(request: web.Request) -> web.StreamResponse:
    c = ctx(request)
    async with c.db() as session, session.begin():
        await switches.turn_off(session, switches.ANNOUNCEMENT)
    await audit(c, who(request), "switch.announcement.off", "announcement")
    return web.json_response((await switches.read(c.db)).view())
