"""The citizen's side and Open311 on a running app: the follow page opens a request to whoever has its
number and the phone number, and to nobody else (wrong pairs are throttled); the citizen rates
the answer and reopens it; published answers are listed by topic; every Open311 endpoint answers as the
GeoReport v2 specification says, and no GET returns a phone number, a name or the citizen's words."""

from __future__ import annotations

import json

from sqlalchemy import select

from hotline.db.models import AuditEntry, CitizenRequest
from tests.helpers.requests import WORDS, add_agency_users, answered_request, as_user, step
from tests.web_site import Site, site
from web.context import CONTEXT

__all__ = ["site"]  # the fixture


async def follow(site: Site, number: str, phone: str, expect: int = 303) -> str:
    reply = await site.client.post("/follow", data={"number": number, "phone": phone}, allow_redirects=False)
    assert reply.status == expect, await reply.text()
    return reply.headers.get("Location", "") if expect == 303 else await reply.text()


async def test_the_citizen_follows_rates_and_reopens_with_the_number_and_phone(site: Site) -> None:
    number = await answered_request(site)
    # The phone as the citizen writes it, any way.
    assert await follow(site, number, "+84 912 000 111") == f"/follow/{number}"
    page = await (await site.client.get(f"/follow/{number}")).text()
    assert 'data-status="closed"' in page and "Đã nạo vét cống ngày 20/11" in page and "UBND Quận 1" in page
    # Nothing personal, not even the citizen's own words.
    for private in ("0912000111", "Nguyễn Văn Tư", "Lê Lợi"):
        assert private not in page
    token = page.split('name="token" value="', 1)[1].split('"', 1)[0]
    rated = await site.client.post(
        f"/follow/{number}/rating", data={"token": token, "stars": "4"}, allow_redirects=False
    )
    assert rated.headers["Location"] == f"/follow/{number}?done=rate"
    page = await (await site.client.get(f"/follow/{number}")).text()
    assert 'id="citizen-rating">4 / 5' in page
    # A form posted without the page's token (from another site) is refused.
    forged = await site.client.post(f"/follow/{number}/reopen", data={"why": "x"}, allow_redirects=False)
    assert "error=follow_expired" in forged.headers["Location"]
    reopened = await site.client.post(
        f"/follow/{number}/reopen", data={"token": token, "why": "Cống vẫn tắc"}, allow_redirects=False
    )
    assert reopened.headers["Location"] == f"/follow/{number}?done=reopen"
    async with site.hotline.db() as session:
        r = await session.scalar(select(CitizenRequest).where(CitizenRequest.number == number))
        assert r is not None and (r.status, r.agency, r.reopened, r.rating) == (
            "forwarded",
            "quan_1",
            1,
            None,
        )
        actions = list(await session.scalars(select(AuditEntry.action).where(AuditEntry.target == number)))
    assert {"follow.view", "request.rated", "request.reopened"} <= set(actions)
    # Another browser, without the pair, is sent to the form.
    site.client.session.cookie_jar.clear()
    reply = await site.client.get(f"/follow/{number}", allow_redirects=False)
    assert reply.status == 303 and reply.headers["Location"] == "/follow"


async def test_a_wrong_pair_is_refused_and_many_in_a_row_are_throttled(site: Site) -> None:
    number = await answered_request(site)
    assert "Không tìm thấy" in await follow(
        site, "12345678", "0912000111", expect=404
    )  # not a number of ours
    for phone in ("0912000112", "0912000113", "0912000114", "0912000115"):
        assert "Không tìm thấy" in await follow(site, number, phone, expect=404)
    reply = await site.client.post(
        "/follow", data={"number": number, "phone": "0912000116"}, allow_redirects=False
    )
    assert reply.status == 429 and int(reply.headers["Retry-After"]) >= 1
    # Closed for the right pair too while the door is shut: guesses cannot be checked faster.
    reply = await site.client.post(
        "/follow", data={"number": number, "phone": "0912000111"}, allow_redirects=False
    )
    assert reply.status == 429
    async with site.hotline.db() as session:
        refused = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "follow.refused", AuditEntry.target == number)
        )
    assert refused is not None and refused.actor.startswith("citizen@")
    # From one address, many numbers: after twenty wrong pairs, the address waits too.
    await site.client.app[CONTEXT].follow_numbers.succeeded(number)  # the number's own delay forgotten
    assert await follow(site, number, "0912000111") == f"/follow/{number}"
    for n in range(16):
        await follow(site, f"1234567{n % 10}", "0912000000", expect=404)
    reply = await site.client.post(
        "/follow", data={"number": number, "phone": "0912000111"}, allow_redirects=False
    )
    assert reply.status == 429


async def test_published_answers_are_listed_by_topic(site: Site) -> None:
    number = await answered_request(site, topic="violation")
    listed = await (await site.client.get("/answers")).text()
    assert "Đã nạo vét cống" not in listed and 'id="no-answers"' in listed
    csrf = await as_user(site, "sup")
    # The agency's answer named the citizen's street; the public one is worded for everyone.
    await step(
        site,
        csrf,
        number,
        step="publish",
        question="Cống thoát nước bị tắc thì báo ở đâu?",
        answer="Đã nạo vét cống ngày 20/11",
    )
    site.client.session.cookie_jar.clear()
    listed = await (await site.client.get("/answers?topic=violation")).text()
    assert "Cống thoát nước bị tắc thì báo ở đâu?" in listed and "Đã nạo vét cống ngày 20/11" in listed
    assert "0912000111" not in listed and "Lê Lợi" not in listed
    other = await (await site.client.get("/answers?topic=health")).text()
    assert "Đã nạo vét cống" not in other


# -- Open311 GeoReport v2 --------------------------------------------------------------------------------


async def test_open311_services_and_a_new_request_with_an_api_key(site: Site) -> None:
    services = await (await site.client.get("/open311/v2/services.json")).json()
    assert {s["service_code"] for s in services} == {"violation", "suggestion", "welfare", "health"}
    assert set(services[0]) == {
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    }
    assert (await (await site.client.get("/open311/v2/services/health.json")).json()) == {
        "service_code": "health",
        "attributes": [],
    }
    missing = await site.client.get("/open311/v2/services/roads.json")
    assert missing.status == 404 and (await missing.json())[0]["code"] == 404
    xml = await site.client.get("/open311/v2/services.xml")
    assert xml.status == 200 and xml.content_type == "text/xml" and xml.charset == "utf-8"
    assert (await xml.text()).startswith('<?xml version="1.0" encoding="utf-8"?>\n<services><service>')
    other = await site.client.get("/open311/v2/services.yaml")
    assert other.status == 400 and other.content_type == "text/xml"
    assert "<errors><error><code>400</code><description>no format 'yaml'" in await other.text()

    form = {
        "service_code": "violation",
        "lat": "10.7769",
        "long": "106.7009",
        "description": WORDS,
        "first_name": "Văn Tư",
        "last_name": "Nguyễn",
        "phone": "0912000111",
        "email": "tu@example.vn",
        "media_url": "https://portal.example.vn/anh/1.jpg",
    }
    for key, code in (("", 403), ("h1022_wrong", 403)):
        refused = await site.client.post("/open311/v2/requests.json", data={**form, "api_key": key})
        assert refused.status == code and (await refused.json())[0]["code"] == code
    for bad, why in (
        ({"service_code": ""}, "service_code"),
        ({"lat": "", "long": ""}, "location"),
        ({"lat": "200"}, "lat"),
        ({"description": "x" * 4001}, "4000"),
    ):
        reply = await site.client.post(
            "/open311/v2/requests.json", data={**form, **bad, "api_key": site.tokens["agent"]}
        )
        assert reply.status == 400 and why in (await reply.json())[0]["description"], await reply.text()
    unknown = await site.client.post(
        "/open311/v2/requests.json", data={**form, "service_code": "roads", "api_key": site.tokens["agent"]}
    )
    assert unknown.status == 404

    made = await site.client.post("/open311/v2/requests.json", data={**form, "api_key": site.tokens["agent"]})
    assert made.status == 201, await made.text()
    (answer,) = await made.json()
    assert set(answer) == {"service_request_id", "service_notice", "account_id"}
    number = answer["service_request_id"]
    async with site.hotline.db() as session:
        r = await session.scalar(select(CitizenRequest).where(CitizenRequest.number == number))
        assert r is not None
        assert (r.topic, r.contact_phone, r.contact_name, r.latitude) == (
            "violation",
            "0912000111",
            "Văn Tư Nguyễn",
            10.7769,
        )
        assert r.created_by == "token:portal-agent"


async def test_open311_requests_by_number_and_filters_and_no_get_leaks_personal_data(site: Site) -> None:
    number = await answered_request(site, topic="violation")
    made = await site.client.post(
        "/open311/v2/requests.json",
        data={
            "api_key": site.tokens["agent"],
            "service_code": "health",
            "address_string": "12 Lê Lợi, Quận 1",
            "description": "Trần Thị Bình hỏi lịch tiêm",
            "first_name": "Bình",
            "phone": "0988777666",
        },
    )
    other = (await made.json())[0]["service_request_id"]

    (one,) = await (await site.client.get(f"/open311/v2/requests/{number}.json")).json()
    assert one["service_request_id"] == number and one["status"] == "closed"
    assert one["agency_responsible"] == "UBND Quận 1" and one["service_code"] == "violation"
    assert one["requested_datetime"].endswith("+07:00") and one["expected_datetime"] is None
    assert one["status_notes"] == "Đã có kết quả trả lời của UBND Quận 1."  # not the answer: not published
    fields = {
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    }
    assert set(one) == fields
    (fresh,) = await (await site.client.get(f"/open311/v2/requests/{other}.json")).json()
    assert fresh["status"] == "open" and fresh["agency_responsible"] == ""
    missing = await site.client.get("/open311/v2/requests/99999999.json")
    assert missing.status == 404 and (await missing.json())[0]["code"] == 404

    both = await (
        await site.client.get(f"/open311/v2/requests.json?service_request_id={number},{other}")
    ).json()
    assert {r["service_request_id"] for r in both} == {number, other}
    closed = await (await site.client.get("/open311/v2/requests.json?status=closed")).json()
    assert [r["service_request_id"] for r in closed] == [number]
    health = await (await site.client.get("/open311/v2/requests.json?service_code=health&status=open")).json()
    assert [r["service_request_id"] for r in health] == [other]
    old = await (
        await site.client.get("/open311/v2/requests.json?start_date=2020-01-01T00:00:00Z&end_date=2020-02-01")
    ).json()
    assert old == []
    for query, why in (
        ("status=pending", "status"),
        ("start_date=yesterday", "start_date"),
        ("start_date=2026-12-01&end_date=2026-11-01", "after"),
    ):
        reply = await site.client.get(f"/open311/v2/requests.json?{query}")
        assert reply.status == 400 and why in (await reply.json())[0]["description"]

    everything = json.dumps(
        await (await site.client.get("/open311/v2/requests.json")).json(), ensure_ascii=False
    )
    for private in (
        "0912000111",
        "0988777666",
        "Nguyễn Văn Tư",
        "Bình",
        "Lê Lợi",
        "cống bị tắc",
        "lịch tiêm",
    ):
        assert private not in everything

    csrf = await as_user(site, "sup")
    await step(
        site, csrf, number, step="publish", question="Cống bị tắc báo ở đâu?", answer="Đã nạo vét cống"
    )
    (one,) = await (await site.client.get(f"/open311/v2/requests/{number}.json")).json()
    assert one["status_notes"] == "Đã nạo vét cống" and one["description"] == "Cống bị tắc báo ở đâu?"


async def test_forms_that_are_not_utf8_or_not_forms_get_a_clear_400_and_nobody_else_is_blocked(
    site: Site,
) -> None:
    number = await answered_request(site)
    bodies = (
        (b"number=\xff\xfe&digits=111", "application/x-www-form-urlencoded"),
        (b"\xff", "multipart/form-data; boundary=zz"),
        (b"a=1", "multipart/form-data"),
    )
    for path in ("/follow", "/login", "/open311/v2/requests.json", f"/follow/{number}/rating"):
        for body, content_type in bodies:
            reply = await site.client.post(
                path, data=body, headers={"Content-Type": content_type}, allow_redirects=False
            )
            if path == f"/follow/{number}/rating":
                assert reply.status == 303  # no follow cookie: back to the form, before the body is read
                continue
            assert reply.status == 400, (path, content_type, reply.status)
            assert "UTF-8 form data" in await reply.text()
    # A signed-in user's change with an unreadable body: refused (no CSRF token can be read), not a crash.
    await as_user(site, "sup")
    reply = await site.client.post(
        f"/requests/{number}/steps", data=bodies[0][0], headers={"Content-Type": bodies[0][1]}
    )
    assert reply.status == 403
    # A 300-character number and control characters: not found, and the right pair still works.
    site.client.session.cookie_jar.clear()
    assert "Không tìm thấy" in await follow(site, "9" * 300, "\x01\x02\x03", expect=404)
    assert await follow(site, number, "0912000111") == f"/follow/{number}"


async def test_non_ascii_digits_and_codes_are_refused_like_any_wrong_ones(site: Site) -> None:
    number = await answered_request(site)
    # Vietnamese letters, Arabic-Indic and full-width digits: str.isdigit() says yes to the last two.
    for digits in ("ệệệ", "\u0661\u0661\u0661", "\uff11\uff11\uff11"):
        assert "Không tìm thấy" in await follow(site, number, digits, expect=404)
    assert "Không tìm thấy" in await follow(site, "9" * 8, "ệệệ", expect=404)  # the same for no such number
    assert (await site.client.get(f"/follow/{number}/k/{'ệ' * 24}")).status == 404
    assert (await site.client.get("/sms/inbound/khóa-sai?from=0912000111&text=x")).status == 404
    assert await follow(site, number, "0912000111") == f"/follow/{number}"


async def test_open311_dates_outside_what_a_calendar_holds_are_a_clear_400(site: Site) -> None:
    for start, end in (
        ("0001-01-01", ""),
        ("", "9999-12-31T23:00:00-12:00"),
        ("1900-01-01T00:00:00Z", ""),
        ("2026-13-01", ""),
    ):
        query = {k: v for k, v in (("start_date", start), ("end_date", end)) if v}
        reply = await site.client.get("/open311/v2/requests.json", params=query)
        assert reply.status == 400, (query, reply.status)
        (error,) = await reply.json()
        assert error["code"] == 400 and "date" in error["description"]
    assert (
        await site.client.get("/open311/v2/requests.json", params={"start_date": "2026-11-01"})
    ).status == 200


async def test_the_follow_page_shows_only_its_own_messages(site: Site) -> None:
    number = await answered_request(site)
    await follow(site, number, "0912000111")
    lure = "Phiên đã hết hạn, gọi 0900123456"
    page = await (await site.client.get(f"/follow/{number}", params={"error": lure, "done": lure})).text()
    assert "0900123456" not in page
    page = await (await site.client.get(f"/follow/{number}", params={"error": "follow_expired"})).text()
    assert 'id="follow-error"' in page


async def test_a_citizen_reopens_at_most_twice_and_an_old_link_opens_nothing(site: Site) -> None:
    from datetime import UTC, datetime, timedelta

    from hotline import links

    number = await answered_request(site)
    link = links.follow_path(links.site_key(site.settings), number)
    async with site.hotline.db() as session, session.begin():
        r = await session.scalar(select(CitizenRequest).where(CitizenRequest.number == number))
        assert r is not None
        r.reopened = site.settings.requests.most_reopens  # reopened twice before, answered again since
    assert await follow(site, number, "0912000111") == f"/follow/{number}"
    page = await (await site.client.get(f"/follow/{number}")).text()
    assert 'id="reopen"' not in page
    token = page.split('name="token" value="', 1)[1].split('"', 1)[0]
    refused = await site.client.post(
        f"/follow/{number}/reopen", data={"token": token, "why": "Lần thứ ba"}, allow_redirects=False
    )
    assert "error=follow_reopen_refused" in refused.headers["Location"]
    # The link opens the request for [requests] link_days after it closed, then no more.
    site.client.session.cookie_jar.clear()
    assert (await site.client.get(link, allow_redirects=False)).status == 303
    async with site.hotline.db() as session, session.begin():
        r = await session.scalar(select(CitizenRequest).where(CitizenRequest.number == number))
        assert r is not None
        r.closed_at = datetime.now(UTC) - timedelta(days=site.settings.requests.link_days + 1)
    site.client.session.cookie_jar.clear()
    expired = await site.client.get(link, allow_redirects=False)
    assert expired.status == 410 and "hết hạn" in await expired.text()
    # The number and the phone's digits still open it.
    assert await follow(site, number, "0912000111") == f"/follow/{number}"


async def test_the_public_answer_is_worded_for_everyone_and_checked_for_personal_data(site: Site) -> None:
    await add_agency_users(site)
    number = site.numbers["101"]
    csrf = await as_user(site, "an")
    opened = await site.client.post(
        "/api/v1/requests",
        json={"case": number, "topic": "violation", "words": WORDS, "contact_name": "Nguyễn Văn Tư"},
        headers=csrf,
    )
    assert opened.status == 201
    await step(site, csrf, number, step="forward", agency="quan_1")
    csrf = await as_user(site, "quan1")
    await step(site, csrf, number, step="accept")
    said = "Đã cử tổ công tác làm việc với ông Nguyễn Văn Tư (0912000111) và nạo vét cống ngày 20/11"
    await step(site, csrf, number, step="answer", text=said)
    csrf = await as_user(site, "sup")
    await step(site, csrf, number, step="approve")
    refused = await site.client.post(
        f"/api/v1/requests/{number}/steps",
        json={"step": "publish", "question": "Cống bị tắc báo ở đâu?", "answer": said},
        headers=csrf,
    )
    assert refused.status == 403  # a step refused, as every refused step is
    assert "phone number" in await refused.text() and "name" in await refused.text()
    await step(
        site,
        csrf,
        number,
        step="publish",
        question="Cống bị tắc báo ở đâu?",
        answer="Đã nạo vét cống ngày 20/11",
    )
    site.client.session.cookie_jar.clear()
    listed = await (await site.client.get("/answers")).text()
    assert (
        "Đã nạo vét cống ngày 20/11" in listed
        and "0912000111" not in listed
        and "Nguyễn Văn Tư" not in listed
    )
    reply = await site.client.get("/open311/v2/requests.json", params={"service_request_id": number})
    assert "0912000111" not in await reply.text()
    # The citizen still reads the agency's answer, theirs, on the follow page.
    await follow(site, number, "0912000111")
    assert said in await (await site.client.get(f"/follow/{number}")).text()
