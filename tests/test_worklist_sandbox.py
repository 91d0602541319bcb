"""The worklist on the sandbox: a citizen who hung up twice after choosing a topic is on it once; an agent's
call back from the web app rings the agent's phone first, then Asterisk dials the simulated citizen, who
answers; the call is recorded, and the agent's "reached" closes the entry."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import ClientSession, CookieJar
from sqlalchemy import select

from hotline.db.models import Case, MissedCallTry
from hotline.settings import Settings
from shell.callsim import CallRequest, place_call
from shell.sandbox.phones import PhoneControl
from shell.sandbox.runner import Sandbox
from shell.service import Hotline
from tests.helpers.browser import PASSWORD, add_users
from tests.helpers.cases import final_case
from tests.processes import eventually
from tests.services import in_process
from tests.web_site import post_login

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def hotline(site: Settings, sandbox: Sandbox) -> AsyncIterator[Hotline]:
    async with in_process(site, web=True) as bridge:
        await add_users(bridge)
        yield bridge


async def test_a_missed_caller_is_on_the_worklist_once_and_the_agents_call_back_closes_it(
    site: Settings, hotline: Hotline, phones: dict[str, PhoneControl]
) -> None:
    number = f"0966{random.randrange(10**6):06d}"
    # Chose 1 (violation), then hung up while the case number was read: twice.
    missed = await asyncio.gather(
        *(place_call(site, CallRequest("1022", keys="1", hangup_after=2, caller=number)) for _ in range(2))
    )
    cases: dict[str, Case] = {}
    for result in missed:
        case = await final_case(site, result.linkedid, timeout=30)
        assert (case.outcome, case.topic) == ("abandoned_ivr", "violation")
        cases[case.number] = case
    # Both calls end at about the same moment; either may be the entry's latest.
    base = f"http://{site.web.host}:{site.web.port}"
    async with ClientSession(base, cookie_jar=CookieJar(unsafe=True)) as http:
        assert (await post_login(http, "canbo101", PASSWORD)).status == 303
        page = await (await http.get("/worklist")).text()
        csrf = {"X-CSRF-Token": page.split('data-csrf="', 1)[1].split('"', 1)[0]}
        listed = (await (await http.get("/api/v1/worklist")).json())["entries"]
        mine = [e for e in listed if e["caller"].startswith(number[:4]) and e["last_case"] in cases]
        assert len(mine) == 1 and (mine[0]["calls"], mine[0]["status"], mine[0]["topic"]) == (
            2,
            "open",
            "violation",
        )
        entry = mine[0]["id"]
        reply = await http.post(f"/api/v1/worklist/{entry}/call", headers=csrf)
        assert reply.status == 200, await reply.text()
        again = await http.post(f"/api/v1/worklist/{entry}/call", headers=csrf)
        assert again.status == 409  # one call back to one number at a time

        async def citizen_talking() -> bool:
            channels = await hotline.ami.action_list("CoreShowChannels")
            states = {str(m.get("Channel", "")): str(m.get("ChannelStateDesc", "")) for m in channels}
            up = [
                c
                for c, s in states.items()
                if c.startswith(f"Local/{number}@hotline-callback-sim") and s == "Up"
            ]
            agent = [c for c, s in states.items() if c.startswith("PJSIP/agent101-") and s == "Up"]
            return bool(up and agent)

        await eventually(citizen_talking, "the agent's phone and then the citizen answered", timeout=30)
        await asyncio.sleep(2)
        await phones["101"].hangup()
        async with hotline.db() as session:
            attempt = await session.scalar(select(MissedCallTry).where(MissedCallTry.missed_call_id == entry))
        assert attempt is not None and (attempt.by, attempt.phone) == ("canbo101", "101")

        async def recorded() -> bool:
            path = Path(attempt.recording)
            return path.is_file() and path.stat().st_size > 8000

        await eventually(recorded, "the call back's recording", timeout=15)
        done = await http.post(f"/api/v1/worklist/{entry}/result", json={"result": "reached"}, headers=csrf)
        assert (await done.json())["status"] == "reached"
        listed = (await (await http.get("/api/v1/worklist")).json())["entries"]
        assert [e["status"] for e in listed if e["id"] == entry] == ["reached"]
        assert not [e for e in listed if e["status"] == "open" and e["last_case"] in cases]
