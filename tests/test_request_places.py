"""Requests placed in the wards of the 2025 map on the running app (SQLite): the form, the center's API
and Open311 place a request from a picked ward, an old address, a position or the place's name; the
request shows what was said beside the ward; the center corrects the ward as a step; the wards' lookup
is bounded; requests kept before the wards are placed once, in batches."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from casework import placing
from casework import workflow as wf
from hotline.db.models import CitizenRequest
from tests.helpers.portal import sent
from tests.helpers.requests import as_user, stored_request
from tests.web_site import Site, site

__all__ = ["site"]  # the fixture
HAC_THANH, QUANG_PHU = "14797", "16522"
PHONES = itertools.count()


async def _report(site: Site, **fields: str) -> CitizenRequest:
    # One phone each: the form limits what one contact sends.
    number = await sent(
        site.client, words="Đèn chiếu sáng hỏng cả tuần", phone=f"0912 345 6{next(PHONES):02d}", **fields
    )
    return await stored_request(site.hotline.db, number)


async def test_the_form_places_a_request_from_what_the_citizen_gave(site: Site) -> None:
    page = await (await site.client.get("/report")).text()
    assert 'data-wards data-ward-field="ward"' in page and "/static/places.js" in page
    old = await _report(site, district="P. Điện Biên, TP Thanh Hóa")
    assert (old.ward_code, old.ward_basis, old.district) == (
        HAC_THANH,
        "old_name",
        "P. Điện Biên, TP Thanh Hóa",
    )
    picked = await _report(site, district="Quảng Phú", ward=QUANG_PHU)
    assert (picked.ward_code, picked.ward_basis) == (QUANG_PHU, "picked")
    # A code that is no ward of the province is not taken: the said place decides.
    forged = await _report(site, district="Hạc Thành", ward="99999")
    assert (forged.ward_code, forged.ward_basis) == (HAC_THANH, "said")
    ward = site.settings.places().wards[QUANG_PHU]
    shared = await _report(site, latitude=str(ward.latitude), longitude=str(ward.longitude))
    assert (shared.ward_code, shared.ward_basis) == (QUANG_PHU, "position")
    nowhere = await _report(site, district="gần chợ")
    assert (nowhere.ward_code, nowhere.ward_basis) == ("", "none")


async def test_the_center_opens_and_corrects_a_requests_ward(site: Site) -> None:
    headers = await as_user(site, "an")
    reply = await site.client.post(
        "/api/v1/requests",
        json={"topic": "violation", "words": "Lấn chiếm vỉa hè", "district": "phuong quang tam"},
        headers=headers,
    )
    assert reply.status == 201, await reply.text()
    body = await reply.json()
    assert (body["ward_code"], body["ward"], body["ward_basis"]) == (
        QUANG_PHU,
        "Phường Quảng Phú",
        "old_name",
    )
    assert body["old_place"] == "Phường Quảng Tâm, Thành phố Thanh Hóa"
    number = body["number"]
    page = await (await site.client.get(f"/requests/{number}")).text()
    assert '<span id="ward">Phường Quảng Phú</span>' in page and "Phường Quảng Tâm" in page
    assert 'id="step-place"' in page
    # The agent knows better: it is Hạc Thành.
    wrong = await site.client.post(
        f"/api/v1/requests/{number}/steps", json={"step": "place", "ward": "00000"}, headers=headers
    )
    assert wrong.status == 400 and "not a ward" in await wrong.text()
    moved = await site.client.post(
        f"/api/v1/requests/{number}/steps", json={"step": "place", "ward": HAC_THANH}, headers=headers
    )
    assert moved.status == 200, await moved.text()
    found = await stored_request(site.hotline.db, number)
    assert (found.ward_code, found.ward_basis) == (HAC_THANH, "picked")
    assert found.events[-1].kind == "placed"
    assert found.events[-1].detail == {"ward": HAC_THANH, "previous": QUANG_PHU}


async def test_open311_takes_a_wards_code_as_address_id(site: Site) -> None:
    made = await site.client.post(
        "/open311/v2/requests.json",
        data={
            "service_code": "violation",
            "address_string": "12 Lê Lai",
            "address_id": HAC_THANH,
            "description": "Đèn đường hỏng",
            "phone": "0912000111",
            "api_key": site.tokens["agent"],
        },
    )
    assert made.status == 201, await made.text()
    number = (await made.json())[0]["service_request_id"]
    found = await stored_request(site.hotline.db, number)
    assert (found.ward_code, found.ward_basis) == (HAC_THANH, "picked")
    (record,) = await (await site.client.get(f"/open311/v2/requests/{number}.json")).json()
    assert (record["address_id"], record["address"]) == (HAC_THANH, None)


async def test_the_wards_lookup_answers_briefly_whatever_is_asked(site: Site) -> None:
    reply = await site.client.get("/places/wards", params={"q": "dien bien"})
    assert reply.status == 200
    first = (await reply.json())[0]
    assert first["code"] == HAC_THANH and first["old"] == "Phường Điện Biên"
    assert first["label"] == "Phường Hạc Thành (Phường Điện Biên, Thành phố Thanh Hóa)"
    long = await site.client.get("/places/wards", params={"q": "a" * 5000 + "\x00\ud800"[:1]})
    assert long.status == 200 and len(await long.json()) <= 10
    ward = site.settings.places().wards[HAC_THANH]
    near = await site.client.get("/places/nearest", params={"lat": ward.latitude, "lon": ward.longitude})
    assert (await near.json())["code"] == HAC_THANH
    for bad in ({"lat": "nan", "lon": "1"}, {"lat": "1e999", "lon": "1"}, {"lat": "x"}, {}):
        assert (await site.client.get("/places/nearest", params=bad)).status == 400
    far = await site.client.get("/places/nearest", params={"lat": "21.0285", "lon": "105.8542"})
    assert far.status == 200 and await far.json() is None


async def test_requests_kept_before_the_wards_are_placed_once(site: Site) -> None:
    now = datetime.now(UTC)
    said = ["Phường Điện Biên, TP Thanh Hóa", "Quận 1", "", "Xã Quảng Tâm"]
    async with site.hotline.db() as session, session.begin():
        for i, district in enumerate(said * 3):
            r = wf.open_request(f"9{i:07d}", wf.Actor("x", None), now, topic="violation", words="…")
            r.district = district
            session.add(r)
    placed = await placing.place_unplaced(site.hotline.db, site.settings.places(), batch=5)
    assert placed == 12
    async with site.hotline.db() as session:
        rows = (await session.execute(select(CitizenRequest.district, CitizenRequest.ward_code))).all()
    assert {d: w for d, w in rows} == {
        "Phường Điện Biên, TP Thanh Hóa": HAC_THANH,
        "Quận 1": "",
        "": "",
        "Xã Quảng Tâm": QUANG_PHU,
    }
    assert await placing.place_unplaced(site.hotline.db, site.settings.places()) == 0


async def test_a_place_that_breaks_the_matcher_loses_nothing(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong in placing, the request is kept, unplaced, for the staff to place."""

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a matcher's bug")

    monkeypatch.setattr(type(site.settings.places()), "place", broken)
    kept = await _report(site, district="Hạc Thành")
    assert (kept.ward_code, kept.ward_basis) == ("", "none")


async def test_the_public_map_is_one_period_counted_at_most_once_a_minute(site: Site) -> None:
    """Anyone may ask for it as often as they like: what they ask for changes neither the period nor how
    often the database counts it."""
    first = await (await site.client.get("/answers/map.json?from=2020-01-01&to=2026-12-31")).json()
    assert (datetime.fromisoformat(first["to"]) - datetime.fromisoformat(first["from"])).days == 29
    await _report(site, district="Hạc Thành")
    again = await (await site.client.get("/answers/map.json")).json()
    assert again == first  # the same count within the minute
