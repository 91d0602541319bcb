"""Zalo and Messenger as their documentation describes them: signed events, and a stand-in for their send
APIs and media hosts, beside a running app."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from channels import chat
from hotline import settings as site_settings
from hotline.db.migrate import upgrade_async
from shell.service import Hotline
from tests.conftest import TEST_SETTINGS
from tests.helpers.files import PNG
from web.app import build_app

APP_ID = "1234567890"


OA_SECRET = "oa-secret-thu"


FB_SECRET = "fb-app-secret-thu"


VERIFY = "verify-thu"


# A Word document's first bytes (a ZIP with [Content_Types].xml): what a citizen's .docx starts with.
DOCX = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00[Content_Types].xml" + bytes(200)


@dataclass
class StandIn:
    """The platforms' send APIs as their documentation answers, and a photo to fetch."""

    posted: list[tuple[str, dict[str, str], dict[str, str], Any]] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)  # every GET it was asked

    def app(self) -> web.Application:
        async def zalo(request: web.Request) -> web.Response:
            self.posted.append(("zalo", dict(request.headers), dict(request.query), await request.json()))
            return web.json_response(
                {"data": {"message_id": "zmsg-1", "user_id": "u"}, "error": 0, "message": "Success"}
            )

        async def facebook(request: web.Request) -> web.Response:
            self.posted.append(("facebook", dict(request.headers), dict(request.query), await request.json()))
            return web.json_response({"recipient_id": "psid", "message_id": "m_1"})

        async def photo(request: web.Request) -> web.Response:
            self.fetched.append(request.path_qs)
            return web.Response(body=PNG, content_type="image/png")

        async def secret(request: web.Request) -> web.Response:  # what must never be fetched
            self.fetched.append(request.path_qs)
            return web.Response(body=PNG, content_type="image/png")

        async def moved(request: web.Request) -> web.Response:
            self.fetched.append(request.path_qs)
            raise web.HTTPFound(request.query["to"])

        async def document(request: web.Request) -> web.Response:
            self.fetched.append(request.path_qs)
            return web.Response(body=DOCX, content_type="application/octet-stream")

        app = web.Application()
        app.router.add_get("/don-kien-nghi.docx", document)
        app.router.add_get("/secret.png", secret)
        app.router.add_get("/moved", moved)
        app.router.add_post("/zalo/send", zalo)
        app.router.add_post("/facebook/send", facebook)
        app.router.add_get("/photo.png", photo)
        return app


@dataclass
class Platforms:
    client: TestClient  # type: ignore[type-arg]
    stand_in: StandIn
    stand_in_url: str
    settings: site_settings.Settings
    hotline: Hotline


@pytest.fixture
async def platforms(tmp_path: Path) -> AsyncIterator[Platforms]:
    stand_in = StandIn()
    server = TestServer(stand_in.app())
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    state = tmp_path / "state"
    state.mkdir()
    (state / "secrets.toml").write_text(
        f'"zalo.oa_secret_key" = "{OA_SECRET}"\n"zalo.access_token" = "zalo-token"\n'
        f'"facebook.app_secret" = "{FB_SECRET}"\n"facebook.page_token" = "page-token"\n'
        f'"facebook.verify_token" = "{VERIFY}"\n',
        encoding="utf-8",
    )
    settings = site_settings.load(
        TEST_SETTINGS,
        overrides={
            "database.url": f"sqlite+aiosqlite:///{tmp_path}/chat.db",
            "state_dir": str(state),
            # The stand-in serves the photos from this machine: the one media host and private network the
            # test site allows.
            "zalo": {
                "app_id": APP_ID,
                "oa_id": "oa1",
                "send_url": f"{base}/zalo/send",
                "topic": "violation",
                "media_hosts": ["127.0.0.1"],
                "media_networks": ["127.0.0.1/32"],
            },
            "facebook": {"page_id": "page1", "send_url": f"{base}/facebook/send", "topic": "suggestion"},
        },
    )
    await upgrade_async(settings.database_url)
    hotline = Hotline.build(settings)
    client = TestClient(TestServer(build_app(settings, hotline)))
    await client.start_server()
    try:
        yield Platforms(client, stand_in, base, settings, hotline)
    finally:
        await client.close()
        await hotline.engine.dispose()
        await server.close()


def zalo_event(name: str, sender: str, message: dict[str, Any]) -> tuple[bytes, str]:
    event = {
        "app_id": APP_ID,
        "user_id_by_app": "app-user-1",
        "event_name": name,
        "timestamp": str(int(time.time() * 1000)),
        "sender": {"id": sender},
        "recipient": {"id": "oa1"},
        "message": message,
    }
    body = json.dumps(event, ensure_ascii=False).encode()
    return body, chat.zalo_signature(APP_ID, body, event["timestamp"], OA_SECRET)


def facebook_event(sender: str, message: dict[str, Any]) -> tuple[bytes, str]:
    payload = {
        "object": "page",
        "entry": [
            {
                "id": "page1",
                "time": int(time.time() * 1000),
                "messaging": [
                    {
                        "sender": {"id": sender},
                        "recipient": {"id": "page1"},
                        "timestamp": 1,
                        "message": message,
                    }
                ],
            }
        ],
    }
    body = json.dumps(payload, ensure_ascii=False).encode()
    return body, chat.facebook_signature(FB_SECRET, body)
