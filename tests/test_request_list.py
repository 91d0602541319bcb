"""The center's list of requests on the running app (SQLite): 130 requests of every kind, searched by
number, phone (written any way) and words, filtered by status, agency, topic, ward, channel, what is due and
the days received, sorted and paged; the CSV of what is filtered, audited; an agency's user held to their
agency's requests whatever the address asks; hostile parameters refused or made harmless; a deadline at
08:00 in Vietnam read as 08:00, with the topic's and the agency's names rather than their codes."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from casework import workflow as wf
from hotline.db.models import AuditEntry, Role
from tests.helpers.requests import add_agency_users, as_user
from tests.web_site import Site, site
from web.staff import requests_pages

__all__ = ["site"]  # the fixture
HAC_THANH, QUANG_PHU = "14797", "16522"
AGENT = wf.Actor("an", Role.AGENT)
CHANNELS = ("call", "web", "zalo", "sms", "email")


async def _requests(site: Site) -> datetime:
    """130 requests over 13 days: every tenth closed; every third forwarded to quan_1 (every sixth of
    those three days ago, so overdue), the others with the center; two wards and five channels."""
    now = datetime.now(UTC)
    places = site.settings.places()
    async with site.hotline.db() as session, session.begin():
        for i in range(130):
            at = now - timedelta(hours=i * 2.4)
            r = wf.open_request(
                f"8{i:07d}",
                AGENT,
                at,
                topic="violation" if i % 2 else "health",
                words=f"Yêu cầu số {i}: "
                + ("đèn đường hỏng ở phố Lê Lai" if i % 5 == 0 else "nước giếng có mùi"),
                channel=CHANNELS[i % 5],
                contact_phone=f"0912{i:06d}",
                contact_name=f"Công dân {i}",
                places=places,
                ward=HAC_THANH if i % 4 else QUANG_PHU,
            )
            if i % 3 == 0:
                wf.forward(site.settings, r, AGENT, "quan_1", now - timedelta(days=3 if i % 6 == 0 else 0))
            if i % 10 == 1:
                r.status, r.closed_at = "closed", at
            session.add(r)
    return now


def _numbers(page: str) -> list[str]:
    return [
        part.split('"', 1)[0]
        for part in page.split('<tr class="due-')[1:]
        for part in [part.split('data-number="', 1)[1]]
    ]


async def _list(site: Site, query: str = "") -> tuple[int, list[str], str]:
    reply = await site.client.get(f"/requests?{query}")
    page = await reply.text()
    assert reply.status == 200, page[:500]
    total = int(page.split('id="total"', 1)[1].split(">", 1)[1].split("<", 1)[0])
    return total, _numbers(page), page


async def test_the_list_searches_filters_sorts_and_pages(site: Site) -> None:
    await _requests(site)
    await as_user(site, "sup")
    total, first, page = await _list(site)
    assert total == 117 and len(first) == 50  # the open ones: 13 closed
    assert "Phản ánh vi phạm quy định" in page and 'class="preview"' in page and "violation</td>" not in page
    # Due soonest first: the overdue forwardings lead.
    assert first[0] in {f"8{i:07d}" for i in range(0, 130, 6)}
    third = (await _list(site, "page=3"))[1]
    assert len(third) == 17 and not set(third) & set(first)
    assert (await _list(site, "q=80000042"))[1] == ["80000042"]
    assert (await _list(site, "q=%2B84912000017"))[1] == ["80000017"]  # +84 912 000 017 is 0912000017
    assert (await _list(site, "q=0912.000.017"))[1] == ["80000017"]
    total, found, _ = await _list(site, "q=L%C3%AA+Lai&status=all")  # "Lê Lai"
    assert total == 26 and all(int(n[1:]) % 5 == 0 for n in found)
    assert (await _list(site, "q=100%25"))[0] == 0  # "100%": a percent sign is no wildcard
    assert (await _list(site, "status=closed"))[0] == 13
    assert (await _list(site, "status=all&agency=quan_1"))[0] == 44
    overdue = (await _list(site, "due=overdue"))[1]
    assert overdue and all(int(n[1:]) % 6 == 0 for n in overdue)
    assert (await _list(site, "status=all&ward=16522&channel=call"))[0] == len(
        [i for i in range(130) if i % 4 == 0 and i % 5 == 0]
    )
    assert (await _list(site, "status=all&topic=health"))[0] == 65
    today = datetime.now(ZoneInfo(site.settings.site.timezone)).date().isoformat()
    assert 0 < (await _list(site, f"status=all&from={today}&to={today}"))[0] <= 10
    newest = (await _list(site, "status=all&sort=newest"))[1]
    assert newest[:3] == ["80000000", "80000001", "80000002"]
    assert (await _list(site, "status=all&sort=oldest"))[1][0] == "80000129"
    for bad in ("page=0", "page=x", "status=lost", "sort=drop", "due=late", "from=2026-13-01", "channel=fax"):
        assert (await site.client.get(f"/requests?{bad}")).status == 400, bad
    assert (await site.client.get("/requests?q=" + "a" * 5000)).status == 200  # read as its first 100


async def test_the_csv_is_what_the_list_found_and_is_audited(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _requests(site)
    await as_user(site, "sup")
    monkeypatch.setattr(requests_pages, "EXPORT_PART", 10)  # sent in five parts, one header
    reply = await site.client.get("/requests.csv?status=all&agency=quan_1&sort=newest")
    assert reply.status == 200 and reply.content_type == "text/csv"
    text = await reply.text()
    assert text.count("number,created_at,") == 1
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["number"] for r in rows] == [f"8{i:07d}" for i in range(0, 130, 3)]
    assert len(rows) == 44 and rows[0]["number"] == "80000000" and rows[0]["agency_label"] == "UBND Quận 1"
    assert rows[0]["contact_phone"] == "0912000000" and rows[0]["ward"] == "Phường Quảng Phú"
    async with site.hotline.db() as session:
        (entry,) = await session.scalars(select(AuditEntry).where(AuditEntry.action == "request.export"))
    assert entry.actor == "sup" and entry.detail["rows"] == 44
    nothing = await site.client.get("/requests.csv?status=all&q=kh%C3%B4ng+c%C3%B3+g%C3%AC")  # "không có gì"
    assert (await nothing.text()).splitlines() == [",".join(requests_pages.EXPORTED)]


async def test_an_agency_sees_only_its_own_whatever_it_asks(site: Site) -> None:
    await _requests(site)
    await add_agency_users(site)
    await as_user(site, "quan1")
    total, _, page = await _list(site, "status=all&agency=so_y_te")
    assert total == 44 and 'name="agency"' not in page
    rows = list(csv.DictReader(io.StringIO(await (await site.client.get("/requests.csv?status=all")).text())))
    assert len(rows) == 44 and all("***" in r["contact_phone"] for r in rows)  # masked for the agency


async def test_a_deadline_is_read_in_the_sites_time_with_names_not_codes(site: Site) -> None:
    await as_user(site, "sup")
    async with site.hotline.db() as session, session.begin():
        r = wf.open_request("80000500", AGENT, datetime.now(UTC), topic="violation", words="Lấn chiếm vỉa hè")
        wf.forward(site.settings, r, AGENT, "quan_1", datetime.now(UTC))
        r.accept_due_at = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 08:00 in Thanh Hóa
        session.add(r)
    page = await (await site.client.get("/requests/80000500")).text()
    due = page.split('id="accept-due">', 1)[1].split("</dd>", 1)[0]
    assert due.startswith("07/12/2026 08:00")
    assert "UBND Quận 1" in page.split('id="agency"', 1)[1].split("</dd>", 1)[0]
    assert "Phản ánh vi phạm quy định" in page.split('id="topic"', 1)[1].split("</dd>", 1)[0]
    english = await (await site.client.get("/requests/80000500?lang=en")).text()
    assert english.split('id="accept-due">', 1)[1].startswith("7 Dec 2026 08:00")
