"""Citizens' requests over the JSON API on a running app: the center opens one from a call and forwards it,
the agency accepts and answers, a supervisor approves; an agency's user sees only their agency's requests
and nothing of the center's; a repeat caller's open request is on the agent's screen and the new call is
linked to it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select

from ami_bridge.calls import Call
from hotline.db.models import AuditEntry, Role
from tests.helpers.requests import add_agency_users, as_user, step
from tests.web_site import Site, site

__all__ = ["site"]  # the fixture


async def test_a_request_from_a_call_goes_to_the_agency_and_back_approved(site: Site) -> None:
    await add_agency_users(site)
    call_number = site.numbers["101"]  # the call agent 101 answered
    csrf = await as_user(site, "an")
    opened = await site.client.post(
        "/api/v1/requests",
        json={
            "case": call_number,
            "topic": "health.testing",
            "words": "Hỏi nơi xét nghiệm",
            "district": "Quận 1",
        },
        headers=csrf,
    )
    assert opened.status == 201, await opened.text()
    request = await opened.json()
    # The request is known by the number the IVR read to the caller; the caller's number is its contact.
    assert request["number"] == call_number and request["contact_phone"] == "0912000111"
    assert [k["channel"] for k in request["contacts"]] == ["call"]
    again = await site.client.post(
        "/api/v1/requests", json={"case": call_number, "topic": "health", "words": "x"}, headers=csrf
    )
    assert again.status == 400  # one call opens one request
    forwarded = await step(
        site, csrf, call_number, step="forward", agency="so_y_te", instructions="Trả lời sớm"
    )
    assert forwarded["status"] == "forwarded" and forwarded["accept_due_at"]

    csrf = await as_user(site, "quan1")  # another agency: sees nothing of it
    assert await (await site.client.get("/api/v1/requests")).json() == []
    assert (await site.client.get(f"/api/v1/requests/{call_number}")).status == 404
    refused = await site.client.post(
        f"/api/v1/requests/{call_number}/steps", json={"step": "accept"}, headers=csrf
    )
    assert refused.status == 404

    csrf = await as_user(site, "soyte")
    mine = await (await site.client.get("/api/v1/requests")).json()
    assert [r["number"] for r in mine] == [call_number] and mine[0]["due"] in ("ok", "near", "overdue")
    detail = await (await site.client.get(f"/api/v1/requests/{call_number}")).json()
    assert detail["instructions"] == "Trả lời sớm" and "case_id" not in detail["contacts"][0]
    assert detail["contact_phone"] == "0912***111"  # the agency sees who wrote, not how to reach them
    await step(site, csrf, call_number, step="accept")
    answered = await step(site, csrf, call_number, step="answer", text="Xét nghiệm tại bệnh viện tỉnh")
    assert answered["status"] == "answered"

    csrf = await as_user(site, "sup")
    closed = await step(site, csrf, call_number, step="approve")
    assert closed["status"] == "closed"
    kinds = [h["kind"] for h in closed["history"]]  # type: ignore[union-attr]
    assert kinds == ["received", "forwarded", "accepted", "answered", "closed"]
    async with site.hotline.db() as session:
        audited = list(
            await session.scalars(select(AuditEntry.action).where(AuditEntry.target == call_number))
        )
    assert {
        "request.open",
        "request.forwarded",
        "request.accepted",
        "request.answered",
        "request.closed",
    } <= set(audited)


async def test_a_step_out_of_turn_or_by_the_wrong_person_is_refused_with_the_reason(site: Site) -> None:
    await add_agency_users(site)
    csrf = await as_user(site, "an")
    request = await (
        await site.client.post(
            "/api/v1/requests", json={"topic": "violation", "words": "Lấn chiếm vỉa hè"}, headers=csrf
        )
    ).json()
    number = request["number"]
    reply = await site.client.post(f"/api/v1/requests/{number}/steps", json={"step": "approve"}, headers=csrf)
    assert reply.status == 403 and "answered" in (await reply.json())["error"]
    reply = await site.client.post(
        f"/api/v1/requests/{number}/steps", json={"step": "reject", "reason": "x"}, headers=csrf
    )
    assert reply.status == 403 and "supervisor" in (await reply.json())["error"]
    reply = await site.client.post(f"/api/v1/requests/{number}/steps", json={"step": "fly"}, headers=csrf)
    assert reply.status == 400


async def test_an_agency_user_reaches_nothing_of_the_centers(site: Site) -> None:
    await add_agency_users(site)
    await as_user(site, "soyte")
    for path in (
        "/api/v1/cases",
        f"/api/v1/cases/{site.numbers['101']}",
        f"/api/v1/cases/{site.numbers['101']}/recording",
        "/api/v1/board",
        "/api/v1/reports",
        "/api/v1/desk",
        "/wallboard",
        "/reports",
        "/cases",
    ):
        reply = await site.client.get(path, allow_redirects=False)
        assert reply.status == 403, (path, reply.status)


async def test_a_repeat_callers_open_request_is_on_the_desk_and_the_new_call_is_linked(site: Site) -> None:
    csrf = await as_user(site, "an")
    first = await (
        await site.client.post(
            "/api/v1/requests",
            json={"case": site.numbers["101"], "topic": "welfare", "words": "Xin trợ cấp"},
            headers=csrf,
        )
    ).json()
    # The same citizen calls again, from the same number written another way; agent 101 answers.
    call = Call(linkedid="live.9", started_at=datetime.now(UTC), caller="+84912000111", did="1022")
    call.answered_at, call.agent = datetime.now(UTC), "101"
    site.hotline.calls[call.linkedid] = call
    site.hotline.board.agents["101"].queues.add("operator")
    site.hotline.board.agents["101"].call = call.linkedid
    desk = await (await site.client.get("/api/v1/desk")).json()
    assert [r["number"] for r in desk["requests"]] == [first["number"]]
    linked = await site.client.post(
        f"/api/v1/requests/{first['number']}/calls", json={"case": site.numbers["102"]}, headers=csrf
    )
    assert linked.status == 200, await linked.text()
    body = await linked.json()
    assert len(body["contacts"]) == 2 and body["history"][-1]["kind"] == "call_linked"
    twice = await site.client.post(
        f"/api/v1/requests/{first['number']}/calls", json={"case": site.numbers["102"]}, headers=csrf
    )
    assert twice.status == 400


async def test_an_agency_never_sees_the_citizens_address_phone_or_ip_in_the_history(site: Site) -> None:
    from casework import workflow as wf

    await add_agency_users(site)
    now = datetime.now(UTC)
    async with site.hotline.db() as session, session.begin():
        request = wf.open_request(
            "10000032",
            wf.Actor("citizen:nguoidan.tu@gmail.com", None),
            now,
            topic="violation",
            words="Lấn chiếm vỉa hè",
            contact_email="nguoidan.tu@gmail.com",
            contact_phone="0912345678",
        )
        wf.add_message(request, wf.Actor("citizen:0912345678", None), now, "sms", "", "Thêm thông tin", [])
        wf.add_message(request, wf.Actor("citizen@203.0.113.5", None), now, "web", "", "Ảnh mới", [])
        wf.add_message(request, wf.Actor("citizen:zalo-user-8841", None), now, "zalo", "", "Còn nữa", [])
        wf.forward(site.settings, request, wf.Actor("sup", Role.SUPERVISOR), "quan_1", now)
        session.add(request)
    await as_user(site, "quan1")
    seen = await (await site.client.get("/api/v1/requests/10000032")).json()
    actors = [e["actor"] for e in seen["history"]]
    text = json.dumps(seen, ensure_ascii=False)
    for private in ("nguoidan.tu@gmail.com", "0912345678", "203.0.113.5", "zalo-user-8841"):
        assert private not in text, private
    assert {"citizen:n***@gmail.com", "citizen:0912***678", "citizen"} <= set(actors)
    page = await (await site.client.get("/requests/10000032")).text()
    assert "nguoidan.tu@gmail.com" not in page and "203.0.113.5" not in page
    # The center's supervisor sees who wrote, in full.
    await as_user(site, "sup")
    seen = await (await site.client.get("/api/v1/requests/10000032")).json()
    assert "citizen@203.0.113.5" in [e["actor"] for e in seen["history"]]
