"""Requests driven through the JSON API as the center's and the agencies' users do, and requests built
for the workflow's tests."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from casework import workflow as wf
from casework.workflow import Actor
from hotline.db.models import CitizenRequest, Role
from tests.web_site import PASSWORD, Site, post_login
from web import auth


async def as_user(site: Site, name: str) -> dict[str, str]:
    """Signed in as `name`; the headers a browser's script sends with a change."""
    reply = await post_login(site.client, name, PASSWORD)
    assert reply.status == 303, await reply.text()
    page = await (await site.client.get("/login")).text()  # any page carries the session's CSRF token
    return {"X-CSRF-Token": page.split('data-csrf="', 1)[1].split('"', 1)[0]}


async def add_agency_users(site: Site) -> None:
    await auth.add_user(site.hotline.db, "soyte", PASSWORD, "agency", agency="so_y_te")
    await auth.add_user(site.hotline.db, "quan1", PASSWORD, "agency", agency="quan_1")


async def step(site: Site, headers: dict[str, str], number: str, **body: object) -> dict[str, object]:
    reply = await site.client.post(f"/api/v1/requests/{number}/steps", json=body, headers=headers)
    assert reply.status == 200, await reply.text()
    result: dict[str, object] = await reply.json()
    return result


AGENT = Actor("canbo101", Role.AGENT)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026 in Vietnam (the 20th is a Friday, the 23rd a Monday)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=VN)


def new_request(topic: str = "health.testing", priority: str = "normal") -> CitizenRequest:
    return wf.open_request(
        "10000016",
        AGENT,
        at(23, 9),
        topic=topic,
        priority=priority,
        words="Xin hỏi nơi xét nghiệm",
        contact_phone="0912345678",
    )


VN = ZoneInfo("Asia/Ho_Chi_Minh")


async def answered_request(site: Site, topic: str = "violation") -> str:
    """A request from agent 101's call (caller 0912000111), answered by Quận 1 and approved."""
    await add_agency_users(site)
    number = site.numbers["101"]
    csrf = await as_user(site, "an")
    opened = await site.client.post(
        "/api/v1/requests",
        json={"case": number, "topic": topic, "words": WORDS, "contact_name": "Nguyễn Văn Tư"},
        headers=csrf,
    )
    assert opened.status == 201, await opened.text()
    await step(site, csrf, number, step="forward", agency="quan_1")
    csrf = await as_user(site, "quan1")
    await step(site, csrf, number, step="accept")
    await step(site, csrf, number, step="answer", text="Đã nạo vét cống ngày 20/11")
    csrf = await as_user(site, "sup")
    await step(site, csrf, number, step="approve")
    site.client.session.cookie_jar.clear()  # the citizen's browser: nobody signed in
    return number


WORDS = "Nguyễn Văn Tư, 0912000111, 12 Lê Lợi: cống bị tắc"


async def stored_request(db: async_sessionmaker[AsyncSession], number: str) -> CitizenRequest:
    """A request as the database has it, with its history and contacts."""
    async with db() as session:
        found = await session.scalar(
            select(CitizenRequest)
            .where(CitizenRequest.number == number)
            .options(selectinload(CitizenRequest.events), selectinload(CitizenRequest.contacts))
        )
    assert found is not None
    return found
