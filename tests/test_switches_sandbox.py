"""The emergency switches on the sandbox, through the real FastAGI server: the announcement plays before
the menu while it is on and not after its end time; the hours forced closed send callers to the
after-hours path, and given back, to the menu again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydub import AudioSegment
from pydub.generators import Sine

from agi_scripts.fastagi import FastAGIServer
from agi_scripts.ivr_app import build_server
from hotline import switches
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.settings import Settings
from shell.callsim import CallRequest, CallResult, place_call
from shell.sandbox.runner import Sandbox
from tests.test_ivr_sandbox import agi_commands, failed_media
from web.switches import save_sound

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
