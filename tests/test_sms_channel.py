"""SMS through a real gateway on loopback (Debian's Kannel with its fake SMSC, and Kannel's test phone): a
citizen's SMS to the hotline's number opens a request and is answered with the number by SMS; the
gateway's delivery reports reach the request's history; a long Vietnamese answer goes in as many parts as
the segment rules say (70 characters a part alone, 67 joined; 160 and 153 without diacritics)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from channels import outbox, sms
from hotline import settings as site_settings
from hotline.db.migrate import upgrade_async
from hotline.db.models import CitizenRequest, OutboxMessage
from hotline.settings import Settings
from shell.service import Hotline
from tests.agi_peer import free_port
from tests.conftest import TEST_SETTINGS
from tests.kannel import PASSWORD, Kannel, running_kannel
from tests.processes import eventually
from web.app import build_app

CITIZEN = "0912345678"
LONG_ANSWER = (
    "Ủy ban nhân dân Quận 1 đã kiểm tra hiện trạng, lập biên bản và yêu cầu hộ kinh doanh tháo dỡ mái che "
    "lấn chiếm vỉa hè trước số 12 đường Lê Lợi; lực lượng trật tự đô thị sẽ kiểm tra lại vào tuần sau."
)


@dataclass
class Gateway:
    settings: Settings
    db: async_sessionmaker[AsyncSession]
    kannel: Kannel


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    web_port = free_port()
    state = tmp_path / "state"
    state.mkdir()
    (state / "secrets.toml").write_text(f'"sms.password" = "{PASSWORD}"\n', encoding="utf-8")
    base = f"http://127.0.0.1:{web_port}"

    def settings_for(url: str) -> Settings:
        return site_settings.load(
            TEST_SETTINGS,
            overrides={
                "database.url": f"sqlite+aiosqlite:///{tmp_path}/sms.db",
                "state_dir": str(state),
                "sms": {"url": url, "username": "hotline", "callback_url": base, "topic": "violation"},
                "web.public_url": "https://1022.tinh.example.vn",
            },
        )

    first = settings_for("")
    await upgrade_async(first.database_url)
    inbound = f"{base}/sms/inbound/{sms.callback_key(first)}"
    with running_kannel(tmp_path / "kannel", inbound) as kannel:
        settings = settings_for(kannel.sendsms_url)
        bridge = Hotline.build(settings)
        server = TestServer(build_app(settings, bridge), port=web_port)
        await server.start_server()
        try:
            yield Gateway(settings, bridge.db, kannel)
        finally:
            await server.close()
            await bridge.engine.dispose()


async def load(db: async_sessionmaker[AsyncSession], **where: str) -> CitizenRequest | None:
    async with db() as session:
        return await session.scalar(
            select(CitizenRequest)
            .filter_by(**where)
            .options(selectinload(CitizenRequest.events), selectinload(CitizenRequest.contacts))
        )


async def test_an_sms_opens_a_request_and_the_number_comes_back_with_delivery_reports(
    gateway: Gateway,
) -> None:
    with gateway.kannel.phone((CITIZEN, "Đèn đường hỏng ở hẻm 45 Lê Lợi, tối om cả tuần nay")) as phone:
        request = await eventually(lambda: load(gateway.db, contact_phone=CITIZEN), "the request")
        assert (request.topic, request.notify_by, request.words) == (
            "violation",
            "sms",
            "Đèn đường hỏng ở hẻm 45 Lê Lợi, tối om cả tuần nay",
        )
        assert [k.channel for k in request.contacts] == ["sms"]
        assert await outbox.deliver(gateway.settings, gateway.db, datetime.now(UTC)) == 1

        async def reply() -> list[str]:
            # Two parts with marks cannot hold the link and the rest: the acknowledgement goes without them.
            return [d.text for d in phone.delivered("gsm7") if d.to == CITIZEN]

        (text,) = await eventually(reply, "the number on the citizen's phone")
        assert request.number in text and "https://1022.tinh.example.vn/follow/" in text
        # SMS wording: within two parts, no word of a mail's subject, how to add to it or start anew.
        assert sms.parts(text) <= 2 and "tieu de" not in text and "nhan MOI" in text, text

        async def reports() -> list[str]:
            found = await load(gateway.db, number=request.number)
            return [e.detail["report"] for e in found.events if e.kind == "message_delivery"] if found else []

        seen = await eventually(reports, "the delivery reports")
        assert "accepted by the SMSC" in seen or "delivered" in seen
        # The same message handed over again (the gateway retries when we are slow) is not taken twice.
    async with gateway.db() as session:
        assert len(list(await session.scalars(select(CitizenRequest)))) == 1


@pytest.mark.parametrize("diacritics", [True, False])
async def test_a_long_vietnamese_answer_goes_in_as_many_parts_as_the_rules_say(
    gateway: Gateway, diacritics: bool
) -> None:
    settings = gateway.settings.model_copy(
        update={"sms": gateway.settings.sms.model_copy(update={"diacritics": diacritics})}
    )
    planned = sms.fit(LONG_ANSWER, diacritics, settings.sms.most_parts)
    per_part = 67 if diacritics else 153
    assert len(LONG_ANSWER) > 2 * 70  # several parts either way
    assert (planned.coding, planned.parts) == (
        "ucs2" if diacritics else "gsm7",
        -(-len(LONG_ANSWER) // per_part),
    )
    now = datetime.now(UTC)
    async with gateway.db() as session, session.begin():
        request = CitizenRequest(
            number="10000016", status="closed", topic="violation", words="x", created_at=now
        )
        session.add(request)
        await session.flush()
        session.add(outbox.queue(request, "answer", "sms", CITIZEN, "", LONG_ANSWER, now))
    with gateway.kannel.phone() as phone:
        assert await outbox.deliver(settings, gateway.db, now) == 1

        async def whole() -> list[object]:
            return phone.delivered(planned.coding)

        (got,) = await eventually(whole, "the answer's parts")
    assert got.parts == planned.parts  # type: ignore[attr-defined]
    assert got.text == (LONG_ANSWER if diacritics else sms.without_diacritics(LONG_ANSWER))  # type: ignore[attr-defined]
    async with gateway.db() as session:
        (message,) = list(await session.scalars(select(OutboxMessage)))
    assert message.status == "sent" and f"{planned.parts} parts" in message.external_id


def test_the_segment_rules() -> None:
    assert (sms.parts("a" * 160), sms.parts("a" * 161), sms.parts("a" * 306), sms.parts("a" * 307)) == (
        1,
        2,
        2,
        3,
    )
    assert (sms.parts("ă" * 70), sms.parts("ă" * 71), sms.parts("ă" * 134), sms.parts("ă" * 135)) == (
        1,
        2,
        2,
        3,
    )
    assert sms.parts("[" * 80) == 1 and sms.parts("[" * 81) == 2  # two septets each
    assert sms.without_diacritics("Đã xử lý, đường Lê Lợi") == "Da xu ly, duong Le Loi"
    cut = sms.fit("ư" * 1000, True, 2, "https://x.vn/f/1")
    assert cut.cut and cut.parts == 2 and cut.text.endswith("… https://x.vn/f/1")


async def test_more_sms_from_the_same_phone_join_its_open_request_and_moi_starts_a_new_one(
    gateway: Gateway,
) -> None:
    async def requests() -> list[CitizenRequest]:
        async with gateway.db() as session:
            return list(
                await session.scalars(
                    select(CitizenRequest)
                    .order_by(CitizenRequest.id)
                    .options(selectinload(CitizenRequest.events))
                )
            )

    async def count(n: int) -> list[CitizenRequest] | None:
        found = await requests()
        events = sum(len(r.events) for r in found)
        return found if len(found) == n and events >= len(texts_sent) else None

    texts_sent: list[str] = []
    for sender, text, expected in (
        (CITIZEN, "Cống tràn nước ở ngõ 7 Trần Phú", 1),
        ("+84912345678", "Nước đã ngập vào nhà số 9", 1),  # the same phone, written another way
        (CITIZEN, "MOI Cây đổ chắn đường ở ngõ 3", 2),
    ):
        texts_sent.append(text)
        with gateway.kannel.phone((sender, text)):
            found = await eventually(lambda n=expected: count(n), f"{expected} request(s) after {text!r}")
    first, second = found
    assert (
        first.words == "Cống tràn nước ở ngõ 7 Trần Phú" and second.words == "MOI Cây đổ chắn đường ở ngõ 3"
    )
    added = [e.detail.get("text") for e in first.events if e.kind == "message_received"]
    assert added == ["Nước đã ngập vào nhà số 9"]
