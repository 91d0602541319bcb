"""The web app on a real SQLite database and a real HTTP server, with three users, two API tokens and two
answered cases (one with a recording): what the web tests stand on. The hotline is built but not connected,
so actions that need Asterisk answer 409."""

from __future__ import annotations

import contextlib
import math
import struct
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from ami_bridge.calls import Call
from ami_bridge.case_writer import CaseWriter
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import Case
from hotline.db.numbers import NumberAllocator
from hotline.settings import Settings
from shell.service import Hotline, with_closed_call_hooks
from tests.conftest import TEST_SETTINGS, postgres_database
from web import auth
from web.app import build_app

PASSWORD = "mật-khẩu-đủ-dài"


@dataclass
class Site:
    settings: Settings
    hotline: Hotline
    client: TestClient  # type: ignore[type-arg]
    tokens: dict[str, str]
    numbers: dict[str, str]  # "answered by 101", "answered by 102" -> case number


async def write_case(settings: Settings, linkedid: str, agent: str, recording: Path | None) -> str:
    engine = make_engine(settings.database_url)
    db = sessions(engine)
    start = datetime.now(UTC) - timedelta(minutes=5)
    call = Call(linkedid=linkedid, started_at=start, caller="0912000111", did="1022", topic="operator")
    call.queue, call.queued_at, call.answered_at = (
        "operator",
        start + timedelta(seconds=20),
        start + timedelta(seconds=32),
    )
    call.agent, call.agent_name, call.wait_seconds = agent, f"agent {agent}", 12.0
    call.recording = str(recording) if recording else ""
    call.mark("entered", did="1022")
    call.finish(start + timedelta(seconds=90), "16 Normal Clearing")
    writer = with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), settle_seconds=0))
    await writer.write([call])
    async with db() as session:
        number = await session.scalar(select(Case.number).where(Case.linkedid == linkedid))
    await engine.dispose()
    assert number
    return number


def wav(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "w") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 5))) for i in range(16000)))
    return path


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(f"sqlite+aiosqlite:///{tmp_path}/web.db", tmp_path) as built:
        yield built


@pytest.fixture
async def postgres_site(tmp_path: Path) -> AsyncIterator[Site]:
    """The same site on a PostgreSQL database of its own."""
    with postgres_database() as url:
        async with running_site(url, tmp_path) as built:
            yield built


@contextlib.asynccontextmanager
async def running_site(url: str, tmp_path: Path) -> AsyncIterator[Site]:
    settings = site_settings.load(
        TEST_SETTINGS,
        # Recordings of its own: a day folder made here as root would stop the sandbox Asterisk's MixMonitor
        # from making the same day's folder beside it.
        overrides={
            "database.url": url,
            "state_dir": str(tmp_path / "state"),
            "recordings.dir": str(tmp_path / "recordings"),
        },
    )
    await upgrade_async(url)
    hotline = Hotline.build(settings)
    for name, role, ext in (("admin", "admin", ""), ("sup", "supervisor", "103"), ("an", "agent", "101")):
        await auth.add_user(hotline.db, name, PASSWORD, role, ext)
    tokens = {
        role: await auth.add_token(hotline.db, f"portal-{role}", role) for role in ("agent", "supervisor")
    }
    recording = wav(settings.recordings_path / "2026" / "11" / "22" / "case-a.wav")
    numbers = {
        "101": await write_case(settings, "100.1", "101", recording),
        "102": await write_case(settings, "100.2", "102", None),
    }
    client = TestClient(TestServer(build_app(settings, hotline)))
    await client.start_server()
    try:
        yield Site(settings, hotline, client, tokens, numbers)
    finally:
        await client.close()
        await hotline.engine.dispose()


async def post_login(
    http: TestClient | ClientSession,  # type: ignore[type-arg]
    username: str,
    password: str,
    next_page: str = "/",
    code: str = "",
    **extra: Any,
) -> ClientResponse:
    """The sign-in form as a browser sends it: fetched first for its token (and cookie), then posted."""
    form = await (await http.get("/login")).text()
    csrf = form.split('id="login"', 1)[1].split('name="csrf" value="', 1)[1].split('"', 1)[0]
    data = {"username": username, "password": password, "next": next_page, "csrf": csrf, "code": code}
    return await http.post("/login", data=data, allow_redirects=False, **extra)


async def sign_in(site: Site, name: str) -> str:
    """Signs the test client in; returns the session's CSRF token as the pages carry it."""
    reply = await post_login(site.client, name, PASSWORD)
    assert reply.status == 303, await reply.text()
    cookie = reply.cookies[auth.COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    page = await (await site.client.get("/cases" if name != "an" else "/desk")).text()
    return page.split('data-csrf="', 1)[1].split('"', 1)[0]
