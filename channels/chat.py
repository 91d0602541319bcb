"""Zalo Official Account and Facebook Messenger, as their documentation describes them: the webhook's
signature, the events it carries (text, photos, a shared location) and the send API replies go through.
Neither platform can be reached from a test machine: the formats are the documented ones, and the tests
post signed payloads and run a stand-in for the send APIs.

Zalo signs an event with X-ZEvent-Signature: "mac=" + sha256(app id + the body as sent + the event's
timestamp + the OA's secret key). Facebook signs with X-Hub-Signature-256: "sha256=" + HMAC-SHA256(app
secret, the body as sent). A payload whose signature does not match is refused before it is read."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp

from channels import media
from hotline import secrets
from hotline.settings import Settings
from hotline.values import same_secret


class ChatRefused(Exception):
    """A payload that is not signed by the platform, or not one of its events."""


class ChatNotSent(Exception):
    """The send API is not configured, cannot be reached, or refused the message."""


@dataclass
class ChatMessage:
    channel: str  # zalo, facebook
    message_id: str
    sender: str
    text: str
    files: list[tuple[str, str]]  # (name, the platform's URL) of each photo or document sent
    position: tuple[float, float] | None
    refused: list[str] = field(default_factory=list)  # what was sent but is not taken, and why

    @property
    def says_something(self) -> bool:
        """Words, a file, a place, or something refused (the citizen is told why): not a sticker, a
        like or a GIF alone, which never open a request."""
        return bool(self.text.strip() or self.files or self.position or self.refused)


# What a chat can carry besides words and a place: kept (photos and documents, checked as any other file),
# refused with the reason (voice and video: not kept by the hotline), or nothing a person said (stickers,
# likes, GIFs).
PHOTO, DOCUMENT = "image", "file"
NOT_KEPT = {
    "audio": "tin nhắn thoại chưa được nhận: xin nhắn bằng chữ hoặc gọi 1022",
    "video": "video chưa được nhận: xin gửi ảnh chụp hoặc nhắn bằng chữ",
}
CONTENT_FREE = {"sticker", "gif"}


# -- Zalo -------------------------------------------------------------------------------------------------


def zalo_signature(app_id: str, body: bytes, timestamp: str, oa_secret: str) -> str:
    digest = hashlib.sha256(app_id.encode() + body + timestamp.encode() + oa_secret.encode()).hexdigest()
    return f"mac={digest}"


def zalo_events(settings: Settings, body: bytes, signature: str) -> list[ChatMessage]:
    try:
        event = json.loads(body)
    except ValueError:
        raise ChatRefused("not JSON") from None
    if not isinstance(event, dict):
        raise ChatRefused("not a Zalo event")
    expected = zalo_signature(
        settings.zalo.app_id,
        body,
        str(event.get("timestamp", "")),
        secrets.value(settings, secrets.ZALO_SECRET_KEY),
    )
    if not same_secret(expected, signature.strip()):
        raise ChatRefused("the signature does not match")
    name = str(event.get("event_name", ""))
    if not name.startswith("user_send_"):
        return []  # follows, reads, the OA's own messages: nothing a citizen asked
    message = event.get("message") or {}
    sender = str((event.get("sender") or {}).get("id", ""))
    found = ChatMessage(
        "zalo", str(message.get("msg_id", "")), sender, str(message.get("text", "")), [], None
    )
    for item in message.get("attachments") or []:
        payload = item.get("payload") or {}
        if item.get("type") == "location":
            found.position = _position(payload.get("coordinates") or {}, "latitude", "longitude")
        else:
            _attachment(found, str(item.get("type", "")), payload, str(payload.get("name", "")))
    return [found]


def zalo_reply(to: str, text: str) -> dict[str, Any]:
    return {"recipient": {"user_id": to}, "message": {"text": text}}


# -- Facebook Messenger ------------------------------------------------------------------------------------


def facebook_signature(app_secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def facebook_events(settings: Settings, body: bytes, signature: str) -> list[ChatMessage]:
    expected = facebook_signature(secrets.value(settings, secrets.FACEBOOK_APP_SECRET), body)
    if not same_secret(expected, signature.strip()):
        raise ChatRefused("the signature does not match")
    try:
        payload = json.loads(body)
    except ValueError:
        raise ChatRefused("not JSON") from None
    if not isinstance(payload, dict) or payload.get("object") != "page":
        raise ChatRefused("not a page's event")
    out = []
    for entry in payload.get("entry") or []:
        for event in entry.get("messaging") or []:
            message = event.get("message")
            if not isinstance(message, dict) or message.get("is_echo"):
                continue  # deliveries, reads, the page's own replies
            sender = str((event.get("sender") or {}).get("id", ""))
            found = ChatMessage(
                "facebook", str(message.get("mid", "")), sender, str(message.get("text", "")), [], None
            )
            for item in message.get("attachments") or []:
                body_ = item.get("payload") or {}
                kind = str(item.get("type", ""))
                if kind == "location":
                    found.position = _position(body_.get("coordinates") or {}, "lat", "long")
                elif "sticker_id" in body_ or "sticker_id" in message:
                    continue  # the like thumb and other stickers come as images with a sticker_id
                else:
                    _attachment(found, kind, body_, str(item.get("title", "")))
            out.append(found)
    return out


def facebook_reply(to: str, text: str, answering: bool) -> dict[str, Any]:
    """A reply within the 24 hours that follow the citizen's message; a later one (the answer, days later)
    is an update of the matter they asked about, sent with the documented message tag."""
    if answering:
        return {
            "recipient": {"id": to},
            "messaging_type": "MESSAGE_TAG",
            "tag": "ACCOUNT_UPDATE",
            "message": {"text": text},
        }
    return {"recipient": {"id": to}, "messaging_type": "RESPONSE", "message": {"text": text}}


# -- both --------------------------------------------------------------------------------------------------


def _attachment(found: ChatMessage, kind: str, payload: dict[str, Any], name: str) -> None:
    """One attachment of a chat message: a file to fetch, a refusal with its reason, or nothing."""
    url = str(payload.get("url") or "")
    label = (
        name.strip() or unquote(urlsplit(url).path.rsplit("/", 1)[-1])[:80] or f"tệp {len(found.files) + 1}"
    )
    if kind in CONTENT_FREE:
        return
    if kind in NOT_KEPT:
        found.refused.append(f"{label}: {NOT_KEPT[kind]}")
    elif kind in (PHOTO, DOCUMENT) and url:
        found.files.append((label if kind == DOCUMENT else f"anh-{len(found.files) + 1}", url))
    elif kind not in ("link", "fallback", "template", "business_card"):
        found.refused.append(f"{label}: loại tệp này chưa được nhận")


def _position(coordinates: dict[str, Any], lat: str, long: str) -> tuple[float, float] | None:
    try:
        latitude, longitude = float(coordinates[lat]), float(coordinates[long])
    except (KeyError, TypeError, ValueError):
        return None
    return (latitude, longitude) if -90 <= latitude <= 90 and -180 <= longitude <= 180 else None


async def files(
    settings: Settings, channel: str, items: list[tuple[str, str]]
) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The photos and documents a citizen sent, fetched from the platform's media hosts only
    (channels/media.py), and why any was not."""
    platform = settings.zalo if channel == "zalo" else settings.facebook
    return await media.fetch_files(items, media.rules_for(platform.media_hosts, platform.media_networks))


async def send(settings: Settings, channel: str, to: str, text: str, answering: bool) -> str:
    """Through the platform's send API; its message id."""
    if channel == "zalo":
        url, body = settings.zalo.send_url, zalo_reply(to, text)
        headers = {"access_token": secrets.value(settings, secrets.ZALO_ACCESS_TOKEN)}
        params: dict[str, str] = {}
    else:
        url, body = settings.facebook.send_url, facebook_reply(to, text, answering)
        headers = {}
        params = {"access_token": secrets.value(settings, secrets.FACEBOOK_PAGE_TOKEN)}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
            http.post(url, json=body, headers=headers, params=params) as reply,
        ):
            answer = await reply.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        raise ChatNotSent(f"{channel}: {exc}") from None
    if channel == "zalo":
        if not isinstance(answer, dict) or answer.get("error") != 0:
            raise ChatNotSent(f"zalo: {answer}")
        return str((answer.get("data") or {}).get("message_id", ""))
    if not isinstance(answer, dict) or "error" in answer or reply.status != 200:
        raise ChatNotSent(f"facebook: {answer}")
    return str(answer.get("message_id", ""))
