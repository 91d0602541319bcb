"""E-mail on real servers of the test's own (Debian's dovecot for IMAP, aiosmtpd for SMTP): a citizen's
mail with a photo in the hotline's mailbox opens a request with the file and is answered with the number,
in the same thread; their reply with the number in the subject joins it; a stranger's mail with that
number, an auto-reply and the hotline's own mail do not; the approved answer arrives in the citizen's
mailbox, threaded; a relay that is down delays the answer, retried, then marked failed, never lost."""

from __future__ import annotations

import base64
import email
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import selectinload

from casework import workflow as wf
from channels import email as mail_channel
from channels import email_in, outbox
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import CitizenRequest, OutboxMessage, Role
from hotline.db.numbers import NumberAllocator
from hotline.settings import Settings
from tests.agi_peer import free_port
from tests.conftest import TEST_SETTINGS
from tests.helpers.faults import sqlite_locked
from tests.helpers.files import PNG, heic_with_gps
from tests.mail_servers import PASSWORD, MailServers, mail_servers

__all__ = ["mail_servers"]  # the fixture
HOTLINE = "tongdai1022@tinh.example.vn"
MX = "mx.tinh.example.vn"  # the province's receiving mail server, which checks senders and says so
CITIZEN = "citizen@nguoidan.example.vn"


def site_for(tmp_path: Path, servers: MailServers, smtp_port: int | None = None) -> Settings:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    (state / "secrets.toml").write_text(f'"mailbox.password" = "{PASSWORD}"\n', encoding="utf-8")
    return site_settings.load(
        TEST_SETTINGS,
        overrides={
            "database.url": f"sqlite+aiosqlite:///{tmp_path}/mail.db",
            "state_dir": str(state),
            "mail": {
                "host": "127.0.0.1",
                "port": smtp_port or servers.smtp_port,
                "sender": f"Tổng đài 1022 <{HOTLINE}>",
            },
            "mailbox": {
                "host": "127.0.0.1",
                "port": servers.imap_port,
                "ssl": False,
                "username": "hotline",
                "address": HOTLINE,
                "topic": "violation",
                "trusted_authserv_id": MX,
            },
            "web.public_url": "https://1022.tinh.example.vn",
        },
    )


def verdict(sender: str, result: str = "pass", by: str = MX) -> str:
    """The Authentication-Results header a receiving server adds (RFC 8601)."""
    domain = sender.rpartition("@")[2]
    checks = f"spf=pass smtp.mailfrom={domain}; dkim={result} header.d={domain}"
    return f"{by}; {checks}; dmarc={result} header.from={domain}"


def citizen_mail(
    subject: str, text: str, sender: str = CITIZEN, checked: str | None = "pass", **headers: str
) -> tuple[bytes, str]:
    message = EmailMessage()
    if checked is not None:
        message["Authentication-Results"] = verdict(sender, checked)
    message["From"] = f"Nguyễn Văn Tư <{sender}>"
    message["To"] = HOTLINE
    message["Subject"] = subject
    message["Message-ID"] = email.utils.make_msgid(domain="nguoidan.example.vn")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(text)
    message.add_attachment(PNG, maintype="image", subtype="png", filename="cong-tac.png")
    return message.as_bytes(), str(message["Message-ID"])


def received(servers: MailServers) -> list[EmailMessage]:
    box = servers.maildir("citizen")
    return [
        email.message_from_bytes(bytes(box.get_bytes(key)), policy=policy.default)  # type: ignore[misc]
        for key in sorted(box.keys(), key=lambda k: box.get_message(k).get_date())
    ]


@pytest.fixture
async def db(tmp_path: Path, mail_servers: MailServers):  # type: ignore[no-untyped-def]
    site = site_for(tmp_path, mail_servers)
    await upgrade_async(site.database_url)
    engine = make_engine(site.database_url)
    yield site, sessions(engine)
    await engine.dispose()


async def load(db: object, number: str) -> CitizenRequest:
    async with db() as session:  # type: ignore[operator]
        found = await session.scalar(
            select(CitizenRequest)
            .where(CitizenRequest.number == number)
            .options(
                selectinload(CitizenRequest.files),
                selectinload(CitizenRequest.events),
                selectinload(CitizenRequest.contacts),
                selectinload(CitizenRequest.assignments),
            )
        )
    assert found is not None
    return found


async def test_a_mail_opens_a_request_a_reply_joins_it_and_the_answer_comes_back_threaded(
    db: tuple[Settings, object], mail_servers: MailServers
) -> None:
    site, sessions_ = db
    numbers = NumberAllocator(sessions_)  # type: ignore[arg-type]
    raw, first_id = citizen_mail("Cống thoát nước bị tắc", "Cống trước nhà số 12 Lê Lợi bị tắc ba ngày nay.")
    mail_servers.deliver("hotline", raw)
    (taken,) = await email_in.poll(site, sessions_, numbers, site.request_files_path)  # type: ignore[arg-type]
    assert taken.outcome == "opened"
    r = await load(sessions_, taken.number)
    assert (r.topic, r.contact_email, r.contact_name, r.notify_by) == (
        "violation",
        CITIZEN,
        "Nguyễn Văn Tư",
        "email",
    )
    assert "Lê Lợi bị tắc" in r.words and [f.name for f in r.files] == ["cong-tac.png"]
    assert await email_in.poll(site, sessions_, numbers, site.request_files_path) == []  # read: not again

    assert await outbox.deliver(site, sessions_, datetime.now(UTC)) == 1  # type: ignore[arg-type]
    (confirmation,) = received(mail_servers)
    assert f"#{r.number}" in confirmation["Subject"] and confirmation["In-Reply-To"] == first_id
    assert confirmation["Auto-Submitted"] == "auto-replied" and r.number in confirmation.get_content()
    # RFC 5322's two required headers besides From, set by the hotline (the relay adds neither).
    sent_at = email.utils.parsedate_to_datetime(str(confirmation["Date"]))
    assert abs((datetime.now(UTC) - sent_at).total_seconds()) < 60
    assert mail_channel.message_ids(str(confirmation["Message-ID"])) == [str(confirmation["Message-ID"])]
    assert "https://1022.tinh.example.vn/follow/" in confirmation.get_content()

    # The citizen replies (their client keeps the subject); a stranger uses the same number; an auto-reply
    # and the hotline's own mail come in too.
    reply, _ = citizen_mail(f"Re: {confirmation['Subject']}", "Thêm ảnh mới chụp sáng nay.")
    stranger, _ = citizen_mail(f"Hỏi về #{r.number}", "Tôi cũng ở gần đó", sender="khac@example.vn")
    auto, _ = citizen_mail(
        f"Re: {confirmation['Subject']}", "Tôi đang đi vắng", Auto_Submitted="auto-replied"
    )
    own, _ = citizen_mail("Thư vòng", "x", sender=HOTLINE)
    for raw in (reply, stranger, auto, own):
        mail_servers.deliver("hotline", raw)
    outcomes = [t.outcome for t in await email_in.poll(site, sessions_, numbers, site.request_files_path)]  # type: ignore[arg-type]
    assert outcomes == ["joined", "opened", "ignored", "ignored"]
    r = await load(sessions_, r.number)
    assert len(r.files) == 2 and [k.channel for k in r.contacts] == ["email", "email"]
    assert any(e.kind == "message_received" and "Thêm ảnh" in e.detail["text"] for e in r.events)

    # Forwarded, answered, approved: the answer goes to the citizen's mailbox in the same thread.
    center, district = wf.Actor("giamsat", Role.SUPERVISOR), wf.Actor("quan1", Role.AGENCY, "quan_1")
    now = datetime.now(UTC)
    async with sessions_() as session, session.begin():  # type: ignore[operator]
        session.add(r)
        wf.forward(site, r, center, "quan_1", now)
        wf.accept(r, district, now)
        wf.answer(r, district, now, "Đã nạo vét cống ngày 24/11.")
        wf.approve(r, center, now)
        message = outbox.answer_message(site, r, now)
        assert message is not None
        session.add(message)
    await outbox.deliver(site, sessions_, datetime.now(UTC))  # type: ignore[arg-type]
    answer = received(mail_servers)[-1]
    assert "Đã nạo vét cống ngày 24/11." in answer.get_content() and f"#{r.number}" in answer["Subject"]
    assert f"<request.{r.number}@tinh.example.vn>" in answer["References"]
    kinds = [e.kind for e in (await load(sessions_, r.number)).events]
    assert kinds.count("message_sent") == 2


async def test_a_relay_that_is_down_delays_the_answer_then_marks_it_failed(
    tmp_path: Path, mail_servers: MailServers
) -> None:
    site = site_for(tmp_path, mail_servers, smtp_port=free_port())  # nothing listens there
    await upgrade_async(site.database_url)
    engine = make_engine(site.database_url)
    db = sessions(engine)
    try:
        now = datetime.now(UTC)
        request = wf.open_request(
            "10000016", wf.Actor("web", None), now, topic="health", words="x", contact_email=CITIZEN
        )
        async with db() as session, session.begin():
            session.add(request)
            await session.flush()
            session.add(outbox.queue(request, "answer", "email", CITIZEN, "Kết quả", "Đã xử lý", now))
        assert await outbox.deliver(site, db, now) == 0
        async with db() as session:
            (message,) = list(await session.scalars(select(OutboxMessage)))
        assert (message.status, message.attempts) == ("pending", 1) and "127.0.0.1" in message.error
        assert message.next_at == now + timedelta(seconds=outbox.RETRY_AFTER[0])
        assert await outbox.deliver(site, db, now + timedelta(seconds=10)) == 0  # not due yet: not tried
        at = now
        for wait in outbox.RETRY_AFTER:
            at += timedelta(seconds=wait)
            await outbox.deliver(site, db, at)
        async with db() as session:
            (message,) = list(await session.scalars(select(OutboxMessage)))
        assert (message.status, message.attempts) == ("failed", len(outbox.RETRY_AFTER) + 1)
        r = await load(db, "10000016")
        (failed,) = [e for e in r.events if e.kind == "message_failed"]
        assert failed.detail["to"] == "c***@nguoidan.example.vn"
        # Once the relay is back, a message queued later goes at once.
        site = site_for(tmp_path, mail_servers)
        async with db() as session, session.begin():
            session.add(outbox.queue(r, "answer", "email", CITIZEN, "Kết quả", "Đã xử lý", at))
        assert await outbox.deliver(site, db, at) == 1
        assert received(mail_servers)[-1]["Subject"] == "Kết quả"
    finally:
        await engine.dispose()


async def test_a_mail_the_locked_database_cannot_take_stays_unread_and_is_taken_later(
    db: tuple[Settings, object], mail_servers: MailServers
) -> None:
    site, sessions_ = db
    numbers = NumberAllocator(sessions_)  # type: ignore[arg-type]
    raw, _ = citizen_mail("Nước sinh hoạt bị đục", "Nước máy khu phố 3 đục từ sáng.")
    mail_servers.deliver("hotline", raw)
    database = Path(site.database_url.split(":///", 1)[1])
    with sqlite_locked(database, 12), pytest.raises((OperationalError, TimeoutError)):
        await email_in.poll(site, sessions_, numbers, site.request_files_path)  # type: ignore[arg-type]
    box = mail_servers.imap("hotline")
    try:
        _, unseen = box.uid("SEARCH", "UNSEEN")
    finally:
        box.logout()
    assert len(unseen[0].split()) == 1  # not marked read: nothing was taken
    assert not list(site.request_files_path.glob("*.png"))  # and its photo not kept without its request
    (taken,) = await email_in.poll(site, sessions_, numbers, site.request_files_path)  # type: ignore[arg-type]
    assert taken.outcome == "opened"


def _encoded_line_break_mail(sender: str = CITIZEN) -> bytes:
    """A mail whose Subject's encoded words decode to CR/LF and a header of the sender's choosing."""
    words = base64.b64encode("Cống tắc\r\nBcc: victim@example.com\r\n".encode()).decode()
    return (
        f"Authentication-Results: {verdict(sender)}\r\n"
        f"From: Nguyen Van Tu <{sender}>\r\nTo: {HOTLINE}\r\nSubject: =?utf-8?b?{words}?=\r\n"
        f"Message-ID: <crlf.1@nguoidan.example.vn>\r\nIn-Reply-To: <a@b>\r\n\tBcc: x@y\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nCống trước nhà số 12 bị tắc.\r\n"
    ).encode()


async def test_a_subject_that_decodes_to_a_line_break_never_stops_the_outbox(
    db: tuple[Settings, object], mail_servers: MailServers
) -> None:
    site, sessions_ = db
    numbers = NumberAllocator(sessions_)  # type: ignore[arg-type]
    mail_servers.deliver("hotline", _encoded_line_break_mail())
    (taken,) = await email_in.poll(site, sessions_, numbers, site.request_files_path)  # type: ignore[arg-type]
    assert taken.outcome == "opened"
    r = await load(sessions_, taken.number)
    # Cleaned where it entered: one line, nothing of it can become a header.
    assert "\r" not in r.words.split("\n\n")[0] and "\n" not in r.words.split("\n\n")[0]
    # A second citizen's mail behind it: both replies go, in one round.
    raw, _ = citizen_mail("Đèn đường hỏng", "Đèn đường ngõ 5 hỏng.", sender="khac@nguoidan.example.vn")
    mail_servers.deliver("hotline", raw)
    await email_in.poll(site, sessions_, numbers, site.request_files_path)  # type: ignore[arg-type]
    assert await outbox.deliver(site, sessions_, datetime.now(UTC)) == 2  # type: ignore[arg-type]
    first, second = received(mail_servers)[-2:]
    assert f"#{r.number}" in first["Subject"] and "Bcc" not in first and "victim" not in str(first["To"])
    assert first["In-Reply-To"] == "<crlf.1@nguoidan.example.vn>"
    assert "Đèn đường hỏng" in second["Subject"]


async def test_a_message_that_can_never_go_is_parked_with_its_reason_and_sent_again_once_fixed(
    db: tuple[Settings, object], mail_servers: MailServers, monkeypatch: pytest.MonkeyPatch
) -> None:
    site, sessions_ = db
    now = datetime.now(UTC)
    async with sessions_() as session, session.begin():  # type: ignore[operator]
        request = wf.open_request(
            "10000016", wf.Actor("web", None), now, topic="health", words="x", contact_email=CITIZEN
        )
        session.add(request)
        await session.flush()
        bad = outbox.queue(request, "answer", "email", "a@b\r\nBcc: c@d", "Kết quả", "Đã xử lý", now)
        odd = outbox.queue(request, "answer", "email", CITIZEN, "Lỗi lạ", "Đã xử lý", now)
        good = outbox.queue(request, "answer", "email", CITIZEN, "Kết quả", "Đã xử lý", now)
        session.add_all([bad, odd, good])
    compose = mail_channel.compose

    def defect(settings: Settings, number: str, to: str, subject: str, *rest: str) -> EmailMessage:
        if subject == "Lỗi lạ":  # a defect of ours that no one foresaw, for this message alone
            raise RuntimeError("unforeseen")
        return compose(settings, number, to, subject, *rest)

    monkeypatch.setattr(mail_channel, "compose", defect)
    assert await outbox.deliver(site, sessions_, now) == 1  # type: ignore[arg-type]
    async with sessions_() as session:  # type: ignore[operator]
        kept = {
            m.subject if m.id != bad.id else "bad": m for m in await session.scalars(select(OutboxMessage))
        }
    # The address that is not one: failed at once, with the reason. The defect: a failed try, later again.
    assert (kept["bad"].status, kept["bad"].attempts) == ("failed", 1)
    assert "not an e-mail address" in kept["bad"].error or "not one e-mail address" in kept["bad"].error
    assert (kept["Lỗi lạ"].status, kept["Lỗi lạ"].attempts) == ("pending", 1)
    assert "RuntimeError: unforeseen" in kept["Lỗi lạ"].error
    assert kept["Kết quả"].status == "sent" and received(mail_servers)[-1]["Subject"] == "Kết quả"
    r = await load(sessions_, "10000016")
    assert [e.detail["error"] for e in r.events if e.kind == "message_failed"] == [kept["bad"].error]

    # Fixed (the address corrected by a person): sent again.
    async with sessions_() as session, session.begin():  # type: ignore[operator]
        (await session.get(OutboxMessage, bad.id)).to = CITIZEN  # type: ignore[union-attr]
    later = now + timedelta(seconds=1)
    assert await outbox.send_again(sessions_, later) == 1  # type: ignore[arg-type]
    monkeypatch.setattr(mail_channel, "compose", compose)
    assert await outbox.deliver(site, sessions_, later + timedelta(seconds=outbox.RETRY_AFTER[0])) == 2  # type: ignore[arg-type]


async def test_a_mail_with_thirty_attachments_keeps_as_many_as_the_form_allows_and_says_so(
    db: tuple[Settings, object], mail_servers: MailServers
) -> None:
    site, sessions_ = db
    message = EmailMessage()
    message["From"] = f"Nguyễn Văn Tư <{CITIZEN}>"
    message["To"] = HOTLINE
    message["Subject"] = "Ba mươi ảnh"
    message.set_content("Xem ảnh đính kèm.")
    for i in range(30):
        message.add_attachment(PNG, maintype="image", subtype="png", filename=f"anh-{i}.png")
    mail_servers.deliver("hotline", message.as_bytes())
    numbers = NumberAllocator(sessions_)  # type: ignore[arg-type]
    (taken,) = await email_in.poll(site, sessions_, numbers, site.request_files_path)  # type: ignore[arg-type]
    r = await load(sessions_, taken.number)
    assert len(r.files) == site.portal.files == 5
    notes = [e.detail for e in r.events if e.kind == "message_received"]
    assert any("25 of 30 files not taken: at most 5" in str(n) for n in notes)


async def test_a_forged_sender_never_joins_a_request_and_gets_no_echo_and_few_answers(
    db: tuple[Settings, object], mail_servers: MailServers
) -> None:
    site, sessions_ = db
    numbers = NumberAllocator(sessions_)  # type: ignore[arg-type]
    raw, _ = citizen_mail("Cống thoát nước bị tắc", "Cống trước nhà số 12 bị tắc.")
    mail_servers.deliver("hotline", raw)
    (first,) = await email_in.poll(site, sessions_, numbers, site.request_files_path)  # type: ignore[arg-type]
    await outbox.deliver(site, sessions_, datetime.now(UTC))  # type: ignore[arg-type]
    # Four forgeries of the citizen's address naming their request: no verdict at all; a failing one; a
    # passing one from a server that is not the site's; the site's "fail" on top of a forged "pass".
    spam = "MUA THUỐC GIÁ RẺ http://spam.example"
    forged = [
        citizen_mail(f"#{first.number} {spam}", "Tôi rút lại phản ánh.", checked=None)[0],
        citizen_mail(f"#{first.number} {spam}", "Tôi rút lại phản ánh.", checked="fail")[0],
        citizen_mail(
            f"#{first.number} {spam}",
            "Tôi rút lại phản ánh.",
            checked=None,
            Authentication_Results=verdict(CITIZEN, "pass", by="mx.attacker.example"),
        )[0],
    ]
    message = email.message_from_bytes(forged[1], policy=policy.default)
    message["Authentication-Results"] = verdict(CITIZEN, "pass")  # below the server's own "fail"
    message.replace_header("Message-ID", email.utils.make_msgid(domain="nguoidan.example.vn"))
    forged.append(message.as_bytes())
    for raw in forged:
        mail_servers.deliver("hotline", raw)
    taken = await email_in.poll(site, sessions_, numbers, site.request_files_path)  # type: ignore[arg-type]
    assert [t.outcome for t in taken] == ["opened"] * 4
    assert first.number not in [t.number for t in taken]
    r = await load(sessions_, first.number)
    assert not any(e.kind == "message_received" for e in r.events)
    # The address was answered today already: the forgeries get nothing (no backscatter to the victim).
    before = len(received(mail_servers))
    await outbox.deliver(site, sessions_, datetime.now(UTC))  # type: ignore[arg-type]
    assert len(received(mail_servers)) == before
    # A new unverified address: one automatic answer a day, repeating nothing it wrote.
    for n in range(2):
        raw, _ = citizen_mail(f"{spam} {n}", "Xin chào", sender="moi@lan.example.vn", checked=None)
        mail_servers.deliver("hotline", raw)
    taken = await email_in.poll(site, sessions_, numbers, site.request_files_path)  # type: ignore[arg-type]
    assert [t.outcome for t in taken] == ["opened", "opened"]
    async with sessions_() as session:  # type: ignore[operator]
        queued = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.to == "moi@lan.example.vn"))
        )
    assert len(queued) == site.mailbox.unverified_answers_per_day == 1
    assert "MUA" not in queued[0].subject and queued[0].in_reply_to == ""


def test_the_verdict_is_the_trusted_servers_for_the_from_domain() -> None:
    def parsed(*results: str, sender: str = CITIZEN) -> bool:
        message = EmailMessage()
        for value in results:
            message["Authentication-Results"] = value
        return mail_channel.sender_verified(message, sender, MX)

    assert parsed(f"{MX}; dmarc=pass header.from=nguoidan.example.vn")
    assert parsed(
        f"{MX}; dkim=pass header.d=example.vn", sender="tu@mail.example.vn"
    )  # a parent domain signed
    assert not parsed(f"{MX}; dkim=pass header.d=attacker.example")  # signed, by someone else
    assert not parsed(f"{MX}; dkim=fail header.d=nguoidan.example.vn; dmarc=fail")
    assert not parsed("mx.other.example; dmarc=pass")
    assert not parsed(f"{MX}; spf=pass smtp.mailfrom=nguoidan.example.vn")  # SPF alone is not the From
    assert not parsed()
    assert not mail_channel.sender_verified(EmailMessage(), CITIZEN, "")  # no trusted server configured


def raw_mail(headers: list[tuple[str, str]], text: str) -> bytes:
    """A message written header by header, as a mail program would send it (no library repairing it)."""
    lines = [f"{name}: {value}" for name, value in headers]
    lines += [
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Transfer-Encoding: 8bit",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + text.replace("\n", "\r\n")).encode("utf-8")


async def test_a_reply_keeps_only_the_citizens_words_and_joins_by_its_thread_even_with_a_new_subject(
    db: tuple[Settings, object], mail_servers: MailServers
) -> None:
    site, sessions_ = db
    numbers = NumberAllocator(sessions_)  # type: ignore[arg-type]
    raw, _ = citizen_mail("Đèn đường hỏng", "Đèn đường trước số 5 Hai Bà Trưng không sáng.")
    mail_servers.deliver("hotline", raw)
    (taken,) = await email_in.poll(site, sessions_, numbers, site.request_files_path)  # type: ignore[arg-type]
    await outbox.deliver(site, sessions_, datetime.now(UTC))  # type: ignore[arg-type]
    (confirmation,) = received(mail_servers)
    # Vietnamese Gmail's reply: a new subject, the hotline's message quoted under "Vào … đã viết:", a
    # closing and a phone's line; threaded by In-Reply-To and References only.
    quoted = "\n".join("> " + line for line in confirmation.get_content().splitlines())
    words = "Đèn vẫn chưa sáng, tối qua khu phố rất tối.\nNhờ kiểm tra giúp."
    reply = raw_mail(
        [
            ("Authentication-Results", verdict(CITIZEN)),
            ("From", f"Nguyễn Văn Tư <{CITIZEN}>"),
            ("To", HOTLINE),
            ("Subject", "Bổ sung thông tin"),
            ("Message-ID", "<reply.1@nguoidan.example.vn>"),
            ("In-Reply-To", str(confirmation["Message-ID"])),
            ("References", f"{confirmation['References']} {confirmation['Message-ID']}"),
        ],
        f"{words}\n\nTrân trọng,\nTư\n\nVào Th 2, 24 thg 11, 2026 vào lúc 09:00 Tổng đài 1022 <{HOTLINE}> đã"
        f" viết:\n{quoted}\n",
    )
    mail_servers.deliver("hotline", reply)
    (joined,) = await email_in.poll(site, sessions_, numbers, site.request_files_path)  # type: ignore[arg-type]
    assert (joined.outcome, joined.number) == ("joined", taken.number)
    r = await load(sessions_, taken.number)
    (added,) = [e for e in r.events if e.kind == "message_received"]
    assert added.detail["text"] == words


async def test_a_from_in_one_encoded_word_gives_its_address_and_an_unreadable_one_no_address(
    db: tuple[Settings, object], mail_servers: MailServers
) -> None:
    site, sessions_ = db
    numbers = NumberAllocator(sessions_)  # type: ignore[arg-type]
    whole = base64.b64encode(f'"Trần Thị Hoa" <{CITIZEN}>'.encode()).decode()
    nothing = base64.b64encode("Trần Thị Hoa (không có địa chỉ)".encode()).decode()
    for n, sender in enumerate((f"=?utf-8?B?{whole}?=", f"=?utf-8?B?{nothing}?=")):
        mail = raw_mail(
            [
                ("From", sender),
                ("To", HOTLINE),
                ("Subject", "Rác thải"),
                ("Message-ID", f"<encoded.{n}@nguoidan.example.vn>"),
            ],
            "Rác đổ trộm ở hẻm 45.",
        )
        mail_servers.deliver("hotline", mail)
    recovered, unreadable = await email_in.poll(site, sessions_, numbers, site.request_files_path)  # type: ignore[arg-type]
    assert (recovered.outcome, unreadable.outcome) == ("opened", "opened")
    first, second = await load(sessions_, recovered.number), await load(sessions_, unreadable.number)
    assert (first.contact_email, first.contact_name) == (CITIZEN, "Trần Thị Hoa")
    assert second.contact_email == "" and "hẻm 45" in second.words
    async with sessions_() as session:  # type: ignore[operator]
        queued = list(await session.scalars(select(OutboxMessage.to)))
    assert queued == [CITIZEN]  # the one with an address is answered; nothing waits for an address


async def test_an_iphone_photo_is_kept_and_a_word_file_refused_and_the_acknowledgement_says_so(
    db: tuple[Settings, object], mail_servers: MailServers
) -> None:
    site, sessions_ = db
    numbers = NumberAllocator(sessions_)  # type: ignore[arg-type]
    message = EmailMessage()
    message["Authentication-Results"] = verdict(CITIZEN)
    message["From"] = f"Nguyễn Văn Tư <{CITIZEN}>"
    message["To"] = HOTLINE
    message["Subject"] = "Ổ gà trên đường Trần Phú"
    message["Message-ID"] = email.utils.make_msgid(domain="nguoidan.example.vn")
    message.set_content("Ổ gà lớn trước số 30 Trần Phú, ảnh chụp kèm theo.")
    message.add_attachment(heic_with_gps(), maintype="image", subtype="heic", filename="IMG_4032.HEIC")
    message.add_attachment(
        b"PK\x03\x04" + bytes(100),
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
        filename="don.docx",
    )
    mail_servers.deliver("hotline", message.as_bytes())
    (taken,) = await email_in.poll(site, sessions_, numbers, site.request_files_path)  # type: ignore[arg-type]
    r = await load(sessions_, taken.number)
    assert [(f.name, f.content_type) for f in r.files] == [("IMG_4032.HEIC", "image/jpeg")]
    (refusal,) = [e for e in r.events if e.kind == "message_received"]
    assert refusal.detail["refused"][0].startswith("don.docx: only photos")
    await outbox.deliver(site, sessions_, datetime.now(UTC))  # type: ignore[arg-type]
    (acknowledgement,) = received(mail_servers)
    assert "Không nhận được don.docx: only photos" in acknowledgement.get_content()
