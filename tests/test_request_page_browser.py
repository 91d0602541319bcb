"""A request's page in Chromium as the people who work in it read it: the citizen's words, place and
photo (a thumbnail) first; the deadline as the time left, in the site's time; the next step open and the
others a click away, per role (the agency's accept, the supervisor's approval); names, not codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By

from casework import attachments, file_worker
from casework import workflow as wf
from hotline.db.models import Role
from tests.helpers.browser import browser, run, until
from tests.helpers.files import PNG
from tests.helpers.requests import add_agency_users
from tests.web_site import PASSWORD, Site, site

__all__ = ["site"]  # the fixture
pytestmark = pytest.mark.browser
AGENT = wf.Actor("an", Role.AGENT)


def _sign_in(b: webdriver.Chrome, base: str, name: str, then: str) -> None:
    b.delete_all_cookies()
    b.get(f"{base}/login?next={then}")
    b.find_element(By.NAME, "username").send_keys(name)
    b.find_element(By.NAME, "password").send_keys(PASSWORD)
    b.find_element(By.CSS_SELECTOR, "#login button").click()


def _boxes(b: webdriver.Chrome) -> dict[str, bool]:
    """Each step's box on the page, and whether it is open."""
    return {
        (e.get_attribute("id") or "").removeprefix("box-"): e.get_attribute("open") is not None
        for e in b.find_elements(By.CSS_SELECTOR, "details.step-box")
    }


async def test_the_request_page_puts_the_citizen_and_the_next_step_first(site: Site, chromium: str) -> None:
    await add_agency_users(site)
    now = datetime.now(UTC)
    checked = await file_worker.check_file("den-hong.png", PNG)
    async with site.hotline.db() as session, session.begin():
        r = wf.open_request(
            "80000900",
            AGENT,
            now - timedelta(hours=2),
            topic="violation",
            words="Đèn đường trước số 12 phố Lê Lai hỏng",
            channel="web",
            district="Hạc Thành",
            places=site.settings.places(),
        )
        wf.forward(site.settings, r, AGENT, "quan_1", now)
        r.accept_due_at = r.due_at = datetime(2030, 12, 9, 1, 30, tzinfo=UTC)  # 08:30 in Vietnam
        stored = attachments.store(site.settings.request_files_path, checked, "citizen", "citizen@x")
        stored.at = now
        r.files.append(stored)
        session.add(r)
    base = str(site.client.make_url("")).rstrip("/")
    b = browser(chromium)
    try:
        await run(_sign_in, b, base, "quan1", "/requests/80000900")
        await until(lambda: b.find_element(By.ID, "request"), "the request's page")
        assert (
            await run(lambda: b.find_element(By.ID, "words").text) == "Đèn đường trước số 12 phố Lê Lai hỏng"
        )
        assert await run(lambda: b.find_element(By.ID, "ward").text) == "Phường Hạc Thành"
        topic = await run(lambda: b.find_element(By.ID, "topic").text)
        assert topic.startswith("Phản ánh vi phạm quy định")
        assert await run(lambda: b.find_element(By.ID, "agency").text) == "UBND Quận 1"
        due = await run(lambda: b.find_element(By.ID, "due-line").text)
        assert "09/12/2030 08:30" in due and "còn" in due
        width = await until(
            lambda: b.execute_script("return document.querySelector('img.thumb').naturalWidth"),
            "the thumbnail",
        )
        assert width == 4
        # The agency came to accept it: that is open; returning it or asking for time are a click away.
        boxes = await run(_boxes, b)
        assert boxes["accept"] and not boxes["return"] and not boxes["extension"]
        assert not await run(lambda: b.find_element(By.CSS_SELECTOR, "#step-return textarea").is_displayed())
        await run(lambda: b.find_element(By.CSS_SELECTOR, "#box-return summary").click())
        assert await run(lambda: b.find_element(By.CSS_SELECTOR, "#step-return textarea").is_displayed())
        await run(lambda: b.find_element(By.CSS_SELECTOR, "#step-accept button").click())
        await until(
            lambda: b.find_element(By.ID, "request").get_attribute("data-status") == "accepted", "accepted"
        )
        assert (await run(_boxes, b))["answer"]
        # The supervisor, once it is answered: approving is open, sending it back a click away.
        async with site.hotline.db() as session, session.begin():
            found = await session.get(type(r), r.id)
            assert found is not None
            found.status, found.answer, found.answered_at = "answered", "Đã thay bóng đèn", now
        await run(_sign_in, b, base, "sup", "/requests/80000900")
        await until(
            lambda: b.find_element(By.ID, "request").get_attribute("data-status") == "answered", "answered"
        )
        boxes = await run(_boxes, b)
        assert boxes["approve"] and not boxes["send_back"]
    finally:
        b.quit()


async def test_the_list_by_keyboard_with_filters_pages_and_export(site: Site, chromium: str) -> None:
    now = datetime.now(UTC)
    async with site.hotline.db() as session, session.begin():
        for i in range(60):
            words = "Đèn đường hỏng" if i % 2 else "Nước giếng có mùi"
            r = wf.open_request(
                f"8100{i:04d}", AGENT, now - timedelta(hours=i), topic="violation", words=words
            )
            session.add(r)
    base = str(site.client.make_url("")).rstrip("/")
    b = browser(chromium)
    try:
        await run(_sign_in, b, base, "sup", "/requests")
        await until(lambda: b.find_element(By.ID, "requests"), "the list")

        def rows() -> list[str]:
            return [
                r.get_attribute("data-number") or ""
                for r in b.find_elements(By.CSS_SELECTOR, "#requests tbody tr[data-number]")
            ]

        assert len(await run(rows)) == 50 and await run(lambda: b.find_element(By.ID, "total").text) == "60"
        await run(lambda: b.find_element(By.CSS_SELECTOR, "a[rel=next]").click())
        await until(lambda: len(rows()) == 10, "the second page")

        def search() -> None:
            b.find_element(By.TAG_NAME, "body").send_keys("/")  # "/" goes to the search box
            b.switch_to.active_element.send_keys("Đèn đường\n")

        await run(search)
        await until(lambda: b.find_element(By.ID, "total").text == "30", "the search's 30")
        # j moves down the rows, Enter opens the one chosen.
        await run(lambda: b.find_element(By.TAG_NAME, "body").send_keys("jj"))
        chosen = await run(
            lambda: b.find_element(By.CSS_SELECTOR, "#requests tr.chosen").get_attribute("data-number")
        )
        assert chosen == (await run(rows))[1]
        await run(lambda: b.switch_to.active_element.send_keys("\n"))
        await until(
            lambda: b.find_element(By.ID, "request").get_attribute("data-number") == chosen, "the request"
        )
        b.back()
        export = await run(lambda: b.find_element(By.ID, "export").get_attribute("href"))
        assert export.startswith(f"{base}/requests.csv?") and "q=" in export
    finally:
        b.quit()
