"""Zalo and Facebook on a running app, with the payloads their documentation describes and a stand-in for
their send APIs (neither platform can be reached from here): a signed message opens a request (its photo
fetched, its place kept) and a later one from the same person joins it; a payload with a wrong signature
is refused and stores nothing; the number, and later the answer, are posted to the send API in the
documented format."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from casework import workflow as wf
from channels import chat, media, outbox
from hotline.db.models import CitizenRequest, Role
from tests.helpers.chats import (
    DOCX,
    FB_SECRET,
    VERIFY,
    Platforms,
    facebook_event,
    platforms,
    zalo_event,
)

__all__ = ["platforms"]  # the fixture
LIKE_STICKER = 369239263222822  # the id Messenger gives the thumbs-up


async def requests_of(p: Platforms, chat_id: str) -> list[CitizenRequest]:
    async with p.hotline.db() as session:
        return list(
            await session.scalars(
                select(CitizenRequest)
                .where(CitizenRequest.contact_chat == chat_id)
                .options(selectinload(CitizenRequest.files), selectinload(CitizenRequest.events))
            )
        )


async def test_zalo_messages_open_a_request_join_it_and_get_the_number_back(platforms: Platforms) -> None:
    p = platforms
    body, signature = zalo_event(
        "user_send_image",
        "zuser-1",
        {
            "msg_id": "zm-1",
            "text": "Rác đổ trộm ở hẻm 45",
            "attachments": [
                {"type": "image", "payload": {"url": f"{p.stand_in_url}/photo.png", "thumbnail": ""}}
            ],
        },
    )
    reply = await p.client.post("/webhooks/zalo", data=body, headers={"X-ZEvent-Signature": signature})
    assert reply.status == 200 and (await reply.json()) == {"taken": ["opened"]}
    again = await p.client.post("/webhooks/zalo", data=body, headers={"X-ZEvent-Signature": signature})
    assert (await again.json()) == {"taken": ["seen"]}  # the platform's retry is not a second request
    body, signature = zalo_event(
        "user_send_location",
        "zuser-1",
        {
            "msg_id": "zm-2",
            "attachments": [
                {
                    "type": "location",
                    "payload": {"coordinates": {"latitude": "10.7769", "longitude": "106.7009"}},
                }
            ],
        },
    )
    reply = await p.client.post("/webhooks/zalo", data=body, headers={"X-ZEvent-Signature": signature})
    assert (await reply.json()) == {"taken": ["joined"]}
    (request,) = await requests_of(p, "zalo:zuser-1")
    assert (request.topic, request.notify_by, request.words) == ("violation", "zalo", "Rác đổ trộm ở hẻm 45")
    assert (request.latitude, request.longitude) == (10.7769, 106.7009) and len(request.files) == 1

    assert await outbox.deliver(p.settings, p.hotline.db, datetime.now(UTC)) == 1
    (kind, headers, _, sent) = p.stand_in.posted[-1]
    assert kind == "zalo" and headers["access_token"] == "zalo-token"
    assert sent["recipient"] == {"user_id": "zuser-1"} and request.number in sent["message"]["text"]
    assert "tiêu đề" not in sent["message"]["text"] and "nhắn tiếp ngay tại đây" in sent["message"]["text"]


async def test_a_payload_with_a_wrong_signature_is_refused_and_stores_nothing(platforms: Platforms) -> None:
    p = platforms
    body, signature = zalo_event("user_send_text", "zuser-2", {"msg_id": "zm-9", "text": "giả mạo"})
    forged = await p.client.post(
        "/webhooks/zalo", data=body, headers={"X-ZEvent-Signature": "mac=" + "0" * 64}
    )
    assert forged.status == 403
    tampered = await p.client.post(
        "/webhooks/zalo",
        data=body.replace("giả mạo".encode(), b"khac"),
        headers={"X-ZEvent-Signature": signature},
    )
    assert tampered.status == 403
    fb_body, _ = facebook_event("psid-9", {"mid": "m_9", "text": "giả mạo"})
    unsigned = await p.client.post("/webhooks/facebook", data=fb_body)
    assert unsigned.status == 403
    async with p.hotline.db() as session:
        assert await session.scalar(select(func.count()).select_from(CitizenRequest)) == 0


async def test_facebook_verifies_the_webhook_opens_a_request_and_the_answer_goes_back_tagged(
    platforms: Platforms,
) -> None:
    p = platforms
    ok = await p.client.get(
        "/webhooks/facebook",
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "12345"},
    )
    assert ok.status == 200 and await ok.text() == "12345"
    wrong = await p.client.get(
        "/webhooks/facebook", params={"hub.mode": "subscribe", "hub.verify_token": "x", "hub.challenge": "1"}
    )
    assert wrong.status == 403
    body, signature = facebook_event("psid-1", {"mid": "m_1", "text": "Đề nghị lắp đèn đường hẻm 12"})
    reply = await p.client.post("/webhooks/facebook", data=body, headers={"X-Hub-Signature-256": signature})
    assert (await reply.json()) == {"taken": ["opened"]}
    echo, echo_signature = facebook_event(
        "page1", {"mid": "m_2", "text": "trả lời của trang", "is_echo": True}
    )
    reply = await p.client.post(
        "/webhooks/facebook", data=echo, headers={"X-Hub-Signature-256": echo_signature}
    )
    assert (await reply.json()) == {"taken": []}  # the page's own message is not a citizen's

    await outbox.deliver(p.settings, p.hotline.db, datetime.now(UTC))
    (kind, _, query, sent) = p.stand_in.posted[-1]
    assert kind == "facebook" and query["access_token"] == "page-token"
    assert sent["recipient"] == {"id": "psid-1"} and sent["messaging_type"] == "RESPONSE"

    (request,) = await requests_of(p, "facebook:psid-1")
    center, district = wf.Actor("giamsat", Role.SUPERVISOR), wf.Actor("quan1", Role.AGENCY, "quan_1")
    now = datetime.now(UTC)
    async with p.hotline.db() as session, session.begin():
        request = await session.scalar(
            select(CitizenRequest)
            .where(CitizenRequest.id == request.id)
            .options(selectinload(CitizenRequest.events), selectinload(CitizenRequest.assignments))
        )
        assert request is not None
        wf.forward(p.settings, request, center, "quan_1", now)
        wf.accept(request, district, now)
        wf.answer(request, district, now, "Sẽ lắp đèn trong tháng 12")
        wf.approve(request, center, now)
        message = outbox.answer_message(p.settings, request, now)
        assert message is not None and message.channel == "facebook"
        session.add(message)
    await outbox.deliver(p.settings, p.hotline.db, datetime.now(UTC))
    (_, _, _, sent) = p.stand_in.posted[-1]
    assert sent["messaging_type"] == "MESSAGE_TAG" and sent["tag"] == "ACCOUNT_UPDATE"
    assert "Sẽ lắp đèn trong tháng 12" in sent["message"]["text"]


async def test_a_signed_event_in_many_tcp_segments_is_taken_and_an_oversized_body_is_413(
    platforms: Platforms,
) -> None:
    p = platforms
    body, signature = facebook_event("psid-7", {"mid": "m_7", "text": "Đèn đường hẻm 7 hỏng " * 200})

    async def trickle() -> AsyncIterator[bytes]:  # as a slow network delivers it
        for at in range(0, len(body), 100):
            yield body[at : at + 100]
            await asyncio.sleep(0.001)

    reply = await p.client.post(
        "/webhooks/facebook", data=trickle(), headers={"X-Hub-Signature-256": signature}
    )
    assert reply.status == 200, await reply.text()
    assert len(await requests_of(p, "facebook:psid-7")) == 1
    huge = b'{"object": "page", "entry": []' + b" " * (3 << 20) + b"}"
    big = await p.client.post("/webhooks/facebook", data=huge, headers={"X-Hub-Signature-256": signature})
    assert big.status == 413

    async def endless() -> AsyncIterator[bytes]:  # no length said in advance (chunked)
        for _ in range(64):
            yield b" " * (64 << 10)

    chunked = await p.client.post("/webhooks/zalo", data=endless(), headers={"X-ZEvent-Signature": "mac=0"})
    assert chunked.status == 413


async def test_photos_are_fetched_from_the_platforms_media_hosts_only(platforms: Platforms) -> None:
    p = platforms
    port = p.stand_in_url.rsplit(":", 1)[1]
    urls = [
        f"{p.stand_in_url}/photo.png?ok=1",  # the allowed host
        f"http://localhost:{port}/secret.png?name",  # loopback under another name: not a media host
        f"{p.stand_in_url}/moved?to=http://localhost:{port}/secret.png?redirected",  # redirected away
        f"{p.stand_in_url}/moved?to=/photo.png?ok=2",  # redirected within the host: followed
        "http://169.254.169.254/latest/meta-data/",  # the cloud's metadata service
        "file:///etc/passwd",
    ]
    body, signature = zalo_event(
        "user_send_image",
        "zuser-5",
        {
            "msg_id": "zm-5",
            "text": "",
            "attachments": [{"type": "image", "payload": {"url": u}} for u in urls],
        },
    )
    reply = await p.client.post("/webhooks/zalo", data=body, headers={"X-ZEvent-Signature": signature})
    assert reply.status == 200, await reply.text()
    (request,) = await requests_of(p, "zalo:zuser-5")
    assert len(request.files) == 2
    assert not [f for f in p.stand_in.fetched if f.startswith("/secret")]
    # Facebook allows no private network: the same stand-in's photo is not fetched at all.
    fetched = len(p.stand_in.fetched)
    fb_body, fb_signature = facebook_event(
        "psid-5",
        {"mid": "m_5", "attachments": [{"type": "image", "payload": {"url": f"{p.stand_in_url}/photo.png"}}]},
    )
    reply = await p.client.post(
        "/webhooks/facebook", data=fb_body, headers={"X-Hub-Signature-256": fb_signature}
    )
    assert reply.status == 200 and len(p.stand_in.fetched) == fetched


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("157.240.1.1", True),
        ("2a03:2880:f000::1", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
    ],
)
def test_only_public_addresses_are_asked(address: str, allowed: bool) -> None:
    rules = media.rules_for(["example.vn"], [])
    if allowed:
        rules.check_address(address)
    else:
        with pytest.raises(media.MediaRefused):
            rules.check_address(address)


async def test_an_allowed_name_that_resolves_to_a_private_address_is_not_asked(platforms: Platforms) -> None:
    p = platforms
    port = p.stand_in_url.rsplit(":", 1)[1]
    rules = media.rules_for(["localhost"], [])  # a media host's name pointed at this machine
    fetched, refused = await media.fetch_files([("anh-1", f"http://localhost:{port}/photo.png")], rules)
    assert fetched == [] and refused == ["anh-1: could not be fetched from the platform"]
    assert p.stand_in.fetched == []
    allowed = media.rules_for(["localhost"], ["127.0.0.0/8", "::1/128"])
    fetched, refused = await media.fetch_files([("anh-1", f"http://localhost:{port}/photo.png")], allowed)
    assert len(fetched) == 1 and refused == []


async def zalo_post(p: Platforms, name: str, sender: str, message: dict[str, Any]) -> Any:
    body, signature = zalo_event(name, sender, message)
    reply = await p.client.post("/webhooks/zalo", data=body, headers={"X-ZEvent-Signature": signature})
    assert reply.status == 200, await reply.text()
    return await reply.json()


async def test_a_like_sticker_or_a_gif_alone_opens_nothing(platforms: Platforms) -> None:
    p = platforms
    # Messenger's like: the documented image attachment with a sticker_id, no text.
    body, signature = facebook_event(
        "psid-like",
        {
            "mid": "m_like_1",
            "sticker_id": LIKE_STICKER,
            "attachments": [
                {
                    "type": "image",
                    "payload": {"url": f"{p.stand_in_url}/photo.png", "sticker_id": LIKE_STICKER},
                }
            ],
        },
    )
    reply = await p.client.post("/webhooks/facebook", data=body, headers={"X-Hub-Signature-256": signature})
    assert (await reply.json()) == {"taken": ["ignored"]}
    # Zalo's sticker and GIF events, as its documentation shows them.
    sticker = {
        "msg_id": "zm-st-1",
        "attachments": [
            {"type": "sticker", "payload": {"id": "bd3d6c2a", "url": f"{p.stand_in_url}/photo.png"}}
        ],
    }
    gif = {
        "msg_id": "zm-gif-1",
        "attachments": [{"type": "gif", "payload": {"url": f"{p.stand_in_url}/photo.png", "thumbnail": ""}}],
    }
    assert await zalo_post(p, "user_send_sticker", "zuser-st", sticker) == {"taken": ["ignored"]}
    assert await zalo_post(p, "user_send_gif", "zuser-st", gif) == {"taken": ["ignored"]}
    # A reaction to a message: Messenger's messaging_reactions event and Zalo's user_reacted_message.
    reaction = {
        "object": "page",
        "entry": [
            {
                "id": "page1",
                "time": int(time.time() * 1000),
                "messaging": [
                    {
                        "sender": {"id": "psid-like"},
                        "recipient": {"id": "page1"},
                        "timestamp": 2,
                        "reaction": {
                            "reaction": "like",
                            "emoji": "\U0001f44d",
                            "action": "react",
                            "mid": "m_1",
                        },
                    }
                ],
            }
        ],
    }
    body = json.dumps(reaction).encode()
    reply = await p.client.post(
        "/webhooks/facebook",
        data=body,
        headers={"X-Hub-Signature-256": chat.facebook_signature(FB_SECRET, body)},
    )
    assert (await reply.json()) == {"taken": []}
    reacted = {"msg_id": "zm-1", "react_icon": "/-heart"}
    assert await zalo_post(p, "user_reacted_message", "zuser-st", reacted) == {"taken": []}
    async with p.hotline.db() as session:
        assert await session.scalar(select(func.count()).select_from(CitizenRequest)) == 0
    assert p.stand_in.fetched == [] and await outbox.deliver(p.settings, p.hotline.db, datetime.now(UTC)) == 0


async def test_a_document_or_a_voice_message_is_kept_or_refused_with_the_reason_the_citizen_is_told(
    platforms: Platforms,
) -> None:
    p = platforms
    docx = {
        "msg_id": "zm-file-1",
        "attachments": [
            {
                "type": "file",
                "payload": {
                    "url": f"{p.stand_in_url}/don-kien-nghi.docx",
                    "size": str(len(DOCX)),
                    "name": "don-kien-nghi.docx",
                    "checksum": "5f1c",
                    "type": "docx",
                },
            }
        ],
    }
    assert await zalo_post(p, "user_send_file", "zuser-doc", docx) == {"taken": ["opened"]}
    (request,) = await requests_of(p, "zalo:zuser-doc")
    (refusal,) = [e for e in request.events if e.kind == "message_received"]
    assert "don-kien-nghi.docx" in refusal.detail["refused"][0] and "PDF" in refusal.detail["refused"][0]
    await outbox.deliver(p.settings, p.hotline.db, datetime.now(UTC))
    (_, _, _, sent) = p.stand_in.posted[-1]
    assert request.number in sent["message"]["text"]
    assert "Không nhận được don-kien-nghi.docx" in sent["message"]["text"]

    # A voice message later in the same chat: refused with its reason, and the citizen is told.
    voice = {
        "msg_id": "zm-voice-1",
        "attachments": [{"type": "audio", "payload": {"url": f"{p.stand_in_url}/voice.aac"}}],
    }
    assert await zalo_post(p, "user_send_audio", "zuser-doc", voice) == {"taken": ["joined"]}
    await outbox.deliver(p.settings, p.hotline.db, datetime.now(UTC))
    (_, _, _, told) = p.stand_in.posted[-1]
    assert request.number in told["message"]["text"] and "tin nhắn thoại" in told["message"]["text"]
    assert "/voice.aac" not in p.stand_in.fetched  # refused by its kind, never downloaded
