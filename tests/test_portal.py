"""The public web form on a running app with a real SQLite database: a submission with two photos and a
place becomes a request with its files (photos without their EXIF, the place taken from one when the
citizen allows it) and a link to follow it; a malformed, oversized, wrong-type, unchallenged or too
frequent submission is refused with the reason and stores nothing, and so is one the locked database could
not take (the citizen is told it was not sent)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiohttp import FormData
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import CitizenRequest, OutboxMessage
from tests.helpers.faults import sqlite_locked
from tests.helpers.files import PNG, jpeg_with_gps
from tests.helpers.portal import answered, solve
from tests.helpers.requests import add_agency_users, as_user, step
from tests.web_site import Site, site
from web.citizens import portal

__all__ = ["site"]  # the fixture


async def fresh_form(site: Site) -> dict[str, str]:
    """The form's challenge, answered as a person would."""
    return answered(await (await site.client.get("/report")).text())


def submission(
    answered: dict[str, str], files: list[tuple[str, bytes, str]] | None = None, **fields: str | None
) -> FormData:
    values = {
        "topic": "violation",
        "words": "Lấn chiếm vỉa hè, bán hàng rong trước cổng trường",
        "address": "12 Lê Lợi",
        "district": "Quận 1",
        "name": "Nguyễn Văn Tư",
        "phone": "0912 345 678",
        "notify_by": "sms",
        "consent": "yes",
        **answered,
        **fields,
    }
    form = FormData()
    for name, value in values.items():
        if value is not None:
            form.add_field(name, value)
    for filename, data, content_type in files or []:
        form.add_field("files", data, filename=filename, content_type=content_type)
    return form


async def stored(site: Site) -> tuple[int, list[Path]]:
    async with site.hotline.db() as session:
        count = await session.scalar(select(func.count()).select_from(CitizenRequest))
    folder = site.settings.request_files_path
    return int(count or 0), sorted(folder.iterdir()) if folder.is_dir() else []


async def test_a_submission_with_two_photos_and_the_place_becomes_a_request(site: Site) -> None:
    form = submission(
        await fresh_form(site),
        files=[("IMG_0001.jpg", jpeg_with_gps(), "image/jpeg"), ("so-do.png", PNG, "image/png")],
        share_place="yes",
    )
    reply = await site.client.post("/report", data=form)
    assert reply.status == 201, await reply.text()
    page = await reply.text()
    number = page.split('id="request-number">', 1)[1].split("<", 1)[0]
    link = page.split('id="follow-link" href="', 1)[1].split('"', 1)[0]
    async with site.hotline.db() as session:
        r = await session.scalar(
            select(CitizenRequest)
            .where(CitizenRequest.number == number)
            .options(
                selectinload(CitizenRequest.files),
                selectinload(CitizenRequest.events),
                selectinload(CitizenRequest.contacts),
            )
        )
    assert r is not None and (r.status, r.topic, r.notify_by) == ("received", "violation", "sms")
    assert (r.contact_phone, r.contact_name, r.district) == ("0912 345 678", "Nguyễn Văn Tư", "Quận 1")
    assert (r.latitude, r.longitude) == (10.7769, 106.7009)  # from the photo, as the citizen allowed
    assert [(f.name, f.content_type, f.purpose) for f in r.files] == [
        ("IMG_0001.jpg", "image/jpeg", "citizen"),
        ("so-do.png", "image/png", "citizen"),
    ]
    kept = site.settings.request_files_path / r.files[0].stored
    with Image.open(kept) as photo:
        assert not photo.getexif()  # no GPS, no camera in the kept file
    assert r.events[0].detail["consent"].startswith("Tôi đồng ý")
    assert r.events[0].actor.startswith("citizen@") and [k.channel for k in r.contacts] == ["web"]
    # The link opens the request's page without the phone's digits.
    followed = await site.client.get(link)
    assert 'data-status="received"' in await followed.text()
    assert (await site.client.get(f"/follow/{number}/k/{'0' * 24}")).status == 404


async def test_refused_submissions_say_why_and_store_nothing(site: Site) -> None:
    exe = ("anh.jpg", b"MZ\x90\x00" + bytes(200), "image/jpeg")
    big = ("lon.jpg", b"\xff\xd8\xff" + bytes(10 * 1024 * 1024), "image/jpeg")
    cases = [
        ({"challenge": "99"}, [], "câu hỏi kiểm tra"),
        ({"topic": "roads"}, [], "lĩnh vực"),
        ({"words": "  "}, [], "nội dung"),
        ({"phone": "", "email": ""}, [], "số điện thoại hoặc thư điện tử"),
        ({"phone": "<script>"}, [], "Số điện thoại không hợp lệ"),
        ({"consent": None}, [], "đồng ý"),
        ({"latitude": "10.7"}, [], "cả vĩ độ và kinh độ"),
        ({}, [exe], "only photos"),
        ({}, [big], "at most 10 MB"),
        ({}, [("a.png", PNG, "image/png")] * 6, "tối đa 5 tệp"),
    ]
    for fields, files, why in cases:
        challenge = await fresh_form(site)
        reply = await site.client.post("/report", data=submission(challenge, files, **fields))  # type: ignore[arg-type]
        page = await reply.text()
        assert reply.status == 400, (fields, reply.status)
        assert why in page.split('id="report-error">', 1)[1].split("</p>", 1)[0], (fields, why)
        assert "Lấn chiếm vỉa hè" in page or fields.get("words")  # what they wrote is kept in the form
    assert await stored(site) == (0, [])
    # Each submission counts against the address's limit as it starts, refused or not: the eleventh in
    # the hour waits.
    assert len(cases) == site.settings.portal.per_address_hour
    refused = await site.client.post("/report", data=submission(await fresh_form(site)))
    assert refused.status == 429
    limit = site.client.server.app[portal.ADDRESSES]
    limit._clock = lambda: datetime.now(UTC) + timedelta(hours=1)  # an hour later
    # A challenge answered once cannot be replayed.
    challenge = await fresh_form(site)
    assert (await site.client.post("/report", data=submission(challenge))).status == 201
    again = await site.client.post("/report", data=submission(challenge, phone="0988 000 111"))
    assert again.status == 400


async def test_too_frequent_submissions_wait(site: Site) -> None:
    for _ in range(site.settings.portal.per_contact_hour):
        assert (await site.client.post("/report", data=submission(await fresh_form(site)))).status == 201
    refused = await site.client.post("/report", data=submission(await fresh_form(site)))
    assert refused.status == 429 and int(refused.headers["Retry-After"]) > 0
    count, _ = await stored(site)
    assert count == site.settings.portal.per_contact_hour
    # Another citizen from the same address is not blocked until the address's own limit.
    other = await site.client.post("/report", data=submission(await fresh_form(site), phone="0988 000 111"))
    assert other.status == 201


async def test_a_submission_the_locked_database_cannot_take_is_not_sent_and_leaves_no_file(
    site: Site, tmp_path: Path
) -> None:
    database = Path(site.settings.database_url.split(":///", 1)[1])
    form = submission(await fresh_form(site), files=[("so-do.png", PNG, "image/png")])
    with sqlite_locked(database, 12):
        reply = await site.client.post("/report", data=form)
    page = await reply.text()
    assert reply.status == 503 and "CHƯA được gửi" in page and "Lấn chiếm vỉa hè" in page
    assert await stored(site) == (0, [])
    # Once the database is free again, the same citizen's submission goes through.
    assert (await site.client.post("/report", data=submission(await fresh_form(site)))).status == 201


async def test_the_approved_answer_is_queued_for_the_citizen_on_the_channel_they_chose(site: Site) -> None:
    reply = await site.client.post(
        "/report",
        data=submission(await fresh_form(site), phone="", email="tu@nguoidan.example.vn", notify_by="email"),
    )
    number = (await reply.text()).split('id="request-number">', 1)[1].split("<", 1)[0]
    await add_agency_users(site)
    csrf = await as_user(site, "an")
    await step(site, csrf, number, step="forward", agency="quan_1")
    csrf = await as_user(site, "quan1")
    await step(site, csrf, number, step="accept")
    await step(site, csrf, number, step="answer", text="Đã xử lý")
    csrf = await as_user(site, "sup")
    await step(site, csrf, number, step="approve")
    async with site.hotline.db() as session:
        (message,) = list(await session.scalars(select(OutboxMessage)))
    assert (message.channel, message.kind, message.to, message.status) == (
        "email",
        "answer",
        "tu@nguoidan.example.vn",
        "pending",
    )
    assert "Đã xử lý" in message.body and f"#{number}" in message.subject


async def test_one_phone_written_three_ways_is_one_contact(site: Site) -> None:
    assert site.settings.portal.per_contact_hour == 3
    for phone in ("0914 123 456", "+84914123456", "0084 914 123 456"):
        reply = await site.client.post("/report", data=submission(await fresh_form(site), phone=phone))
        assert reply.status == 201, phone
    refused = await site.client.post("/report", data=submission(await fresh_form(site), phone="84914123456"))
    assert refused.status == 429


async def test_a_pdf_whose_action_hides_in_an_escaped_name_or_an_object_stream_is_refused(site: Site) -> None:
    from tests.helpers.files import object_stream_pdf

    hidden = object_stream_pdf(
        b"<< /Type /Catalog /Pages 2 0 R /OpenAction << /S /J#61vaScript /JS (x) >> >>"
    )
    assert b"JavaScript" not in hidden and b"J#61vaScript" not in hidden  # compressed: not in the bytes
    reply = await site.client.post(
        "/report", data=submission(await fresh_form(site), [("giay-to.pdf", hidden, "application/pdf")])
    )
    assert reply.status == 400
    assert "scripts, actions or embedded files" in await reply.text()
    assert await stored(site) == (0, [])


async def test_a_check_question_is_used_up_by_a_wrong_answer(site: Site) -> None:
    answered = await fresh_form(site)
    wrong = str(int(answered["challenge"]) + 1)
    first = await site.client.post("/report", data=submission({**answered, "challenge": wrong}))
    assert first.status == 400
    # The same question again, now with the right answer: used up, refused. A script cannot try them all.
    again = await site.client.post("/report", data=submission(answered))
    assert again.status == 400 and "câu hỏi kiểm tra" in await again.text()
    assert await stored(site) == (0, [])


async def test_every_form_of_the_question_is_answered_by_its_reader_and_only_right_answers_pass(
    tmp_path: Path,
) -> None:
    from web.citizens import challenge

    url = f"sqlite+aiosqlite:///{tmp_path}/hotline.db"
    await upgrade_async(url)
    engine = make_engine(url)
    key = b"the site's key"
    # Two centers with the site's one key and database: a question one asked, the other checks, once.
    here, there = challenge.Answers(sessions(engine), key), challenge.Answers(sessions(engine), key)
    seen = set()
    try:
        for n in range(300):
            question = challenge.ask(key)
            seen.add(question.text.split()[0])
            right = solve(question.text)
            assert 0 <= right <= 25
            wrong = challenge.ask(key)
            assert not await here.check(wrong.token, str(solve(wrong.text) + 1))
            first, second = (here, there) if n % 2 else (there, here)
            assert await first.check(question.token, str(right))
            assert not await second.check(question.token, str(right))  # once, on any center
        assert len(seen) >= 5  # the forms vary
        assert not await here.check("1.2.3.4", "5") and not await here.check("x" * 5000, "5")
        # A question signed with another key is nobody's.
        forged = challenge.ask(b"another key")
        assert not await here.check(forged.token, str(solve(forged.text)))
    finally:
        await engine.dispose()
