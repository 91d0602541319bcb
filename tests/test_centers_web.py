"""Two centers' web apps on one PostgreSQL database (and the site's one secrets file), as a reverse proxy
would send staff and citizens to either: a session made on one works on the other, with its CSRF token;
wrong passwords, wrong follow pairs, the form's questions and its limits count once across both, so an
attacker who spreads over the centers gets no more tries than from one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer

from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.numbers import case_number
from hotline.settings import Settings
from shell.service import Hotline
from tests.conftest import TEST_SETTINGS
from tests.helpers.portal import answered
from tests.web_site import post_login
from web import auth
from web.app import build_app
from web.throttle import FREE_TRIES, RateLimit

pytestmark = pytest.mark.postgres

PASSWORD = "mật-khẩu-đủ-dài"


@dataclass
class Centers:
    settings: Settings
    a: TestClient  # type: ignore[type-arg]
    b: TestClient  # type: ignore[type-arg]


@pytest.fixture
async def centers(fresh_postgres_url: str, tmp_path: Path) -> AsyncIterator[Centers]:
    settings = site_settings.load(
        TEST_SETTINGS,
        overrides={
            "database.url": fresh_postgres_url,
            "state_dir": str(tmp_path / "state"),  # the secrets file both centers are given
            "recordings.dir": str(tmp_path / "recordings"),
        },
    )
    await upgrade_async(fresh_postgres_url)
    hotlines = [Hotline.build(settings), Hotline.build(settings)]
    await auth.add_user(hotlines[0].db, "sup", PASSWORD, "supervisor", "103")
    clients = [TestClient(TestServer(build_app(settings, h))) for h in hotlines]
    for client in clients:
        await client.start_server()
    try:
        yield Centers(settings, *clients)
    finally:
        for client in clients:
            await client.close()
        for hotline in hotlines:
            await hotline.engine.dispose()


async def test_a_session_made_on_one_center_works_on_the_other_with_its_csrf_token(centers: Centers) -> None:
    signed = await post_login(centers.a, "sup", PASSWORD)
    assert signed.status == 303
    token = signed.cookies[auth.COOKIE].value
    centers.b.session.cookie_jar.update_cookies({auth.COOKIE: token})
    page = await centers.b.get("/cases")
    assert page.status == 200
    csrf = (await page.text()).split('data-csrf="', 1)[1].split('"', 1)[0]
    # The token the page on b carries is the session's: a change posted to a with it is taken.
    centers.a.session.cookie_jar.update_cookies({auth.COOKIE: token})
    out = await centers.a.post("/logout", data={"csrf": csrf}, allow_redirects=False)
    assert out.status == 303
    assert (await centers.b.get("/cases", allow_redirects=False)).status in (302, 303, 401)


async def test_wrong_passwords_spread_over_two_centers_are_slowed_down_as_on_one(centers: Centers) -> None:
    for n in range(FREE_TRIES + 1):
        client = centers.a if n % 2 else centers.b
        assert (await post_login(client, "sup", f"guess {n}")).status == 401
    # The fourth wrong try closed the door for the account and the address on both centers.
    for client in (centers.a, centers.b):
        assert (await post_login(client, "sup", PASSWORD)).status == 429


async def test_wrong_follow_pairs_spread_over_two_centers_count_once(centers: Centers) -> None:
    statuses = []
    for n in range(FREE_TRIES + 2):
        client = centers.a if n % 2 else centers.b
        reply = await client.post(
            "/follow", data={"number": case_number(4711), "phone": "0912000000"}, allow_redirects=False
        )
        statuses.append(reply.status)
    assert statuses[:FREE_TRIES] == [404] * FREE_TRIES and statuses[-1] == 429


def _form(challenge: dict[str, str], phone: str) -> FormData:
    data = FormData()
    values = {
        "topic": "violation",
        "words": "Đèn đường hỏng trước số 5 Lê Lợi",
        "address": "5 Lê Lợi",
        "district": "Phường Hạc Thành",
        "name": "Lê Thị Hoa",
        "phone": phone,
        "notify_by": "sms",
        "consent": "yes",
        **challenge,
    }
    for key, value in values.items():
        data.add_field(key, value)
    return data


async def test_the_forms_question_and_limits_hold_across_centers(centers: Centers) -> None:
    # A question asked by one center is answered on the other, and used up there for both.
    challenge = answered(await (await centers.a.get("/report")).text())
    assert (await centers.b.post("/report", data=_form(challenge, "0912 000 001"))).status == 201
    again = await centers.a.post("/report", data=_form(challenge, "0912 000 002"))
    assert again.status == 400 and "câu hỏi kiểm tra" in await again.text()
    # The address's hourly limit counts submissions on both centers together.
    limit = centers.settings.portal.per_address_hour
    statuses = []
    for n in range(limit - 2):
        client = centers.a if n % 2 else centers.b
        challenge = answered(await (await client.get("/report")).text())
        statuses.append((await client.post("/report", data=_form(challenge, f"0912 000 {100 + n}"))).status)
    assert statuses == [201] * (limit - 2)
    for client in (centers.a, centers.b):
        challenge = answered(await (await client.get("/report")).text())
        refused = await client.post("/report", data=_form(challenge, "0912 000 999"))
        assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0


async def test_a_burst_spread_over_two_centers_passes_the_limit_exactly(fresh_postgres_url: str) -> None:
    await upgrade_async(fresh_postgres_url)
    engines = [make_engine(fresh_postgres_url), make_engine(fresh_postgres_url)]
    limits = [RateLimit(sessions(e), "form_address", b"key", 10, 3600) for e in engines]
    try:
        waits = await asyncio.gather(*(limits[n % 2].take("203.0.113.7") for n in range(30)))
        assert sum(1 for wait in waits if wait == 0) == 10
        assert await limits[0].take("198.51.100.9") == 0  # another key is not held up
    finally:
        for engine in engines:
            await engine.dispose()
