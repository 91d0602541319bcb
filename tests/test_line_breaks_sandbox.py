"""Line breaks from the network, on the sandbox: a citizen's SIP phone (baresip) whose From carries
percent-encoded CR/LF in its user part (PJSIP decodes them) and in its display name. Nothing reaches the
case, the AGI environment, Asterisk's queue_log or the bridge's view of the events as a line break, and the
call is one complete case like any other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from ami_bridge.message import SUSPECTS
from hotline.db.engine import make_engine, sessions
from hotline.db.models import Case
from hotline.settings import Settings
from shell.sandbox.runner import Sandbox
from shell.service import Hotline
from tests.helpers.cases import final_case
from tests.services import in_process

pytestmark = pytest.mark.asterisk
# After decoding: 0912, then a line "Event: Fake", then a line "Linkedid: x".
FROM_USER = "0912%0D%0AEvent%3A%20Fake%0D%0ALinkedid%3A%20x"
DISPLAY_NAME = "Evil%0D%0AEvent: Fake"


@pytest.fixture(scope="module")
async def hotline(site: Settings, sandbox: Sandbox) -> AsyncIterator[Hotline]:
    async with in_process(site) as bridge:
        yield bridge


async def test_a_from_with_encoded_line_breaks_is_one_clean_complete_case(
    site: Settings, sandbox: Sandbox, hotline: Hotline
) -> None:
    queue_log = site.queue_log_path
    start = queue_log.stat().st_size if queue_log.exists() else 0
    suspects = SUSPECTS.count
    with sandbox.caller_phone(DISPLAY_NAME, FROM_USER) as phone:
        await phone.dial(f"sip:1022@{site.sip.bind}")
        linkedid = await _linkedid_of_citizen_call(hotline)
        await _in_the_menu(hotline, linkedid)
        await phone.hangup()
    case = await final_case(site, linkedid)
    # Asterisk's own linkedid, not the smuggled "x"; the caller ID without line breaks.
    assert case.linkedid == linkedid != "x"
    for value in (case.caller, case.caller_name, *(str(e.detail) for e in case.events)):
        assert "\r" not in value and "\n" not in value, value
    assert case.caller.startswith("0912") and case.did == "1022"
    # The IVR ran: its AGI environment was whole (a line break there would have refused the session).
    assert case.ivr_node == "main_menu", case.ivr_node
    # The bridge saw the smuggled headers and kept Asterisk's.
    assert SUSPECTS.count > suspects
    engine = make_engine(site.database_url)
    try:
        async with sessions(engine)() as session:
            assert list(await session.scalars(select(Case.linkedid).where(Case.linkedid == "x"))) == []
    finally:
        await engine.dispose()
    added = queue_log.read_bytes()[start:].decode("utf-8", "replace").splitlines()
    ours = [line for line in added if f"|{linkedid}|" in line]
    assert ours and all(line.count("|") >= 4 for line in added), added


async def _in_the_menu(bridge: Hotline, linkedid: str, timeout: float = 30.0) -> None:
    """Past the greeting: the IVR has entered the main menu (the node it sets on the channel)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        call = bridge.calls.get(linkedid)
        if call is not None and call.ivr_node == "main_menu":
            return
        await asyncio.sleep(0.2)
    raise AssertionError("the caller never reached the main menu")


async def _linkedid_of_citizen_call(bridge: Hotline, timeout: float = 10.0) -> str:
    """The live call whose caller ID is what PJSIP made of FROM_USER (cut at the line break, then the
    dialplan's cleaned whole)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        for call in list(bridge.calls.values()):
            if call.caller == "0912" or "Fake" in call.caller:
                return call.linkedid
        await asyncio.sleep(0.1)
    raise AssertionError("the citizen's call did not reach the bridge")
