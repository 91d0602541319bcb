"""One problem, one request, across channels on the running app (SQLite, the chat platforms' payloads): a
call, a form and a Zalo message about the same broken street light in Phường Hạc Thành. The form's and
the Zalo message's requests are shown the call's as a possible duplicate (and not a request about another
street's light, nor one in another ward); the center merges both into it: their citizens are contacts of
it and are told its number, /follow and Open311 show the request they joined, and when its answer is
approved every one of the three citizens is told it on their own channel."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hotline.db.models import CitizenRequest, OutboxMessage
from tests.helpers.chats import Platforms, platforms, zalo_event
from tests.helpers.portal import sent
from tests.helpers.requests import stored_request
from tests.web_site import PASSWORD, post_login, write_case
from web import auth

__all__ = ["platforms"]  # the fixture
HAC_THANH, HAM_RONG = "14797", "14758"
LIGHT = "Đèn đường trước số 12 phố Lê Lai, phường Hạc Thành bị hỏng, tối om cả tuần nay"


async def _signed_in(p: Platforms, name: str) -> dict[str, str]:
    reply = await post_login(p.client, name, PASSWORD)
    assert reply.status == 303, await reply.text()
    page = await (await p.client.get("/login")).text()
    return {"X-CSRF-Token": page.split('data-csrf="', 1)[1].split('"', 1)[0]}


async def _step(p: Platforms, headers: dict[str, str], number: str, **body: object) -> dict[str, Any]:
    reply = await p.client.post(f"/api/v1/requests/{number}/steps", json=body, headers=headers)
    assert reply.status == 200, await reply.text()
    result: dict[str, Any] = await reply.json()
    return result


async def _form(p: Platforms, words: str, phone: str, district: str) -> str:
    return await sent(p.client, words=words, phone=phone, district=district)


async def test_a_call_a_form_and_a_zalo_message_about_one_light_become_one_request(
    platforms: Platforms,
) -> None:
    p = platforms
    for name, role, ext, agency in (
        ("an", "agent", "101", ""),
        ("sup", "supervisor", "", ""),
        ("quan1", "agency", "", "quan_1"),
    ):
        await auth.add_user(p.hotline.db, name, PASSWORD, role, ext, agency=agency)
    # The call: agent 101 opens the request from it, naming the ward the caller gave by its old name.
    case = await write_case(p.settings, "200.1", "101", None)
    center = await _signed_in(p, "an")
    reply = await p.client.post(
        "/api/v1/requests",
        json={"case": case, "topic": "violation", "words": LIGHT, "district": "P. Điện Biên, TP Thanh Hóa"},
        headers=center,
    )
    assert reply.status == 201, await reply.text()
    call = await reply.json()
    assert (call["ward_code"], call["duplicates"]) == (HAC_THANH, [])
    # Not the same problem: another street's light in the same ward, and the same words in another ward.
    other_street = await _form(
        p, "Cột đèn chiếu sáng ở ngõ 80 đường Trường Thi bị đổ nghiêng", "0912000201", "Hạc Thành"
    )
    other_ward = await _form(p, LIGHT.replace("Hạc Thành", "Hàm Rồng"), "0912000202", "Hàm Rồng")
    # The form: another citizen, other words, the same light.
    form = await _form(
        p, "Đèn đường hỏng ở phố Lê Lai đoạn trước nhà số 12, tối lắm", "0912000203", "phường Hạc Thành"
    )
    # Zalo: a third citizen writes about it, naming the ward in the text.
    body, signature = zalo_event(
        "user_send_text",
        "zuser-light",
        {"msg_id": "zm-light", "text": "Đèn đường ở số 12 Lê Lai (phường Hạc Thành) hỏng mấy hôm rồi"},
    )
    sent = await p.client.post("/webhooks/zalo", data=body, headers={"X-ZEvent-Signature": signature})
    assert (await sent.json()) == {"taken": ["opened"]}
    async with p.hotline.db() as session:
        zalo = await session.scalar(
            select(CitizenRequest.number).where(CitizenRequest.contact_chat == "zalo:zuser-light")
        )
    assert zalo is not None
    center = await _signed_in(p, "an")
    for number in (form, zalo):
        seen = await (await p.client.get(f"/api/v1/requests/{number}", headers=center)).json()
        assert seen["ward_code"] == HAC_THANH
        offered = [d["number"] for d in seen["duplicates"]]
        assert call["number"] in offered, (number, seen["duplicates"])
        assert other_ward not in offered and other_street not in offered
    page = await (await p.client.get(f"/requests/{form}")).text()
    assert f'id="merge-{call["number"]}"' in page
    # The center merges both into the call's request.
    for number in (form, zalo):
        merged = await _step(p, center, number, step="merge", into=call["number"])
        assert (merged["status"], merged["merged_into"]) == ("merged", call["number"])
    joined = await stored_request(p.hotline.db, call["number"])
    assert sorted(k.note for k in joined.contacts if k.note.startswith("merged")) == sorted(
        [f"merged {form}", f"merged {zalo}"]
    )
    async with p.hotline.db() as session:
        told = {(m.channel, m.kind): m.body for m in await session.scalars(select(OutboxMessage))}
    assert call["number"] in told[("sms", "merged")] and call["number"] in told[("zalo", "merged")]
    # The form's citizen follows their own number and sees the one it joined.
    p.client.session.cookie_jar.clear()
    await p.client.post("/follow", data={"number": form, "phone": "0912000203"})
    followed = await (await p.client.get(f"/follow/{form}")).text()
    assert 'data-shown="merged"' in followed and f'id="merged-into">{call["number"]}' in followed
    record = (await (await p.client.get(f"/open311/v2/requests/{zalo}.json")).json())[0]
    assert record["status"] == "closed" and call["number"] in record["status_notes"]
    # The call's request is forwarded, answered and approved: all three citizens are told the answer.
    center = await _signed_in(p, "an")
    await _step(p, center, call["number"], step="forward", agency="quan_1")
    district = await _signed_in(p, "quan1")
    await _step(p, district, call["number"], step="accept")
    await _step(p, district, call["number"], step="answer", text="Đã thay bóng đèn ngày 05/12")
    await _step(p, await _signed_in(p, "sup"), call["number"], step="approve")
    async with p.hotline.db() as session:
        answers = [m for m in await session.scalars(select(OutboxMessage)) if m.kind == "answer"]
    assert sorted(m.channel for m in answers) == ["phone", "sms", "zalo"]  # the caller by a call back
    assert all("Đã thay bóng đèn ngày 05/12" in m.body for m in answers)
    ids = {(await stored_request(p.hotline.db, n)).id for n in (call["number"], form, zalo)}
    assert {m.request_id for m in answers} == ids
    p.client.session.cookie_jar.clear()
    await p.client.post("/follow", data={"number": form, "phone": "0912000203"})
    followed = await (await p.client.get(f"/follow/{form}")).text()
    assert "Đã thay bóng đèn ngày 05/12" in followed
