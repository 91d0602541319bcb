"""The one table of request steps (casework/steps.py) on a real database: the steps each person is offered
follow the request's state, bad inputs are told apart from refusals, and an approved answer is queued to
the citizen whoever approves it, in the same transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from casework import steps
from casework import workflow as wf
from channels import outbox
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import CitizenRequest, OutboxMessage, Role
from hotline.settings import Settings
from tests.conftest import TEST_SETTINGS

CENTER = wf.Actor("giamsat", Role.SUPERVISOR)
AGENT = wf.Actor("dtv", Role.AGENT)
DISTRICT = wf.Actor("quan1", Role.AGENCY, "quan_1")
OTHER_AGENCY = wf.Actor("soyte", Role.AGENCY, "so_y_te")
CITIZEN = wf.Actor("citizen@203.0.113.7", None)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[tuple[Settings, async_sessionmaker[AsyncSession]]]:
    url = f"sqlite+aiosqlite:///{tmp_path}/steps.db"
    settings = site_settings.load(TEST_SETTINGS, overrides={"database.url": url, "state_dir": str(tmp_path)})
    await upgrade_async(url)
    engine = make_engine(url)
    try:
        yield settings, sessions(engine)
    finally:
        await engine.dispose()


async def take(
    db: tuple[Settings, async_sessionmaker[AsyncSession]], name: str, actor: wf.Actor, **inputs: object
) -> list[str]:
    """Take the step on request 10000016; the steps offered afterwards to the center, the district and
    the citizen."""
    settings, made = db
    table = steps.Steps(tell_citizen=outbox.answer_message, tell_merged=outbox.merged_message)
    async with made() as session, session.begin():
        request = await session.scalar(
            select(CitizenRequest)
            .where(CitizenRequest.number == "10000016")
            .options(selectinload(CitizenRequest.events), selectinload(CitizenRequest.assignments))
        )
        assert request is not None
        await table.take(name, steps.Taking(settings, session, request, actor, datetime.now(UTC), inputs))
        return [
            ",".join(table.offered(request, who, steps.STAFF_STEPS if who is not CITIZEN else steps.NAMES))
            for who in (CENTER, DISTRICT, CITIZEN)
        ]


async def test_each_step_offers_the_next_and_approving_tells_the_citizen_once(
    db: tuple[Settings, async_sessionmaker[AsyncSession]],
) -> None:
    _, made = db
    async with made() as session, session.begin():
        session.add(
            wf.open_request(
                "10000016",
                AGENT,
                datetime.now(UTC),
                topic="violation",
                words="Lấn chiếm vỉa hè",
                channel="center",
                contact_phone="0912345678",
                contact_email="tu@example.vn",
                notify_by="email",
            )
        )
    assert await take(db, "forward", CENTER, agency="quan_1", instructions="Kiểm tra") == [
        "place,share",
        "accept,return,extension",
        "",
    ]
    with pytest.raises(wf.StepRefused):
        await take(db, "accept", OTHER_AGENCY)  # another agency's request
    assert (await take(db, "accept", DISTRICT))[1] == "return,answer,extension"
    with pytest.raises(steps.StepInputError, match="hours must be a number"):
        await take(db, "extension", DISTRICT, hours="hai ngày", reason="Cần khảo sát")
    with pytest.raises(steps.StepInputError, match="text must be text"):
        await take(db, "answer", DISTRICT, text=["not", "text"])
    assert (await take(db, "answer", DISTRICT, text="Đã lập biên bản, tháo dỡ"))[
        0
    ] == "place,approve,send_back,share"
    assert await take(db, "approve", CENTER) == ["reopen,share,publish", "", "reopen,rate"]
    async with made() as session:
        (told,) = list(await session.scalars(select(OutboxMessage)))
    assert (told.channel, told.to, told.kind) == ("email", "tu@example.vn", "answer")
    assert "Đã lập biên bản, tháo dỡ" in told.body
    await take(db, "rate", CITIZEN, stars="5")
    with pytest.raises(wf.StepRefused):
        await take(db, "rate", CENTER, stars="1")  # rating is the citizen's
