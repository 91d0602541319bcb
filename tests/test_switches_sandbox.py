"""The emergency switches on the sandbox, through the real FastAGI server: the announcement plays before
the menu while it is on and not after its end time; the hours forced closed send callers to the
after-hours path, and given back, to the menu again; a supervisor records the announcement and forces the
hours from a phone with the feature code and their PIN (a wrong PIN changes nothing)."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from pydub import AudioSegment
from pydub.generators import Sine
from sqlalchemy import delete, select

from agi_scripts.fastagi import FastAGIServer
from agi_scripts.ivr_app import build_server
from hotline import switches
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import AuditEntry, User
from hotline.settings import Settings
from shell.callsim import CallRequest, CallResult, place_call
from shell.sandbox.runner import Sandbox
from tests.helpers.ivr import agi_commands, failed_media
from web import auth
from web.staff.switches import save_sound

pytestmark = pytest.mark.asterisk
SETTLE = 2.5  # the IVR reads the switches at most this long after they change (its cache)


@pytest.fixture
async def ivr(site: Settings, sandbox: Sandbox) -> AsyncIterator[FastAGIServer]:
    await upgrade_async(site.database_url)
    server = build_server(site)
    await server.start(site.agi.host, site.agi.port)
    yield server
    await server.close()


async def throw(site: Settings, name: str, value: str, until: datetime | None) -> None:
    engine = make_engine(site.database_url)
    try:
        async with sessions(engine)() as session, session.begin():
            if until is None:
                await switches.turn_off(session, name)
            else:
                await switches.throw(session, name, value, until, "giamsat", "thử")
    finally:
        await engine.dispose()


def streamed(result: CallResult) -> list[str]:
    return [c.split()[2] for c in agi_commands(result) if c.startswith(("STREAM FILE", "GET DATA"))]


async def test_the_announcement_plays_before_the_menu_until_its_end(
    site: Settings, ivr: FastAGIServer
) -> None:
    tone = Sine(440).to_audio_segment(duration=1500).apply_gain(-12) + AudioSegment.silent(300)
    prompt = await asyncio.to_thread(save_sound, site, tone)
    ends = datetime.now(UTC) + timedelta(seconds=12)
    await throw(site, switches.ANNOUNCEMENT, prompt, ends)
    try:
        await asyncio.sleep(SETTLE)
        on = await place_call(site, CallRequest("1022", keys="1", first_wait=3.0, hangup_after=4))
        assert streamed(on)[:2] == [f"hotline/{prompt}", "hotline/welcome"], streamed(on)
        assert not failed_media(on), failed_media(on)
        assert on.variables["HOTLINE_TOPIC"] == "violation"
        await asyncio.sleep(max(0.0, (ends - datetime.now(UTC)).total_seconds()) + 0.5)
        after = await place_call(site, CallRequest("1022", keys="1", hangup_after=2))
        assert f"hotline/{prompt}" not in streamed(after) and streamed(after)[0] == "hotline/welcome"
    finally:
        await throw(site, switches.ANNOUNCEMENT, "", None)


async def test_the_hours_forced_closed_send_callers_after_hours_and_back(
    site: Settings, ivr: FastAGIServer
) -> None:
    await throw(site, switches.HOURS, "closed", datetime.now(UTC) + timedelta(hours=1))
    try:
        await asyncio.sleep(SETTLE)
        closed = await place_call(site, CallRequest("1022", hangup_after=3))
        assert closed.variables["HOTLINE_HOURS"] == "closed"
        assert "hotline/after_hours" in streamed(closed)
    finally:
        await throw(site, switches.HOURS, "", None)
    await asyncio.sleep(SETTLE)
    back = await place_call(site, CallRequest("1022", hangup_after=3))
    assert back.variables["HOTLINE_HOURS"] == "open" and "hotline/after_hours" not in streamed(back)


@pytest.fixture
async def supervisor_pin(site: Settings) -> AsyncIterator[str]:
    """The supervisor at extension 103 with the PIN 2468 (as the web app sets it)."""
    engine = make_engine(site.database_url)
    db = sessions(engine)
    async with db() as session, session.begin():
        for old in await session.scalars(select(User).where(User.username == "truc-ban")):
            await session.delete(old)
    await auth.add_user(db, "truc-ban", "mật-khẩu-trực-ban", "supervisor", "103")
    async with db() as session, session.begin():
        user = await session.scalar(select(User).where(User.username == "truc-ban"))
        assert user is not None
        user.phone_pin_hash = PasswordHasher().hash("2468")
    yield "2468"
    async with db() as session, session.begin():
        await session.execute(delete(User).where(User.username == "truc-ban"))
    await engine.dispose()


def by_phone(keys: str, say: str = "", hangup_after: float = 10) -> CallRequest:
    return CallRequest(
        "*1022",
        keys=keys,
        caller="103",
        context="hotline-agents",
        say=say,
        say_after=7,
        hangup_after=hangup_after,
    )


async def test_a_supervisor_records_the_announcement_and_forces_the_hours_from_a_phone(
    site: Settings, ivr: FastAGIServer, supervisor_pin: str
) -> None:
    engine = make_engine(site.database_url)
    db = sessions(engine)
    try:
        wrong = await place_call(site, by_phone("1111#wwwwwwww1357#wwwwwwww9999#", hangup_after=16))
        assert "STREAM FILE hotline/switch_refused" in " ".join(agi_commands(wrong))
        assert (await switches.read(db)).announcement == ""

        # The PIN, 1 during the menu, then the announcement spoken after the tone; silence ends it.
        recorded = await place_call(
            site, by_phone(f"{supervisor_pin}#wwwwwwww1", say="hotline/main_menu", hangup_after=40)
        )
        assert any(c.startswith("RECORD FILE vi/hotline/announcements/") for c in agi_commands(recorded))
        on = await switches.read(db)
        assert on.announcement.startswith("announcements/a-") and on.announcement_until is not None
        with wave.open(str(site.sounds_path / "vi" / "hotline" / f"{on.announcement}.wav")) as w:
            assert w.getnframes() > 8000 * 3  # the seconds of speech the supervisor said
        closed = await place_call(site, by_phone(f"{supervisor_pin}#wwwwwwww3", hangup_after=12))
        assert "STREAM FILE hotline/switch_done" in " ".join(agi_commands(closed))
        assert (await switches.read(db)).hours == "closed"
        async with db() as session:
            logged = list(await session.scalars(select(AuditEntry).where(AuditEntry.actor == "truc-ban")))
        assert {e.action for e in logged} >= {"switch.announcement.on", "switch.hours.closed"}
        assert all(e.detail.get("on") == "phone" for e in logged)
    finally:
        async with db() as session, session.begin():
            await switches.turn_off(session, switches.ANNOUNCEMENT)
            await switches.turn_off(session, switches.HOURS)
        await engine.dispose()
