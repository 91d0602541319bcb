"""Who should answer, learned from the center's closed requests: the words (with or without diacritics)
and the ward suggest the topic and the agency; too few closed requests suggest nothing; nothing is
downloaded to segment or learn; the API and the request's page show the suggestion for the operator to
confirm, and an agency's user is not offered it."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import socket
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from casework import suggest
from casework import workflow as wf
from hotline.db.models import Role
from tests.helpers.requests import add_agency_users, as_user
from tests.web_site import Site, site
from web import suggestions
from web.context import CONTEXT

__all__ = ["site"]  # the fixture
HAC_THANH, QUANG_PHU = "14797", "16522"
SAID = {
    ("violation", HAC_THANH, "ubnd_hac_thanh"): ["Đèn đường hỏng ở phố Lê Lai", "Lấn chiếm vỉa hè bán hàng"],
    ("violation", QUANG_PHU, "ubnd_quang_phu"): ["Đèn đường hỏng ở phố Quang Trung", "Đổ rác trộm ven đường"],
    ("health", "", "so_y_te"): ["Nước giếng có mùi lạ, xin tư vấn sức khỏe", "Tiêm phòng cho trẻ ở đâu"],
}


def _examples(each: int = 10) -> list[suggest.Example]:
    return [
        suggest.Example(f"{text} lần {i}", ward, topic, agency)
        for (topic, ward, agency), texts in SAID.items()
        for text in texts
        for i in range(each)
    ]


def test_the_words_and_the_ward_suggest_the_topic_and_the_agency(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("something was downloaded")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    model = suggest.trained(_examples())
    assert model is not None
    lit = model.suggest("đèn đường ở ngõ 5 bị hỏng", HAC_THANH)
    assert (lit.topics[0].name, lit.agencies[0].name) == ("violation", "ubnd_hac_thanh")
    assert model.suggest("den duong o ngo 5 bi hong", QUANG_PHU).agencies[0].name == "ubnd_quang_phu"
    assert model.suggest("nuoc gieng co mui", "").topics[0].name == "health"
    assert len(lit.agencies) == 3 and lit.agencies[0].score > lit.agencies[1].score
    assert model.suggest("   ", "") == suggest.Suggestions([], [])
    assert suggest.trained(_examples()[:5]) is None


async def test_the_api_and_the_page_suggest_once_enough_requests_are_closed(site: Site) -> None:
    await add_agency_users(site)
    now = datetime.now(UTC)
    agent = wf.Actor("an", Role.AGENT)
    async with site.hotline.db() as session, session.begin():
        for i, e in enumerate(_examples(6)):
            r = wf.open_request(f"6{i:07d}", agent, now - timedelta(days=1), topic=e.topic, words=e.words)
            r.ward_code, r.agency, r.status, r.closed_at, r.outcome = e.ward, e.agency, "closed", now, "fixed"
            session.add(r)
        fresh = wf.open_request("60000999", agent, now, topic="violation", words="Đèn đường phố Lê Lai hỏng")
        fresh.ward_code = HAC_THANH
        session.add(fresh)
    center = await as_user(site, "an")
    before = await site.client.post("/api/v1/requests/suggest", json={"words": "đèn hỏng"}, headers=center)
    assert (await before.json())["topics"] == []  # nothing learned yet
    await site.client.app[CONTEXT].suggestions.train(site.hotline.db)  # type: ignore[index]
    reply = await site.client.post(
        "/api/v1/requests/suggest", json={"words": "Đèn đường hỏng", "ward": HAC_THANH}, headers=center
    )
    body = await reply.json()
    assert body["learned_from"] == 36 and body["agencies"][0]["name"] == "ubnd_hac_thanh"
    assert body["topics"][0]["label"] == "Phản ánh vi phạm quy định"
    page = await (await site.client.get("/requests/60000999")).text()
    assert 'id="learned"' in page
    agency = await as_user(site, "quan1")
    refused = await site.client.post("/api/v1/requests/suggest", json={"words": "đèn"}, headers=agency)
    assert refused.status == 403


async def test_learning_runs_in_a_child_process_that_may_die_without_harm() -> None:
    """Learning runs in a spawned child at a lower priority, not in the serving process; a child killed
    with -9 is an error the caller retries later, and the suggestions kept are the last ones learned."""
    before = {c.pid for c in multiprocessing.active_children()}  # an earlier test's child may be ending
    learning = asyncio.create_task(suggestions.learned(_examples(2000)))  # 12,000 texts: seconds of work
    child = None
    for _ in range(200):  # up to 10 s for the child to start
        await asyncio.sleep(0.05)
        if new := [c for c in multiprocessing.active_children() if c.pid not in before and c.is_alive()]:
            child = new[0]
            break
    assert child is not None and child.pid is not None and child.pid != os.getpid()
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    for _ in range(200):  # the child lowers its priority once it has started (imports take seconds)
        if os.getpriority(os.PRIO_PROCESS, child.pid) > ours:
            break
        await asyncio.sleep(0.05)
    assert os.getpriority(os.PRIO_PROCESS, child.pid) > ours and not learning.done()
    os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(suggestions.LearningLost):
        await asyncio.wait_for(learning, 30)
    # And a whole learning in a child gives a suggester this process can use.
    model = await asyncio.wait_for(suggestions.learned(_examples()), 60)
    assert (
        model is not None and model.suggest("đèn đường hỏng", HAC_THANH).agencies[0].name == "ubnd_hac_thanh"
    )


def test_it_is_learned_anew_in_the_sites_night() -> None:
    vietnam = ZoneInfo("Asia/Ho_Chi_Minh")
    evening = datetime(2026, 12, 7, 15, 0, tzinfo=UTC)  # 22:00 in Vietnam
    assert suggestions.next_night(evening, vietnam) == datetime(2026, 12, 8, 2, 0, tzinfo=vietnam)
    small_hours = datetime(2026, 12, 7, 18, 30, tzinfo=UTC)  # 01:30 the next day
    assert suggestions.next_night(small_hours, vietnam) == datetime(2026, 12, 8, 2, 0, tzinfo=vietnam)
    at_two = datetime(2026, 12, 7, 19, 0, tzinfo=UTC)  # 02:00 exactly: the next night
    assert suggestions.next_night(at_two, vietnam) == datetime(2026, 12, 9, 2, 0, tzinfo=vietnam)


async def test_a_service_that_stops_takes_its_learning_child_with_it() -> None:
    before = {c.pid for c in multiprocessing.active_children()}
    learning = asyncio.create_task(suggestions.learned(_examples(2000)))
    child = None
    for _ in range(200):
        await asyncio.sleep(0.05)
        if new := [c for c in multiprocessing.active_children() if c.pid not in before and c.is_alive()]:
            child = new[0]
            break
    assert child is not None
    learning.cancel()
    with pytest.raises(asyncio.CancelledError):
        await learning
    child.join(5)
    assert not child.is_alive()
