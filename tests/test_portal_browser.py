"""The public form in Chromium at a phone's size: a citizen picks the topic, writes, types the pre-2025
name of their ward and picks the 2025 ward it offers, attaches two photos, answers the check question and
sends; the page gives the number and the link, which opens the request."""

from __future__ import annotations

from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from hotline.db.models import CitizenRequest
from tests.helpers.browser import browser, run, until
from tests.helpers.files import PNG, jpeg_with_gps
from tests.helpers.portal import solve
from tests.web_site import Site, site

__all__ = ["site"]  # the fixture
pytestmark = pytest.mark.browser


async def test_a_citizen_sends_the_form_from_a_phone_with_two_photos(
    site: Site, chromium: str, tmp_path: Path
) -> None:
    photos = [tmp_path / "IMG_0001.jpg", tmp_path / "so-do.png"]
    photos[0].write_bytes(jpeg_with_gps())
    photos[1].write_bytes(PNG)
    phone: webdriver.Chrome = browser(chromium)
    try:
        phone.set_window_size(390, 844)

        def fill() -> None:
            phone.get(str(site.client.make_url("/report")))
            Select(phone.find_element(By.NAME, "topic")).select_by_value("violation")
            phone.find_element(By.NAME, "words").send_keys("Lấn chiếm vỉa hè trước cổng trường")
            phone.find_element(By.NAME, "district").send_keys("dien bien")

        await run(fill)
        offered = await until(
            lambda: [
                o.get_attribute("value")
                for o in phone.find_elements(By.CSS_SELECTOR, "#district-wards option")
                if "Hạc Thành" in (o.get_attribute("value") or "")
            ],
            "the ward offered for the old name",
        )
        assert offered == ["Phường Hạc Thành (Phường Điện Biên, Thành phố Thanh Hóa)"]

        def pick_and_send() -> None:
            district = phone.find_element(By.NAME, "district")
            district.clear()
            district.send_keys(offered[0])
            assert phone.find_element(By.NAME, "ward").get_attribute("value") == "14797"
            phone.find_element(By.NAME, "share_place").click()
            phone.find_element(By.NAME, "phone").send_keys("0912 345 678")
            phone.find_element(By.NAME, "files").send_keys("\n".join(str(p) for p in photos))
            phone.find_element(By.NAME, "consent").click()
            label = phone.find_element(By.NAME, "challenge").find_element(By.XPATH, "..").text
            question = label.split(": ", 1)[1]
            phone.find_element(By.NAME, "challenge").send_keys(str(solve(question)))
            phone.find_element(By.CSS_SELECTOR, "#report-form button[type=submit]").click()

        await run(pick_and_send)
        number = await until(lambda: phone.find_element(By.ID, "request-number").text, "the number")
        # The form fits the phone: nothing wider than the screen.
        wide, screen = await run(
            lambda: phone.execute_script(
                "const e = document.documentElement; return [e.scrollWidth, e.clientWidth];"
            )
        )
        assert wide <= screen
        await run(lambda: phone.find_element(By.ID, "follow-link").click())
        status = await until(
            lambda: phone.find_element(By.ID, "followed").get_attribute("data-status"), "the follow page"
        )
        assert status == "received" and number in await run(
            lambda: phone.find_element(By.ID, "followed").text
        )
    finally:
        phone.quit()
    async with site.hotline.db() as session:
        request = await session.scalar(
            select(CitizenRequest)
            .where(CitizenRequest.number == number)
            .options(selectinload(CitizenRequest.files))
        )
    assert request is not None and len(request.files) == 2 and request.latitude == 10.7769
    # The ward picked, not the photo's position (elsewhere), and the place as the citizen typed it.
    assert (request.ward_code, request.ward_basis) == ("14797", "picked")
    assert request.district.startswith("Phường Hạc Thành (Phường Điện Biên")


async def test_a_typed_position_suggests_its_ward(site: Site, chromium: str) -> None:
    ward = site.settings.places().wards["16522"]  # Phường Quảng Phú
    phone: webdriver.Chrome = browser(chromium)
    try:

        def type_position() -> None:
            phone.get(str(site.client.make_url("/report")))
            phone.find_element(By.NAME, "latitude").send_keys(str(ward.latitude))
            phone.find_element(By.NAME, "longitude").send_keys(str(ward.longitude))
            phone.find_element(By.NAME, "words").click()  # leaving the field: its change

        await run(type_position)
        said = await until(
            lambda: phone.find_element(By.NAME, "district").get_attribute("value"), "the ward suggested"
        )
        assert said == "Phường Quảng Phú"
        assert await run(lambda: phone.find_element(By.NAME, "ward").get_attribute("value")) == "16522"
    finally:
        phone.quit()
