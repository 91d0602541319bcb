"""The web app in real Chromium while calls run on the sandbox: a supervisor signs in and watches a caller
wait in the wallboard's queue, then sit on the agent who answers; the agent's desk opens the case by
itself; the supervisor listens in from their own phone; the recording plays in the browser and the
playback is logged; an agent gets 403 for pages and recordings that are not theirs. Screenshots go to
test-artifacts/."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, CookieJar
from selenium import webdriver
from selenium.webdriver.common.by import By
from sqlalchemy import select

from ami_bridge import agents
from hotline.db.models import AuditEntry, Case, MissedCall
from hotline.settings import Settings
from shell.callsim import CallRequest, place_call
from shell.sandbox.phones import PhoneControl
from shell.sandbox.runner import Sandbox
from shell.service import Hotline
from tests.helpers.browser import PASSWORD, add_users, browser, run, sign_in, until
from tests.helpers.cases import final_case
from tests.processes import eventually
from tests.services import in_process
from tests.web_site import post_login

pytestmark = [pytest.mark.asterisk, pytest.mark.browser]


@pytest.fixture(scope="module")
async def hotline(site: Settings, sandbox: Sandbox) -> AsyncIterator[Hotline]:
    """FastAGI server, bridge and web app in one process, as `hotline serve` runs them."""
    async with in_process(site, web=True) as bridge:
        await add_users(bridge)
        yield bridge


@pytest.fixture(scope="module")
def browsers(chromium: str) -> Iterator[dict[str, webdriver.Chrome]]:
    opened = {"supervisor": browser(chromium), "agent": browser(chromium)}
    yield opened
    for b in opened.values():
        b.quit()


def text(b: webdriver.Chrome, css: str) -> str:
    """Read in one step inside the page: the live screens redraw their rows at every push."""
    found = b.execute_script(
        "const e = document.querySelector(arguments[0]); return e && e.textContent;", css
    )
    return str(found or "")


async def test_supervisor_and_agent_follow_a_call(
    site: Settings, sandbox: Sandbox, hotline: Hotline, browsers: dict[str, webdriver.Chrome], artifacts: Path
) -> None:
    base = f"http://{site.web.host}:{site.web.port}"
    sup, agent = browsers["supervisor"], browsers["agent"]
    await run(sign_in, sup, base, "giamsat", "/wallboard")
    await until(lambda: sup.find_elements(By.CSS_SELECTOR, "[data-queue=violation]"), "the wallboard")
    assert "Bảng theo dõi" in await run(lambda: sup.title)
    await run(sign_in, agent, base, "canbo101", "/desk")
    await until(lambda: agent.find_element(By.ID, "my-state").text not in ("", "…"), "the desk's state")

    await agents.pause(hotline.ami, site, "101", True, "chờ thử")
    call = asyncio.create_task(
        place_call(site, CallRequest("1022", keys="1", hangup_after=30, caller="0903123456"))
    )
    try:
        waiting = "[data-queue=violation] [data-field=waiting]"
        await until(lambda: text(sup, waiting) == "1", "the caller waiting")
        assert "0903123456" in await run(text, sup, "[data-queue=violation] .callers")
        await run(sup.save_screenshot, str(artifacts / "wallboard-caller-waiting.png"))

        await agents.pause(hotline.ami, site, "101", False)
        row = "tr[data-agent='101']"
        await until(
            lambda: sup.find_element(By.CSS_SELECTOR, row).get_attribute("data-state") == "in_call",
            "101 in call",
        )
        assert await run(text, sup, f"{row} [data-field=caller]") == "0903123456"
        assert await run(text, sup, waiting) == "0"
        await run(sup.save_screenshot, str(artifacts / "wallboard-agent-in-call.png"))

        # The agent's desk opened the case by itself.
        number = await until(lambda: agent.find_element(By.ID, "case-number").text, "the case on the desk")
        await until(lambda: agent.find_element(By.ID, "case-form").is_displayed(), "the case form")

        def fill_in() -> None:
            agent.find_element(By.NAME, "category").send_keys("vệ sinh môi trường")
            agent.find_element(By.NAME, "notes").send_keys("Người dân phản ánh đổ rác trái phép.")
            agent.find_element(By.CSS_SELECTOR, "#case-form button").click()

        await run(fill_in)
        await until(lambda: agent.find_element(By.ID, "saved").is_displayed(), "the case saved")
        await run(agent.save_screenshot, str(artifacts / "desk-case-open.png"))

        # Listen in: the supervisor's phone (103) rings, answers by itself and spies on 101.
        listen = "tr[data-agent='101'] button[data-action=listen]"
        assert await run(text, sup, listen) == "Nghe"
        await run(sup.execute_script, "document.querySelector(arguments[0]).click()", listen)
        await until(
            lambda: "ChanSpy" in sandbox.cli("core show channels concise"),
            "ChanSpy on the supervisor's phone",
        )
        result = await call
    finally:
        await agents.pause(hotline.ami, site, "101", False)
        if not call.done():
            await call

    async def closed() -> Case | None:
        async with hotline.db() as session:
            return await session.scalar(
                select(Case).where(Case.linkedid == result.linkedid, Case.ended_at.is_not(None))
            )

    case = None
    deadline = time.monotonic() + 20
    while case is None and time.monotonic() < deadline:
        case = await closed()
        await asyncio.sleep(0.3)
    assert case is not None and case.number == number and case.category == "vệ sinh môi trường"

    # The recording plays in the browser, and the playback is in the audit log.
    await run(sup.get, f"{base}/cases/{number}")
    await run(sup.execute_script, "document.getElementById('recording').play()")
    await until(
        lambda: sup.execute_script("return document.getElementById('recording').currentTime") > 0.5,
        "playback",
    )
    await run(sup.save_screenshot, str(artifacts / "case-recording-playing.png"))
    async with hotline.db() as session:
        logged = list(await session.scalars(select(AuditEntry).where(AuditEntry.target.in_([number, "101"]))))
    assert {"recording.play", "spy.listen", "case.update"} <= {e.action for e in logged}
    assert any(e.actor == "giamsat" and e.action == "recording.play" for e in logged)

    # The agent cannot reach the recording or the supervisors' pages.
    await run(agent.get, f"{base}/api/v1/cases/{number}/recording")
    assert "needs the supervisor role" in await run(lambda: agent.page_source)
    await run(agent.get, f"{base}/wallboard")
    assert await run(lambda: agent.find_element(By.ID, "error").text)
    await run(agent.save_screenshot, str(artifacts / "agent-forbidden.png"))


async def test_reports_draw_their_chart(
    site: Settings, hotline: Hotline, browsers: dict[str, webdriver.Chrome], artifacts: Path
) -> None:
    base = f"http://{site.web.host}:{site.web.port}"
    sup = browsers["supervisor"]
    await run(sup.get, f"{base}/reports")
    report = (By.ID, "report")
    await until(lambda: sup.find_element(*report).get_attribute("data-loaded") == "yes", "the report")
    assert await run(lambda: sup.find_element(*report).get_attribute("data-chart")) == "drawn"
    assert await run(lambda: sup.find_elements(By.CSS_SELECTOR, "#per-agent tr"))
    menu = (By.ID, "menu-report")
    await until(
        lambda: sup.find_element(*menu).get_attribute("data-loaded") == "yes", "where callers give up"
    )
    assert await run(lambda: sup.find_element(*menu).get_attribute("data-chart")) == "drawn"
    assert await run(lambda: sup.find_elements(By.CSS_SELECTOR, "#per-node tr"))
    await run(sup.save_screenshot, str(artifacts / "reports.png"))
    await run(sup.get, f"{base}/cases?outcome=answered")
    assert await run(lambda: sup.find_elements(By.CSS_SELECTOR, "#case-list tbody tr"))
    await run(sup.save_screenshot, str(artifacts / "cases.png"))
    await run(sup.get, f"{base}/wallboard?big=1")
    await until(lambda: sup.find_elements(By.CSS_SELECTOR, "[data-queue]"), "the big screen")
    # Pause and unpause an agent from the wallboard's buttons.
    row = "tr[data-agent='102']"
    state = f'return document.querySelector("{row}").dataset.state'
    await until(lambda: sup.execute_script(state) == "ready", "102 ready")
    click = "document.querySelector(arguments[0]).click()"
    await run(sup.execute_script, click, f"{row} td.actions button:first-child")
    await until(lambda: sup.execute_script(state) == "paused", "102 paused from the wallboard")
    await run(sup.execute_script, click, f"{row} td.actions button:first-child")
    await until(lambda: sup.execute_script(state) == "ready", "102 ready again")
    assert "big" in (await run(lambda: sup.find_element(By.TAG_NAME, "body").get_attribute("class")) or "")
    await run(sup.save_screenshot, str(artifacts / "wallboard-big-screen.png"))


async def test_admin_reads_the_audit_log(
    site: Settings, hotline: Hotline, chromium: str, artifacts: Path
) -> None:
    base = f"http://{site.web.host}:{site.web.port}"
    admin = await run(browser, chromium)
    try:
        await run(sign_in, admin, base, "quantri", "/audit")
        rows = "#audit tbody tr"
        await until(lambda: admin.find_elements(By.CSS_SELECTOR, rows), "audit rows")
        log = await run(text, admin, "#audit tbody")
        assert "sign_in" in log and "giamsat" in log
        await run(admin.get, f"{base}/wallboard")  # an admin can do what a supervisor can
        await until(lambda: admin.find_elements(By.CSS_SELECTOR, "[data-queue]"), "the admin's wallboard")
        await run(admin.get, f"{base}/audit?lang=en")
        await until(lambda: "Audit log" in admin.title, "the English page")
        await run(admin.save_screenshot, str(artifacts / "audit-log.png"))
    finally:
        await run(admin.quit)


async def test_whisper_and_barge_run_chanspy_with_their_options(
    site: Settings, sandbox: Sandbox, hotline: Hotline
) -> None:
    """Through the API as a signed-in supervisor: each mode rings the supervisor's phone (103), which
    answers by itself and runs ChanSpy on agent 101's channel with that mode's options."""
    base = f"http://{site.web.host}:{site.web.port}"
    call = asyncio.create_task(place_call(site, CallRequest("1022", keys="1", hangup_after=40)))
    try:
        await until(
            lambda: hotline.board.agents["101"].state == "in_call" and hotline.board.agents["101"].call,
            "101 in a call",
            timeout=45,
        )
        async with ClientSession(base, cookie_jar=CookieJar(unsafe=True)) as http:  # an IP address
            await post_login(http, "giamsat", PASSWORD)
            page = await (await http.get("/wallboard")).text()
            csrf = page.split('data-csrf="', 1)[1].split('"', 1)[0]
            for mode, options in (("whisper", "qwE"), ("barge", "qBE")):
                reply = await http.post(
                    "/api/v1/agents/101/spy", json={"mode": mode}, headers={"X-CSRF-Token": csrf}
                )
                assert reply.status == 200, await reply.text()
                spying = await until(
                    lambda: [
                        line
                        for line in sandbox.cli("core show channels concise").splitlines()
                        if line.startswith("PJSIP/agent103-") and "!ChanSpy!" in line
                    ],
                    f"ChanSpy ({mode}) on 103's phone",
                )
                assert f"PJSIP/agent101-,{options}" in spying[0], spying
                # Hang the supervisor's phone up before the next mode.
                await hotline.ami.action("Hangup", Channel=spying[0].split("!", 1)[0])
                await until(
                    lambda: "!ChanSpy!" not in sandbox.cli("core show channels concise"), "ChanSpy ended"
                )
    finally:
        await call


async def test_an_agent_calls_a_missed_caller_back_from_the_worklist(
    site: Settings,
    hotline: Hotline,
    browsers: dict[str, webdriver.Chrome],
    phones: dict[str, PhoneControl],
    artifacts: Path,
) -> None:
    base = f"http://{site.web.host}:{site.web.port}"
    number = f"0967{random.randrange(10**6):06d}"
    missed = await place_call(site, CallRequest("1022", keys="1", hangup_after=2, caller=number))
    await final_case(site, missed.linkedid, timeout=30)
    async with hotline.db() as session:
        entry = await session.scalar(select(MissedCall.id).where(MissedCall.caller == number))
    assert entry is not None
    agent = browsers["agent"]
    await run(sign_in, agent, base, "canbo101", "/worklist")
    row = f"#missed tr[data-id='{entry}']"
    await until(lambda: agent.find_elements(By.CSS_SELECTOR, row), "the missed call on the worklist")
    await run(agent.save_screenshot, str(artifacts / "worklist.png"))
    await run(lambda: agent.find_element(By.CSS_SELECTOR, f"{row} button[data-action=call]").click())

    async def talking() -> bool:
        channels = await hotline.ami.action_list("CoreShowChannels")
        return any(
            str(m.get("Channel", "")).startswith(f"Local/{number}@") and m.get("ChannelStateDesc") == "Up"
            for m in channels
        )

    await eventually(talking, "the citizen answering the agent's call back", timeout=30)
    await phones["101"].hangup()
    await run(lambda: agent.find_element(By.CSS_SELECTOR, f"{row} button[data-action=reached]").click())
    await until(
        lambda: agent.find_element(By.CSS_SELECTOR, row).get_attribute("data-status") == "reached",
        "the entry closed as reached",
    )


async def test_a_supervisor_turns_the_announcement_on_and_the_wallboard_shows_it(
    site: Settings, hotline: Hotline, browsers: dict[str, webdriver.Chrome], artifacts: Path
) -> None:
    base = f"http://{site.web.host}:{site.web.port}"
    sup = browsers["supervisor"]
    await run(sup.get, f"{base}/switches")
    await run(lambda: sup.find_element(By.CSS_SELECTOR, "#announcement-form textarea").send_keys("Bão số 3"))
    await run(lambda: sup.find_element(By.CSS_SELECTOR, "#announcement-form button").click())
    await until(
        lambda: sup.find_element(By.ID, "announcement-state").get_attribute("data-on") == "yes",
        "the announcement on",
    )
    await run(sup.get, f"{base}/wallboard")
    await until(
        lambda: "Bão số 3" in sup.find_element(By.ID, "switches-banner").text, "the wallboard's banner"
    )
    await run(sup.save_screenshot, str(artifacts / "wallboard-announcement.png"))
    await run(sup.get, f"{base}/switches")
    await run(lambda: sup.find_element(By.ID, "announcement-off").click())
    await until(
        lambda: sup.find_element(By.ID, "announcement-state").get_attribute("data-on") == "no",
        "the announcement off",
    )
    async with hotline.db() as session:
        logged = [
            e.action for e in await session.scalars(select(AuditEntry).where(AuditEntry.actor == "giamsat"))
        ]
    assert {"switch.announcement.on", "switch.announcement.off"} <= set(logged)
