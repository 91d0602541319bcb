"""The statuses a citizen understands, end to end on the running app (SQLite): a request the center
forwards, that one agency returns as not its own and another accepts, answers as "it cannot be done" and
the center approves, is told at each step on the follow page, by Open311's status_notes and by the IVR's
key 9 in the same words; the citizen's message says it was closed without being fixed; the agencies'
figures count the return, the work in progress and the answer that fixed nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from agi_scripts.case_desk import DatabaseCaseDesk
from casework.statistics import statistics
from hotline.db.models import OutboxMessage
from tests.helpers.requests import add_agency_users, as_user, step
from tests.web_site import Site, site

__all__ = ["site"]  # the fixture
PHONE = "0912000111"


async def _told(site: Site, number: str) -> tuple[str, str, str, str]:
    """What the citizen reads (follow page), what Open311 says, and what the IVR plays for the number."""
    site.client.session.cookie_jar.clear()
    await site.client.post("/follow", data={"number": number, "phone": PHONE})
    page = await (await site.client.get(f"/follow/{number}")).text()
    shown = page.split('data-shown="', 1)[1].split('"', 1)[0]
    sentence = page.split('id="citizen-status">', 1)[1].split("</dd>", 1)[0]
    record = (await (await site.client.get(f"/open311/v2/requests/{number}.json")).json())[0]
    prompt = await DatabaseCaseDesk(site.hotline.db).case_status(number)
    assert record["status_notes"] == sentence
    return shown, sentence, record["status"], prompt or ""


async def test_each_status_is_told_the_same_way_everywhere(site: Site) -> None:
    await add_agency_users(site)
    number = site.numbers["101"]
    center = await as_user(site, "an")
    opened = await site.client.post(
        "/api/v1/requests",
        json={"case": number, "topic": "health", "words": "Nước giếng có mùi lạ"},
        headers=center,
    )
    assert opened.status == 201, await opened.text()
    assert await _told(site, number) == (
        "received",
        "Tổng đài đã tiếp nhận và đang xem xét, chuyển cơ quan có thẩm quyền.",
        "open",
        "request_received",
    )
    center = await as_user(site, "an")
    await step(site, center, number, step="forward", agency="quan_1")
    assert await _told(site, number) == (
        "forwarded",
        "Đã chuyển đến UBND Quận 1.",
        "open",
        "request_forwarded",
    )
    district = await as_user(site, "quan1")
    await step(site, district, number, step="return", reason="Thuộc ngành y tế")
    shown, sentence, state, prompt = await _told(site, number)
    assert (shown, state, prompt) == ("not_ours", "open", "request_not_ours")
    assert sentence.startswith("UBND Quận 1 trả lại vì không thuộc thẩm quyền")
    center = await as_user(site, "an")
    await step(site, center, number, step="forward", agency="so_y_te")
    shown, sentence, _, _ = await _told(site, number)
    assert (shown, sentence) == (
        "forwarded",
        "Đã chuyển đến Sở Y tế. (UBND Quận 1 đã trả lại vì không thuộc thẩm quyền.)",
    )
    health = await as_user(site, "soyte")
    await step(site, health, number, step="accept")
    assert (await _told(site, number))[:2] == (
        "in_progress",
        "Sở Y tế đang xử lý. (UBND Quận 1 đã trả lại vì không thuộc thẩm quyền.)",
    )
    health = await as_user(site, "soyte")
    await step(
        site, health, number, step="answer", text="Giếng tư nhân, ngoài phạm vi quản lý", not_fixable=True
    )
    assert (await _told(site, number))[0] == "in_progress"  # not approved yet: not an answer to the citizen
    supervisor = await as_user(site, "sup")
    await step(site, supervisor, number, step="approve")
    shown, sentence, state, prompt = await _told(site, number)
    assert (shown, state, prompt) == ("not_fixed", "closed", "request_not_fixed")
    assert sentence.startswith("Đã kết thúc: Sở Y tế trả lời rằng không thể giải quyết được")
    async with site.hotline.db() as session:
        (message,) = await session.scalars(select(OutboxMessage))
    assert message.channel == "phone" and "không thể giải quyết được" in message.body  # a call back reads it
    now = datetime.now(UTC)
    figures = await statistics(site.hotline.db, now - timedelta(hours=1), now + timedelta(hours=1), now)
    by_agency = {f.key: f for f in figures.per_agency}
    assert (by_agency["quan_1"].returned, by_agency["so_y_te"].not_fixable) == (1, 1)
    assert by_agency["so_y_te"].in_progress == 0


async def test_work_in_progress_is_counted_for_its_agency(site: Site) -> None:
    await add_agency_users(site)
    number = site.numbers["102"]
    center = await as_user(site, "an")
    opened = await site.client.post(
        "/api/v1/requests", json={"case": number, "topic": "violation", "words": "Lấn chiếm"}, headers=center
    )
    assert opened.status == 201
    await step(site, center, number, step="forward", agency="quan_1")
    await step(site, await as_user(site, "quan1"), number, step="accept")
    now = datetime.now(UTC)
    figures = await statistics(site.hotline.db, now - timedelta(hours=1), now + timedelta(hours=1), now)
    (quan_1,) = figures.per_agency
    assert (quan_1.in_progress, quan_1.not_fixable, quan_1.view()["in_progress"]) == (1, 0, 1)
