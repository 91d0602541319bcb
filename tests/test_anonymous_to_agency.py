"""A whistle-blower on the running app (SQLite): a citizen who asks the form to keep who they are from the
agency is seen whole by the center and by nobody at the agency (its JSON, page, list and CSV, the history's
actors), and is still told the answer on their own channel."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from hotline.db.models import OutboxMessage
from tests.helpers.portal import sent
from tests.helpers.requests import add_agency_users, as_user, step
from tests.web_site import Site, site

__all__ = ["site"]  # the fixture
NAME, PHONE = "Nguyễn Văn Tố", "0912 777 888"


async def test_the_agency_sees_no_one_and_the_citizen_is_still_told(site: Site) -> None:
    await add_agency_users(site)
    number = await sent(
        site.client,
        words="Cán bộ phường nhận tiền để bỏ qua vi phạm xây dựng",
        name=NAME,
        phone=PHONE,
        anonymous="yes",
    )
    center = await as_user(site, "an")
    seen = await (await site.client.get(f"/api/v1/requests/{number}", headers=center)).json()
    assert (seen["contact_name"], seen["contact_phone"], seen["anonymous"]) == (NAME, PHONE, True)
    await step(site, center, number, step="forward", agency="quan_1")
    agency = await as_user(site, "quan1")
    theirs = await (await site.client.get(f"/api/v1/requests/{number}", headers=agency)).json()
    assert (theirs["contact_name"], theirs["contact_phone"], theirs["contact_email"]) == ("", "", "")
    assert {e["actor"] for e in theirs["history"] if e["kind"] == "received"} == {"citizen"}
    page = await (await site.client.get(f"/requests/{number}")).text()
    listed = await (await site.client.get("/requests")).text()
    exported = await (await site.client.get("/requests.csv")).text()
    for text in (page, listed, exported):
        assert NAME not in text and "777 888" not in text and "777888" not in text
    (row,) = list(csv.DictReader(io.StringIO(exported)))
    assert (row["contact_name"], row["contact_phone"]) == ("", "")
    await step(site, agency, number, step="accept")
    await step(site, agency, number, step="answer", text="Đã chuyển thanh tra xác minh")
    await step(site, await as_user(site, "sup"), number, step="approve")
    async with site.hotline.db() as session:
        (told,) = await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "answer"))
    assert (told.channel, told.to) == ("sms", PHONE) and "Đã chuyển thanh tra xác minh" in told.body
