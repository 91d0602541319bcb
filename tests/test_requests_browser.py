"""From call to answer in Chromium, on the sandbox: an agent answers a real call, opens the citizen's request
from the desk (it takes the number the IVR read) and forwards it; the agency's user signs in to their
portal, accepts it and answers with a photo; the supervisor approves it. Every step is in its history."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ami_bridge import agents
from casework import workflow as wf
from hotline.db.models import Case, CitizenRequest, Role
from hotline.settings import Settings
from shell.callsim import CallRequest, place_call
from shell.sandbox.runner import Sandbox
from shell.service import Hotline
from tests.helpers.browser import PASSWORD, add_users, browser, run, sign_in, until
from tests.helpers.files import PNG
from tests.services import in_process
from web import auth

pytestmark = [pytest.mark.asterisk, pytest.mark.browser]


@pytest.fixture(scope="module")
async def hotline(site: Settings, sandbox: Sandbox) -> AsyncIterator[Hotline]:
    async with in_process(site, web=True) as bridge:
        await add_users(bridge)
        with contextlib.suppress(auth.AuthError):  # made by an earlier run on this database
            await auth.add_user(bridge.db, "quan1", PASSWORD, "agency", agency="quan_1")
        yield bridge


@pytest.fixture(scope="module")
def three(chromium: str) -> Iterator[dict[str, webdriver.Chrome]]:
    opened = {"agent": browser(chromium), "agency": browser(chromium), "supervisor": browser(chromium)}
    yield opened
    for b in opened.values():
        b.quit()


def click(b: webdriver.Chrome, css: str) -> None:
    if css.startswith("#step-"):
        opened(b, css.split()[0].removeprefix("#step-"))
    b.find_element(By.CSS_SELECTOR, css).click()


def opened(b: webdriver.Chrome, step: str) -> None:
    """A step's form, opened as a person opens it: the next step is open, the others a click away."""
    box = b.find_element(By.ID, f"box-{step}")
    if box.get_attribute("open") is None:
        box.find_element(By.TAG_NAME, "summary").click()


def take_step(b: webdriver.Chrome, step: str, **fields: str) -> None:
    """Fill a step's form on the request page (text, or a file's path) and send it."""
    opened(b, step)
    for name, value in fields.items():
        b.find_element(By.CSS_SELECTOR, f"#step-{step} [name={name}]").send_keys(value)
    click(b, f"#step-{step} button")


async def test_a_call_becomes_a_request_that_an_agency_answers_and_the_center_approves(
    site: Settings, sandbox: Sandbox, hotline: Hotline, three: dict[str, webdriver.Chrome], tmp_path: Path
) -> None:
    base = f"http://{site.web.host}:{site.web.port}"
    agent, agency, sup = three["agent"], three["agency"], three["supervisor"]
    photo = tmp_path / "lan-chiem-via-he.png"
    photo.write_bytes(PNG)
    await run(sign_in, agent, base, "canbo101", "/desk")
    await until(lambda: agent.find_element(By.ID, "my-state").text not in ("", "…"), "the desk's state")
    await agents.pause(hotline.ami, site, "101", False)
    call = asyncio.create_task(
        place_call(site, CallRequest("1022", keys="1", hangup_after=40, caller="0903555777"))
    )
    try:
        case_number = await until(
            lambda: agent.find_element(By.ID, "case-number").text, "the case on the desk"
        )
        await until(lambda: agent.find_element(By.ID, "request-form").is_displayed(), "the request form")

        def open_request() -> None:
            form = agent.find_element(By.ID, "request-form")
            Select(form.find_element(By.NAME, "topic")).select_by_value("violation")
            form.find_element(By.NAME, "words").send_keys("Lấn chiếm vỉa hè trước số 12 đường Lê Lợi")
            form.find_element(By.CSS_SELECTOR, "button").click()

        await run(open_request)
        number = await until(
            lambda: agent.find_element(By.CSS_SELECTOR, "#request-opened a").text, "the request"
        )
        assert number == case_number  # the number the IVR read to the caller

        # The agent forwards it to the district (suggested by the topic), with an instruction.
        await run(agent.get, f"{base}/requests/{number}")
        assert await run(
            lambda: Select(agent.find_element(By.NAME, "agency")).first_selected_option.text
        ) == ("UBND Quận 1")

        await run(lambda: take_step(agent, "forward", instructions="Kiểm tra, xử lý trong ngày"))
        await until(
            lambda: agent.find_element(By.ID, "request").get_attribute("data-status") == "forwarded",
            "forwarded",
        )
        result = await call
    finally:
        if not call.done():
            call.cancel()

    # The district's user: their portal lists it; they accept, then answer with a photo.
    await run(sign_in, agency, base, "quan1", "/")
    await until(
        lambda: agency.find_elements(By.CSS_SELECTOR, f"tr[data-number='{number}']"), "the portal's list"
    )
    await run(click, agency, f"tr[data-number='{number}'] a")
    assert "Kiểm tra, xử lý trong ngày" in await run(lambda: agency.find_element(By.ID, "instructions").text)
    await run(click, agency, "#step-accept button")
    await until(lambda: agency.find_elements(By.ID, "step-answer"), "the answer form")

    await run(
        lambda: take_step(
            agency,
            "answer",
            text="Đã lập biên bản, yêu cầu tháo dỡ; ảnh hiện trạng sau xử lý.",
            file=str(photo),
        )
    )
    await until(
        lambda: agency.find_element(By.ID, "request").get_attribute("data-status") == "answered", "answered"
    )
    assert "lan-chiem-via-he.png" in await run(lambda: agency.find_element(By.ID, "files").text)
    # Nothing of the center's: not the call's recording, not the wallboard.
    await run(agency.get, f"{base}/wallboard")
    assert await run(lambda: agency.find_element(By.ID, "error").text)

    # The supervisor approves: closed, the citizen told.
    await run(sign_in, sup, base, "giamsat", f"/requests/{number}")
    await until(lambda: sup.find_elements(By.ID, "step-approve"), "the approve form")
    await run(click, sup, "#step-approve button")
    await until(lambda: sup.find_element(By.ID, "request").get_attribute("data-status") == "closed", "closed")
    history = await run(lambda: sup.find_element(By.ID, "history").text)
    for step in ("Tiếp nhận", "Chuyển cơ quan", "Cơ quan tiếp nhận", "Cơ quan trả lời", "Kết thúc"):
        assert step in history, history
    async with hotline.db() as session:
        heard = await session.scalar(select(Case.number).where(Case.linkedid == result.linkedid))
    assert heard == number  # the call's case and the request: the number the IVR read to the caller


async def opened_by_api(hotline: Hotline, topic: str, words: str, phone: str = "") -> str:
    """A request the center typed in (no call), forwarded to the district."""
    center = wf.Actor("canbo101", Role.AGENT)
    number = await hotline.numbers.next_number()
    async with hotline.db() as session, session.begin():
        request = wf.open_request(
            number, center, datetime.now(UTC), topic=topic, words=words, channel="center", contact_phone=phone
        )
        session.add(request)
        wf.forward(hotline.settings, request, center, "quan_1", datetime.now(UTC), "Xử lý theo thẩm quyền")
    return number


async def test_the_supervisor_sends_an_answer_back_with_a_remark(
    site: Settings, hotline: Hotline, three: dict[str, webdriver.Chrome]
) -> None:
    base = f"http://{site.web.host}:{site.web.port}"
    agency, sup = three["agency"], three["supervisor"]
    number = await opened_by_api(hotline, "suggestion", "Đề nghị lắp đèn đường hẻm 45")
    await run(sign_in, agency, base, "quan1", f"/requests/{number}")
    await until(lambda: agency.find_elements(By.ID, "step-accept"), "the accept form")
    await run(click, agency, "#step-accept button")
    await until(lambda: agency.find_elements(By.ID, "step-answer"), "the answer form")

    await run(lambda: take_step(agency, "answer", text="Sẽ lắp đèn"))
    await run(sign_in, sup, base, "giamsat", f"/requests/{number}")
    await until(lambda: sup.find_elements(By.ID, "step-send_back"), "the send-back form")

    await run(lambda: take_step(sup, "send_back", remark="Nêu rõ thời gian lắp"))
    await until(
        lambda: sup.find_element(By.ID, "request").get_attribute("data-status") == "accepted", "sent back"
    )
    # The agency sees the remark and answers again.
    await run(agency.get, f"{base}/requests/{number}")
    assert await run(lambda: agency.find_element(By.ID, "remark").text) == "Nêu rõ thời gian lắp"
    await run(lambda: take_step(agency, "answer", text="Lắp trong tháng 12/2026"))
    await until(
        lambda: agency.find_element(By.ID, "request").get_attribute("data-status") == "answered",
        "answered again",
    )


async def test_the_agency_returns_a_request_that_is_not_theirs(
    site: Settings, hotline: Hotline, three: dict[str, webdriver.Chrome]
) -> None:
    base = f"http://{site.web.host}:{site.web.port}"
    agency, sup = three["agency"], three["supervisor"]
    number = await opened_by_api(hotline, "health", "Cơ sở khám bệnh không phép")

    await run(sign_in, agency, base, "quan1", f"/requests/{number}")
    await until(lambda: agency.find_elements(By.ID, "step-return"), "the return form")
    await run(lambda: take_step(agency, "return", reason="Thuộc thẩm quyền Sở Y tế"))
    # Back with the center, gone from the district's portal; the supervisor sees why and forwards it on.
    await until(lambda: agency.find_elements(By.ID, "error"), "no longer the district's")
    await run(sign_in, sup, base, "giamsat", f"/requests/{number}")
    await until(
        lambda: sup.find_element(By.ID, "request").get_attribute("data-status") == "received", "returned"
    )
    assert "Cơ quan trả lại" in await run(lambda: sup.find_element(By.ID, "history").text)
    await run(lambda: Select(sup.find_element(By.NAME, "agency")).select_by_value("so_y_te"))
    await run(click, sup, "#step-forward button")
    await until(lambda: sup.find_element(By.ID, "agency").text == "Sở Y tế", "forwarded to the department")


async def test_a_repeat_callers_open_request_is_on_the_desk_and_the_call_is_linked(
    site: Settings, hotline: Hotline, three: dict[str, webdriver.Chrome]
) -> None:
    base = f"http://{site.web.host}:{site.web.port}"
    agent = three["agent"]
    number = await opened_by_api(hotline, "violation", "Tiếng ồn công trình ban đêm", phone="0903666888")
    await run(agent.get, f"{base}/desk")
    await until(lambda: agent.find_element(By.ID, "my-state").text not in ("", "…"), "the desk's state")
    await agents.pause(hotline.ami, site, "101", False)
    call = asyncio.create_task(
        place_call(site, CallRequest("1022", keys="1", hangup_after=25, caller="0903666888"))
    )
    try:
        link = f"#open-requests li[data-request='{number}'] button"
        await until(
            lambda: agent.find_elements(By.CSS_SELECTOR, link), "the caller's open request on the desk"
        )
        await run(click, agent, link)
        await until(
            lambda: "Đã gắn" in agent.find_element(By.CSS_SELECTOR, f"li[data-request='{number}']").text,
            "linked",
        )
    finally:
        result = await call
    await run(agent.get, f"{base}/requests/{number}")
    assert "Gắn cuộc gọi" in await run(lambda: agent.find_element(By.ID, "history").text)
    async with hotline.db() as session:
        request = await session.scalar(
            select(CitizenRequest)
            .where(CitizenRequest.number == number)
            .options(selectinload(CitizenRequest.contacts))
        )
        case_ids = {k.case_id for k in request.contacts} if request else set()
        linked = await session.scalar(select(Case.linkedid).where(Case.id.in_([i for i in case_ids if i])))
    assert linked == result.linkedid  # this call, linked to the request


async def test_the_citizen_follows_rates_and_reopens_and_reads_the_published_answer(
    site: Settings, hotline: Hotline, three: dict[str, webdriver.Chrome], chromium: str
) -> None:
    base = f"http://{site.web.host}:{site.web.port}"
    agency, sup = three["agency"], three["supervisor"]
    number = await opened_by_api(
        hotline, "violation", "Nguyễn Văn Tư báo: rác đổ trộm ở hẻm 45", "0903555777"
    )
    district, supervisor = wf.Actor("quan1", Role.AGENCY, "quan_1"), wf.Actor("giamsat", Role.SUPERVISOR)
    async with hotline.db() as session, session.begin():
        request = await session.scalar(
            select(CitizenRequest)
            .where(CitizenRequest.number == number)
            .options(selectinload(CitizenRequest.events), selectinload(CitizenRequest.assignments))
        )
        assert request is not None
        wf.accept(request, district, datetime.now(UTC))
        wf.answer(request, district, datetime.now(UTC), "Đã thu gom rác và lắp biển cấm đổ rác")
        wf.approve(request, supervisor, datetime.now(UTC))

    # The supervisor publishes the answer under a question without personal data.
    await run(sign_in, sup, base, "giamsat", f"/requests/{number}")
    await until(lambda: sup.find_elements(By.ID, "step-publish"), "the publish form")

    await run(lambda: take_step(sup, "publish", question="Rác đổ trộm trong hẻm thì báo ở đâu?"))
    await until(lambda: sup.find_elements(By.ID, "step-withdraw"), "published")

    citizen = browser(chromium)
    try:

        def look_up(phone: str) -> None:
            citizen.get(f"{base}/follow")
            citizen.find_element(By.NAME, "number").send_keys(number)
            citizen.find_element(By.NAME, "phone").send_keys(phone)
            click(citizen, "#follow-form button")

        await run(look_up, "0903 555 778")  # a wrong pair: refused, nothing shown
        assert "Không tìm thấy" in await until(
            lambda: citizen.find_element(By.ID, "follow-error").text, "refused"
        )
        await run(look_up, "+84 903 555 777")
        answer = await until(lambda: citizen.find_element(By.ID, "citizen-answer").text, "the answer")
        assert answer == "Đã thu gom rác và lắp biển cấm đổ rác"
        page = await run(lambda: citizen.page_source)
        assert "0903555777" not in page and "Nguyễn Văn Tư" not in page and "hẻm 45" not in page

        def rate() -> None:
            click(citizen, "#rate input[value='5']")
            click(citizen, "#rate button")

        await run(rate)
        assert (
            await until(lambda: citizen.find_element(By.ID, "citizen-rating").text, "the rating") == "5 / 5"
        )

        # The public list of answers, by topic.
        await run(citizen.get, f"{base}/answers?topic=violation")
        listed = await run(lambda: citizen.find_element(By.ID, "answers").text)
        assert "Rác đổ trộm trong hẻm thì báo ở đâu?" in listed and "Đã thu gom rác" in listed

        # Not satisfied: reopened, and back with the district.
        await run(citizen.get, f"{base}/follow/{number}")

        def reopen() -> None:
            citizen.find_element(By.CSS_SELECTOR, "#reopen textarea[name=why]").send_keys(
                "Rác vẫn bị đổ mỗi đêm"
            )
            click(citizen, "#reopen button")

        await run(reopen)
        await until(
            lambda: citizen.find_element(By.ID, "followed").get_attribute("data-status") == "forwarded",
            "reopened, with the agency",
        )
        await run(sign_in, agency, base, "quan1", "/requests")
        await until(
            lambda: agency.find_elements(By.CSS_SELECTOR, f"tr[data-number='{number}']"), "the portal"
        )
        await run(citizen.get, f"{base}/answers?topic=violation")
        assert "Rác đổ trộm" not in await run(lambda: citizen.find_element(By.ID, "answers").text)

        # Many wrong pairs in a row: after three free ones the door closes for 2 s, 4 s, ...: the page says
        # to wait (a slow browser may find the first short wait over).
        said = []
        for digits in ("100", "101", "102", "103", "104", "105"):
            await run(look_up, digits)
            said.append(await until(lambda: citizen.find_element(By.ID, "follow-error").text, "the refusal"))
        assert "Không tìm thấy" in said[0] and any("nhiều lần" in s for s in said), said
    finally:
        citizen.quit()
