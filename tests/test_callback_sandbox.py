"""The voice call back with the answer, on the sandbox Asterisk with `hotline serve`'s wiring: once a
supervisor approves the answer of a citizen to be told by phone, the outbox dials them; the simulated
citizen answers, hears the notice, the request's number and the answer, and presses 4: the request shows
the call back and the rating. A citizen who never answers is dialled again, then marked not reached. An
answer a supervisor chose to have told by an agent reaches the agent's real phone after the number: the
call is a recorded case, one of the request's contacts, and the citizen rates the answer once the agent
hangs up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from casework import workflow as wf
from channels import outbox
from hotline.db.models import Case, CitizenRequest, OutboxMessage, RequestContact, Role
from hotline.settings import Settings
from shell.sandbox.phones import PhoneControl
from shell.sandbox.runner import Sandbox
from shell.service import Hotline
from tests.processes import eventually
from tests.services import in_process

pytestmark = pytest.mark.asterisk
CENTER = wf.Actor("giamsat", Role.SUPERVISOR)
DISTRICT = wf.Actor("quan1", Role.AGENCY, agency="quan_1")


@pytest.fixture(scope="module")
async def hotline(site: Settings, sandbox: Sandbox) -> AsyncIterator[Hotline]:
    async with in_process(site) as bridge:
        yield bridge


async def approved_for_a_call_back(bridge: Hotline, phone: str, by_agent: bool = False) -> str:
    """A citizen's request answered by the district and approved, the citizen to be told by phone."""
    now = datetime.now(UTC)
    number = await bridge.numbers.next_number()
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
        message = outbox.answer_message(bridge.settings, request, now, by_agent)
        assert message is not None and message.channel == "phone"
        session.add(message)
    return number


async def events(bridge: Hotline, number: str) -> tuple[CitizenRequest, list[dict[str, Any]]]:
    async with bridge.db() as session:
        request = await session.scalar(
            select(CitizenRequest)
            .where(CitizenRequest.number == number)
            .options(selectinload(CitizenRequest.events))
        )
    assert request is not None
    return request, [e.detail | {"kind": e.kind} for e in request.events if e.kind == "callback"]


async def test_the_citizen_answers_hears_the_answer_and_rates_it(hotline: Hotline) -> None:
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


async def test_a_citizen_who_does_not_answer_is_called_again_then_marked(hotline: Hotline) -> None:
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


async def test_an_agent_tells_the_answer_and_the_citizen_rates_it_after(
    hotline: Hotline, phones: dict[str, PhoneControl]
) -> None:
    number = await approved_for_a_call_back(hotline, "0900444555", by_agent=True)

    async def talking() -> Any:
        return next(
            (c for c in hotline.calls.values() if c.variable("request_number") == number and c.answered_at),
            None,
        )

    call = await eventually(talking, "the call back reach an agent of the violation queue", 90)
    assert (call.agent, call.caller, call.queue) == ("101", "0900444555", "violation")
    (agent,) = [a for a in hotline.board.snapshot()["agents"] if a["extension"] == "101"]
    assert agent["call"]["request"] == number  # what the agent's desk opens
    await asyncio.sleep(3)  # a few seconds of conversation, recorded
    await phones["101"].hangup()

    async def rated() -> Any:
        request, seen = await events(hotline, number)
        return (request, seen) if any(e.get("outcome") == "rated" for e in seen) else None

    request, seen = await eventually(rated, "the citizen rate the answer after the agent", 60)
    assert [e["outcome"] for e in seen] == ["dialled", "reached", "rated"]
    assert seen[1]["agent_queue"] == "violation" and seen[2]["stars"] == 4 and request.rating == 4

    async def written() -> Any:
        async with hotline.db() as session:
            case = await session.scalar(select(Case).where(Case.linkedid == call.linkedid))
            linked = await session.scalar(
                select(RequestContact).where(
                    RequestContact.request_id == request.id, RequestContact.case_id.is_not(None)
                )
            )
        return (case, linked) if case is not None and case.ended_at and linked is not None else None

    case, linked = await eventually(written, "the call back's case written and linked", 30)
    assert (case.request_number, case.outcome, case.agent) == (number, "answered", "101")
    assert case.recording and (case.recording_seconds or 0) > 1
    assert (linked.case_id, linked.channel, linked.note) == (case.id, "call", "call back")
    async with hotline.db() as session:
        (message,) = list(
            await session.scalars(select(OutboxMessage).where(OutboxMessage.request_id == request.id))
        )
    assert (message.kind, message.status, message.attempts) == ("answer_agent", "sent", 1)
