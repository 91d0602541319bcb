"""The "callback" FastAGI route against a scripted Asterisk and a real SQLite database: the citizen hears
the notice, the request's number and the answer, introduced as an answer when it fixed the problem and as
the reason it cannot be fixed when the agency said so (as the SMS and the follow page say it), then rates
it; the rating is on the request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from agi_scripts.callback_app import callback_route
from casework import workflow as wf
from channels import outbox
from hotline.db.engine import make_engine, sessions
from hotline.db.models import CitizenRequest, Role
from hotline.settings import Settings
from tests.agi_peer import environment, route_server, run_session

CENTER = wf.Actor("giamsat", Role.SUPERVISOR)
DISTRICT = wf.Actor("quan1", Role.AGENCY, agency="quan_1")
Served = tuple[Settings, int, str]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Served]:
    async with route_server(tmp_path, "callback", callback_route) as (settings, port):
        yield settings, port, settings.database_url


async def approved(settings: Settings, url: str, number: str, fixable: bool) -> int:
    """An answered and approved request whose citizen is to be told by phone: its call back's id."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    try:
        async with sessions(engine)() as session, session.begin():
            request = wf.open_request(
                number, CENTER, now, topic="violation", words="Giếng nước có mùi", contact_phone="0900222333"
            )
            request.notify_by = "phone"
            session.add(request)
            wf.forward(settings, request, CENTER, "quan_1", now)
            wf.accept(request, DISTRICT, now)
            wf.answer(request, DISTRICT, now, "Giếng tư nhân, ngoài phạm vi quản lý.", fixable=fixable)
            wf.approve(request, CENTER, now)
            await session.flush()
            message = outbox.answer_message(settings, request, now)
            assert message is not None and message.channel == "phone"
            session.add(message)
            await session.flush()
            return message.id
    finally:
        await engine.dispose()


def citizen(command: str) -> str:
    """Listens to the end, and presses 4 when asked to rate."""
    if command.startswith("GET DATA hotline/callback_rate"):
        return "200 result=4"
    if command.startswith(("STREAM FILE", "SAY DIGITS")):
        return "200 result=0 endpos=8000"
    return "200 result=1"


async def rating(url: str, number: str) -> int | None:
    engine = make_engine(url)
    try:
        async with sessions(engine)() as session:
            request = await session.scalar(select(CitizenRequest).where(CitizenRequest.number == number))
            assert request is not None
            return request.rating
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("fixable", "introduced_by"), [(True, "callback_answer_is"), (False, "callback_answer_not_fixed")]
)
async def test_the_answer_is_introduced_as_what_it_is(
    server: Served, fixable: bool, introduced_by: str
) -> None:
    settings, port, url = server
    number = "51000001"
    message_id = await approved(settings, url, number, fixable)
    env = environment("callback", agi_arg_1=str(message_id), agi_arg_2="")
    done = await run_session("127.0.0.1", port, env, citizen)
    plays = [c.split()[2] for c in done.commands if c.startswith("STREAM FILE")]
    assert plays[:2] == ["hotline/callback_intro", f"hotline/{introduced_by}"], done.commands
    assert any(c == f'SAY DIGITS {number} ""' for c in done.commands)
    assert plays[2].endswith(f"/answer-{message_id}") and plays[-1] == "hotline/callback_thanks"
    assert await rating(url, number) == 4
