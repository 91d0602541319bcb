"""The voice call back with the answer, on the sandbox Asterisk with `hotline serve`'s wiring: once a
supervisor approves the answer of a citizen to be told by phone, the outbox dials them; the simulated
citizen answers, hears the notice, the request's number and the answer, and presses 4: the request shows
the call back and the rating. A citizen who never answers is dialled again, then marked not reached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ami_bridge.bridge import Bridge
from casework import workflow as wf
from channels import outbox
from hotline.db.models import CitizenRequest, OutboxMessage, Role
from hotline.settings import Settings
from shell.sandbox.runner import Sandbox
from tests.processes import eventually
from tests.services import in_process

pytestmark = pytest.mark.asterisk
CENTER = wf.Actor("giamsat", Role.SUPERVISOR)
DISTRICT = wf.Actor("quan1", Role.AGENCY, agency="quan_1")


@pytest.fixture(scope="module")
async def hotline(site: Settings, sandbox: Sandbox) -> AsyncIterator[Bridge]:
    async with in_process(site) as bridge:
        yield bridge


async def approved_for_a_call_back(bridge: Bridge, phone: str) -> str:
    """A citizen's request answered by the district and approved, the citizen to be told by phone."""
    now = datetime.now(UTC)
    number = await bridge.writer.numbers.next_number()
    async with bridge.db() as session, session.begin():
        request = wf.open_request(
            number,
            CENTER,
            now,
            topic="violation",
            words="Lấn chiếm vỉa hè",
            contact_phone=phone,
            notify_by="phone",
        )
        session.add(request)
        wf.forward(bridge.settings, request, CENTER, "quan_1", now)
        wf.accept(request, DISTRICT, now)
        wf.answer(request, DISTRICT, now, "Đã yêu cầu tháo dỡ mái che lấn chiếm.")
        wf.approve(request, CENTER, now)
        await session.flush()
        message = outbox.answer_message(bridge.settings, request, now)
        assert message is not None and message.channel == "phone"
        session.add(message)
    return number


async def events(bridge: Bridge, number: str) -> tuple[CitizenRequest, list[dict[str, Any]]]:
    async with bridge.db() as session:
        request = await session.scalar(
            select(CitizenRequest)
            .where(CitizenRequest.number == number)
            .options(selectinload(CitizenRequest.events))
        )
    assert request is not None
    return request, [e.detail | {"kind": e.kind} for e in request.events if e.kind == "callback"]


async def test_the_citizen_answers_hears_the_answer_and_rates_it(hotline: Bridge) -> None:
    number = await approved_for_a_call_back(hotline, "0900222333")

    async def rated() -> Any:
        request, seen = await events(hotline, number)
        return (request, seen) if any(e.get("outcome") == "reached" for e in seen) else None

    request, seen = await eventually(rated, "the call back reach the citizen", 90)
    (reached,) = [e for e in seen if e["outcome"] == "reached"]
    assert reached["stars"] == 4 and request.rating == 4
    assert [e["outcome"] for e in seen] == ["dialled", "reached"]
    async with hotline.db() as session:
        (message,) = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.request_id == request.id))
        )
    assert (message.status, message.attempts) == ("sent", 1)


async def test_a_citizen_who_does_not_answer_is_called_again_then_marked(hotline: Bridge) -> None:
    number = await approved_for_a_call_back(hotline, "0911222333")
    attempts = hotline.settings.callbacks.attempts

    async def given_up() -> Any:
        _, seen = await events(hotline, number)
        return seen if any(e.get("outcome") == "not reached" for e in seen) else None

    wait = attempts * (hotline.settings.callbacks.wait_seconds + 10) + 30
    seen = await eventually(given_up, "the call back given up", wait)
    assert [e["outcome"] for e in seen] == ["dialled"] * attempts + ["not reached"]
    request, _ = await events(hotline, number)
    assert request.rating is None
