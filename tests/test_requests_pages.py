"""The request pages as a browser posts their forms: the center forwards, the agency's portal accepts and
answers with a photo, the supervisor approves; another agency's user finds nothing; a file that is not a
photo or a document is refused with the reason."""

from __future__ import annotations

from aiohttp import FormData
from sqlalchemy import select

from hotline.db.models import AuditEntry
from tests.helpers.files import PNG
from tests.helpers.requests import add_agency_users, answered_request, as_user, step
from tests.web_site import Site, site

__all__ = ["site"]  # the fixture


async def post_step(site: Site, csrf: dict[str, str], number: str, step: str, **fields: object) -> str:
    """A step's form, posted as the page's browser would; returns where it sent the browser."""
    form = FormData()
    form.add_field("csrf", csrf["X-CSRF-Token"])
    form.add_field("step", step)
    for name, value in fields.items():
        if isinstance(value, tuple):
            filename, data, content_type = value
            form.add_field(name, data, filename=filename, content_type=content_type)
        else:
            form.add_field(name, str(value))
    reply = await site.client.post(f"/requests/{number}/steps", data=form, allow_redirects=False)
    assert reply.status == 303, await reply.text()
    return reply.headers["Location"]


async def test_the_request_pages_take_a_request_from_forwarding_to_approval(site: Site) -> None:
    await add_agency_users(site)
    number = site.numbers["101"]
    csrf = await as_user(site, "an")
    await site.client.post(
        "/api/v1/requests",
        json={"case": number, "topic": "health", "words": "Ổ dịch sốt xuất huyết ở khu phố 3"},
        headers=csrf,
    )
    page = await (await site.client.get(f"/requests/{number}")).text()
    assert 'id="step-forward"' in page and 'value="so_y_te" selected' in page  # suggested by the topic
    assert await post_step(site, csrf, number, "forward", agency="so_y_te", instructions="Kiểm tra ngay") == (
        f"/requests/{number}"
    )

    csrf = await as_user(site, "soyte")
    home = await site.client.get("/", allow_redirects=False)
    assert home.headers["Location"] == "/requests"  # an agency's user lands on their portal
    listing = await (await site.client.get("/requests")).text()
    assert f'data-number="{number}"' in listing
    page = await (await site.client.get(f"/requests/{number}")).text()
    assert "Kiểm tra ngay" in page and 'id="step-accept"' in page and 'id="step-answer"' not in page
    await post_step(site, csrf, number, "accept")
    refused = await post_step(
        site, csrf, number, "answer", text="Đã phun thuốc", file=("x.exe", b"MZ", "application/x-msdownload")
    )
    assert "error=" in refused  # a program is not a photo: refused, and the answer not taken
    page = await (await site.client.get(refused)).text()
    assert "only photos" in page and 'data-status="accepted"' in page
    await post_step(
        site, csrf, number, "answer", text="Đã phun thuốc diệt muỗi", file=("khu-pho-3.png", PNG, "image/png")
    )
    page = await (await site.client.get(f"/requests/{number}")).text()
    assert 'data-status="answered"' in page and "khu-pho-3.png" in page
    file_link = page.split(f'href="/requests/{number}/files/', 1)[1].split('"', 1)[0]

    await as_user(site, "quan1")
    assert (await site.client.get(f"/requests/{number}")).status == 404
    assert (await site.client.get(f"/requests/{number}/files/{file_link}")).status == 404
    assert f'data-number="{number}"' not in await (await site.client.get("/requests")).text()

    csrf = await as_user(site, "sup")
    photo = await site.client.get(f"/requests/{number}/files/{file_link}")
    assert photo.status == 200 and await photo.read() == PNG
    await post_step(site, csrf, number, "approve")
    page = await (await site.client.get(f"/requests/{number}")).text()
    assert 'data-status="closed"' in page and "Kết thúc, đã báo người dân" in page
    async with site.hotline.db() as session:
        actions = list(await session.scalars(select(AuditEntry.action).where(AuditEntry.target == number)))
    assert "request.file" in actions and "request.closed" in actions


async def test_the_agency_asks_for_more_time_once_and_a_supervisor_grants_it(site: Site) -> None:
    await add_agency_users(site)
    csrf = await as_user(site, "an")
    opened = await site.client.post(
        "/api/v1/requests",
        json={
            "topic": "violation",
            "words": "Xây dựng trái phép",
            "latitude": 10.7769,
            "longitude": 106.7009,
        },
        headers=csrf,
    )
    request = await opened.json()
    number = request["number"]
    assert (request["latitude"], request["longitude"]) == (10.7769, 106.7009)
    bad = await site.client.post(
        "/api/v1/requests", json={"topic": "x", "words": "y", "latitude": 95}, headers=csrf
    )
    assert bad.status == 400
    await post_step(site, csrf, number, "forward", agency="quan_1")
    due = (await (await site.client.get(f"/api/v1/requests/{number}")).json())["answer_due_at"]

    csrf = await as_user(site, "quan1")
    await post_step(site, csrf, number, "accept")
    await post_step(site, csrf, number, "extension", hours="16", reason="Cần đo đạc hiện trường")
    page = await (await site.client.get(f"/requests/{number}")).text()
    assert 'id="step-extension"' not in page  # once per forwarding

    csrf = await as_user(site, "sup")
    page = await (await site.client.get(f"/requests/{number}")).text()
    assert 'id="step-decide"' in page and "Cần đo đạc hiện trường" in page
    await post_step(site, csrf, number, "decide", grant="yes")
    after = await (await site.client.get(f"/api/v1/requests/{number}")).json()
    assert after["extension_decision"] == "granted" and after["answer_due_at"] > due
    assert [h["kind"] for h in after["history"]][-2:] == ["extension_asked", "extension_granted"]


async def test_a_supervisor_shares_a_calls_recording_with_the_agency_and_only_that_one(site: Site) -> None:
    await add_agency_users(site)
    number = site.numbers["101"]  # the recorded call
    csrf = await as_user(site, "an")
    await site.client.post(
        "/api/v1/requests",
        json={"case": number, "topic": "health", "words": "Ngộ độc thực phẩm"},
        headers=csrf,
    )
    await post_step(site, csrf, number, "forward", agency="so_y_te")
    await as_user(site, "soyte")
    assert (await site.client.get(f"/requests/{number}/recordings/{number}")).status == 404  # not shared
    csrf = await as_user(site, "an")
    refused = await post_step(site, csrf, number, "share", case=number)
    assert "supervisor" in refused  # an agent may not share a recording
    csrf = await as_user(site, "sup")
    page = await (await site.client.get(f"/requests/{number}")).text()
    assert f'id="share-{number}"' in page
    await post_step(site, csrf, number, "share", case=number)
    await as_user(site, "soyte")
    page = await (await site.client.get(f"/requests/{number}")).text()
    assert f'src="/requests/{number}/recordings/{number}"' in page
    audio = await site.client.get(f"/requests/{number}/recordings/{number}", headers={"Range": "bytes=100-"})
    assert audio.status == 206
    other = site.numbers["102"]  # a call of no request of theirs
    assert (await site.client.get(f"/requests/{number}/recordings/{other}")).status == 404
    async with site.hotline.db() as session:
        plays = list(
            await session.scalars(
                select(AuditEntry.actor).where(
                    AuditEntry.action == "recording.play", AuditEntry.target == number
                )
            )
        )
    assert plays == ["soyte"]


async def test_the_agencies_figures_as_a_page_json_and_csv_for_agencies_too(site: Site) -> None:
    number = await answered_request(site)
    csrf = await as_user(site, "sup")
    await step(site, csrf, number, step="reopen", why="Cống vẫn tắc")  # back to Quận 1, due anew
    await as_user(site, "quan1")  # an agency's user sees its share next to the others'
    body = await (await site.client.get("/api/v1/reports/requests")).json()
    (district,) = body["per_agency"]
    assert (district["key"], district["label"], district["rank"]) == ("quan_1", "UBND Quận 1", 1)
    assert (district["received"], district["on_time"], district["pending"]) == (2, 1, 1)
    assert body["requests"] == 1 and body["per_topic"][0]["label"] == "Phản ánh vi phạm quy định"
    page = await (await site.client.get("/reports/requests")).text()
    assert 'data-agency="quan_1"' in page and 'class="mine"' in page and "chart-agencies" in page
    csv = await (
        await site.client.get(f"/api/v1/reports/requests.csv?from={body['from']}&to={body['to']}")
    ).text()
    assert csv.splitlines()[0].startswith("table,rank,key,label,received,on_time")
    assert csv.splitlines()[1].startswith("per_agency,1,quan_1,UBND Quận 1,2,1,0,0,1,0,0,0,1.0")
    bad = await site.client.get("/api/v1/reports/requests?from=2026-12-01&to=2026-11-01")
    assert bad.status == 400
    site.client.session.cookie_jar.clear()
    assert (await site.client.get("/api/v1/reports/requests")).status == 401


async def test_a_staff_page_shows_no_message_that_the_site_did_not_write(site: Site) -> None:
    await add_agency_users(site)
    number = site.numbers["101"]
    csrf = await as_user(site, "an")
    await site.client.post(
        "/api/v1/requests", json={"case": number, "topic": "health", "words": "Ổ dịch"}, headers=csrf
    )
    lure = "Phiên làm việc hết hạn. Gọi ngay 0900123456 để mở lại tài khoản"
    page = await (
        await site.client.get(f"/requests/{number}", params={"error": lure, "sig": "0" * 32})
    ).text()
    assert "0900123456" not in page and 'id="step-error"' not in page
    # A refused step's own message still reaches the page it redirects to.
    location = await post_step(site, csrf, number, "approve")
    assert "sig=" in location
    page = await (await site.client.get(location)).text()
    assert 'id="step-error"' in page
