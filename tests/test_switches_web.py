"""The emergency switches through the web app, on a real SQLite database and a real HTTP server: a typed
announcement synthesised, an uploaded one converted, a file that is no sound refused, end times checked,
the hours forced and given back, each change audited and only by supervisors."""

from __future__ import annotations

import wave
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import FormData
from sqlalchemy import select

from agi_scripts.switches_app import pin_matches
from hotline.db.models import AuditEntry, User
from tests.web_site import Site, sign_in, site, wav

__all__ = ["site"]  # the fixture


def later(site: Site, **delta: float) -> str:
    return (datetime.now(ZoneInfo(site.settings.site.timezone)) + timedelta(**delta)).strftime(
        "%Y-%m-%dT%H:%M"
    )


async def test_a_typed_announcement_is_synthesised_for_asterisk_and_turned_off(site: Site) -> None:
    csrf = {"X-CSRF-Token": await sign_in(site, "sup")}
    reply = await site.client.post(
        "/api/v1/switches/announcement",
        json={"text": "Do mưa bão, đường dây đang quá tải.\x07", "until": later(site, hours=2)},
        headers=csrf,
    )
    assert reply.status == 200, await reply.text()
    on = await reply.json()
    assert on["announcement"].startswith("announcements/a-") and "\x07" not in on["announcement_text"]
    sound = site.settings.sounds_path / "vi" / "hotline" / f"{on['announcement']}.wav"
    with wave.open(str(sound)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() > 8000  # more than a second of speech
    assert (await (await site.client.get("/api/v1/switches")).json())["announcement"] == on["announcement"]
    off = await site.client.post("/api/v1/switches/announcement/off", headers=csrf)
    assert (await off.json())["announcement"] is None
    async with site.hotline.db() as session:
        actions = [a.action for a in await session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[-2:] == ["switch.announcement.on", "switch.announcement.off"]


async def test_an_uploaded_announcement_is_converted_and_a_file_that_is_no_sound_refused(site: Site) -> None:
    csrf = {"X-CSRF-Token": await sign_in(site, "sup")}

    def form(data: bytes, until: str) -> FormData:
        f = FormData()
        f.add_field("sound", data, filename="a.wav", content_type="audio/wav")
        f.add_field("until", until)
        return f

    good = wav(site.settings.state_path / "upload.wav").read_bytes()
    reply = await site.client.post(
        "/api/v1/switches/announcement", data=form(good, later(site, hours=1)), headers=csrf
    )
    assert reply.status == 200, await reply.text()
    assert (await reply.json())["announcement_text"] == ""
    for data, until, error in (
        (b"RIFF\x00\x00not a sound at all" * 10, later(site, hours=1), "not a sound"),
        (good, later(site, hours=-1), "has passed"),
        (good, later(site, days=9), "at most 7 days"),
        (good, "tomorrow", "YYYY-MM-DD"),
    ):
        refused = await site.client.post(
            "/api/v1/switches/announcement", data=form(data, until), headers=csrf
        )
        assert refused.status == 400 and error in (await refused.json())["error"], error
    empty = await site.client.post(
        "/api/v1/switches/announcement", json={"until": later(site, hours=1)}, headers=csrf
    )
    assert empty.status == 400


async def test_the_hours_are_forced_until_an_end_or_given_back_and_agents_may_only_look(site: Site) -> None:
    csrf = {"X-CSRF-Token": await sign_in(site, "sup")}
    closed = await site.client.post(
        "/api/v1/switches/hours", json={"mode": "closed", "until": later(site, hours=3)}, headers=csrf
    )
    assert (await closed.json())["hours"] == "closed"
    wrong = await site.client.post("/api/v1/switches/hours", json={"mode": "maybe"}, headers=csrf)
    assert wrong.status == 400
    back = await site.client.post("/api/v1/switches/hours", json={"mode": "auto"}, headers=csrf)
    assert (await back.json())["hours"] is None
    page = await (await site.client.get("/switches")).text()
    assert 'id="hours-form"' in page
    csrf = {"X-CSRF-Token": await sign_in(site, "an")}
    assert (await site.client.get("/api/v1/switches")).status == 200
    refused = await site.client.post(
        "/api/v1/switches/hours", json={"mode": "open", "until": later(site, hours=1)}, headers=csrf
    )
    assert refused.status == 403


async def test_a_supervisor_sets_a_phone_pin_that_is_hashed_and_a_weak_one_is_refused(site: Site) -> None:
    csrf = {"X-CSRF-Token": await sign_in(site, "sup")}
    for weak in ("1111", "12", "123456789", "12a4", "١٢٣٤"):
        reply = await site.client.post("/api/v1/me/phone-pin", json={"pin": weak}, headers=csrf)
        assert reply.status == 400, weak
    reply = await site.client.post("/api/v1/me/phone-pin", json={"pin": "24680"}, headers=csrf)
    assert (await reply.json()) == {"ok": True, "extension": "103"}
    async with site.hotline.db() as session:
        user = await session.scalar(select(User).where(User.username == "sup"))
    assert (
        user is not None and user.phone_pin_hash.startswith("$argon2") and "24680" not in user.phone_pin_hash
    )
    assert pin_matches(user.phone_pin_hash, "24680") and not pin_matches(user.phone_pin_hash, "24681")
    csrf = {"X-CSRF-Token": await sign_in(site, "an")}
    assert (await site.client.post("/api/v1/me/phone-pin", json={"pin": "97531"}, headers=csrf)).status == 403
