"""Who should answer, learned from the center's closed requests: the words (with or without diacritics)
and the ward suggest the topic and the agency; too few closed requests suggest nothing; nothing is
downloaded to segment or learn; the API and the request's page show the suggestion for the operator to
confirm, and an agency's user is not offered it."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from casework import suggest
from casework import workflow as wf
from hotline.db.models import Role
from tests.helpers.requests import add_agency_users, as_user
from tests.web_site import Site, site
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
