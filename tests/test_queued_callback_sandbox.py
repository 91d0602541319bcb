"""Queued callbacks on the sandbox: a caller who presses 9 while waiting keeps their place (between the
callers before and after them), the agent takes the callback at its turn and only then is the simulated
citizen dialled, once; a citizen who does not answer is tried again (across a restart of the hotline's
services) and then the callback fails, and the citizen is on the worklist."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from ami_bridge.message import AMIMessage
from channels.queued_callbacks import LINKEDID_PREFIX
from hotline.db.models import MissedCall, QueuedCallback
from hotline.settings import Settings
from shell.callsim import CallRequest, CallResult, connect_ami, place_call
from shell.sandbox.phones import PhoneControl
from shell.sandbox.runner import Sandbox
from shell.service import Hotline
from tests.helpers.callbacks import expire_active
from tests.helpers.cases import final_case
from tests.processes import eventually
from tests.services import in_process

pytestmark = pytest.mark.asterisk
AGENT = "PJSIP/agent102"  # the welfare queue's only agent


@pytest.fixture(autouse=True)
async def no_callbacks_left(site: Settings, sandbox: Sandbox) -> AsyncIterator[None]:
    """Callbacks of another test (one that failed halfway) would wait in the welfare queue: none before,
    none after."""

    async def close_all() -> None:
        await expire_active(site)
        conn = await connect_ami(site)
        try:
            for entry in await conn.action_list("CoreShowChannels"):
                if str(entry.get("Linkedid", "")).startswith(LINKEDID_PREFIX):
                    await conn.action("Hangup", Channel=str(entry.Channel))
        finally:
            await conn.close()

    await close_all()
    yield
    await close_all()


def number(prefix: str) -> str:
    return f"{prefix}{random.randrange(10**6):06d}"


async def pause(bridge: Hotline, paused: bool) -> None:
    reply = await bridge.ami.action(
        "QueuePause", Queue="q-welfare", Interface=AGENT, Paused="true" if paused else "false"
    )
    assert reply.response == "Success", reply


async def channels(bridge: Hotline) -> list[AMIMessage]:
    listing = await bridge.ami.action_list("CoreShowChannels")
    return [m for m in listing if m.get("Event") == "CoreShowChannel"]


async def press(bridge: Hotline, caller: str, digit: str) -> None:
    """The simulated caller presses a key: DTMF from their half of the call towards the hotline."""
    sim = [c for c in await channels(bridge) if c.CallerIDNum == caller and c.Context == "hotline-callersim"]
    assert sim, f"no simulated caller {caller} on the line"
    reply = await bridge.ami.action("PlayDTMF", Channel=str(sim[0].Channel), Digit=digit, Duration="250")
    assert reply.response == "Success", reply


async def in_queue(bridge: Hotline, caller: str) -> bool:
    return any(c.caller == caller and c.in_queue for c in bridge.calls.values())


async def queue_order(bridge: Hotline) -> list[str]:
    status = await bridge.ami.action_list("QueueStatus", Queue="q-welfare")
    entries = sorted((m for m in status if m.get("Event") == "QueueEntry"), key=lambda m: int(m.Position))
    return [str(m.CallerIDNum) for m in entries]


async def ask_callback(bridge: Hotline, caller: str) -> None:
    """The caller, waiting, presses 9, then 1 to take the number read back to them."""
    await press(bridge, caller, "9")
    await asyncio.sleep(3)
    await press(bridge, caller, "1")


async def callback_row(site: Settings, bridge: Hotline, caller: str) -> QueuedCallback | None:
    async with bridge.db() as session:
        found: QueuedCallback | None = await session.scalar(
            select(QueuedCallback).where(QueuedCallback.number == caller).order_by(QueuedCallback.id.desc())
        )
    return found


def citizen_dials(events: list[AMIMessage], citizen: str) -> int:
    return sum(
        1
        for e in events
        if e.get("Event") == "Newchannel"
        and str(e.get("Channel", "")).startswith(f"Local/{citizen}@hotline-callback-sim")
        and str(e.get("Channel", "")).endswith(";1")  # one Local pair per dial
    )


def recorder(bridge: Hotline) -> list[AMIMessage]:
    seen: list[AMIMessage] = []
    bridge.ami.subscribe(seen.append)
    return seen


async def test_a_callback_keeps_its_place_and_the_citizen_is_dialled_once_an_agent_took_it(
    site: Settings, sandbox: Sandbox, phones: dict[str, PhoneControl]
) -> None:
    first, second, third = number("0931"), number("0932"), number("0933")
    async with in_process(site) as bridge:
        events = recorder(bridge)
        await pause(bridge, True)
        try:
            calls: dict[str, asyncio.Task[CallResult]] = {}
            for caller in (first, second, third):
                calls[caller] = asyncio.create_task(
                    place_call(
                        site, CallRequest("1022", keys="3", hangup_after=110, caller=caller), timeout=180
                    )
                )
                await eventually(lambda c=caller: in_queue(bridge, c), f"{caller} waiting", timeout=40)
            await ask_callback(bridge, second)
            result = await asyncio.wait_for(calls.pop(second), 40)  # the hotline hangs up on them
            asked = await final_case(site, result.linkedid, timeout=20)
            assert asked.outcome == "callback"
            row = await callback_row(site, bridge, second)
            assert row is not None and (row.status, row.queue, row.linkedid) == (
                "waiting",
                "welfare",
                result.linkedid,
            )

            async def held_in_place() -> bool:
                return await queue_order(bridge) == [first, second, third]

            # The stand-in holds the second place: Asterisk counts it, between the first and third callers.
            await eventually(
                held_in_place, "the callback's stand-in between the first and third callers", timeout=15
            )
            # The wallboard lists it at that place, as a callback.
            welfare = next(q for q in bridge.board.snapshot()["queues"] if q["name"] == "welfare")
            assert welfare["callbacks"] == 1
            assert [(w["caller"], w["callback"]) for w in welfare["waiting"]] == [
                (first, False),
                (second, True),
                (third, False),
            ]
        finally:
            await pause(bridge, False)

        def agent_talks_to(predicate: Callable[[AMIMessage], bool]) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return any(
                    e.get("Event") == "AgentConnect" and str(e.get("Interface")) == AGENT and predicate(e)
                    for e in events
                )

            return check

        def connects() -> list[str]:
            return [
                str(e.CallerIDNum)
                for e in events
                if e.get("Event") == "AgentConnect" and str(e.get("Interface")) == AGENT
            ]

        await eventually(
            agent_talks_to(lambda e: e.CallerIDNum == first), "the first caller answered", timeout=30
        )
        assert (
            citizen_dials(events, second) == 0
        )  # nobody dials the citizen before an agent took the callback
        await asyncio.sleep(2)
        await phones["102"].hangup()

        async def citizen_talking() -> bool:
            up = [
                c
                for c in await channels(bridge)
                if str(c.Channel).startswith(f"Local/{second}@hotline-callback-sim")
                and c.ChannelStateDesc == "Up"
            ]
            return bool(up)

        await eventually(citizen_talking, "the agent took the callback and the citizen answered", timeout=40)
        assert connects() == [first, second]
        await asyncio.sleep(3)
        await phones["102"].hangup()

        async def reached() -> bool:
            row = await callback_row(site, bridge, second)
            return row is not None and row.status == "reached"

        await eventually(reached, "the callback recorded as reached", timeout=20)
        await eventually(
            agent_talks_to(lambda e: e.CallerIDNum == third), "then the third caller", timeout=30
        )
        assert connects() == [first, second, third]
        assert citizen_dials(events, second) == 1
        row = await callback_row(site, bridge, second)
        assert row is not None and (row.tries, row.agent, row.last_result) == (1, "102", "ANSWER")

        async def recorded() -> bool:
            return Path(row.recording).is_file() and Path(row.recording).stat().st_size > 8000

        await eventually(recorded, "the callback's recording", timeout=15)
        await phones["102"].hangup()
        for task in calls.values():
            await asyncio.wait_for(task, 60)


async def test_a_callback_nobody_answers_is_tried_again_across_a_restart_then_fails(
    site: Settings, sandbox: Sandbox, phones: dict[str, PhoneControl]
) -> None:
    citizen = number("0911")  # the simulated citizens of 0911... never answer
    seen: list[AMIMessage] = []

    async def row_now(bridge: Hotline) -> QueuedCallback | None:
        return await callback_row(site, bridge, citizen)

    async with in_process(site) as bridge:
        bridge.ami.subscribe(seen.append)
        await pause(bridge, True)
        try:
            call = asyncio.create_task(
                place_call(site, CallRequest("1022", keys="3", hangup_after=110, caller=citizen), timeout=180)
            )
            await eventually(lambda: in_queue(bridge, citizen), "the caller waiting", timeout=40)
            await ask_callback(bridge, citizen)
            result = await asyncio.wait_for(call, 40)
        finally:
            await pause(bridge, False)

        async def first_try_done() -> bool:
            row = await row_now(bridge)
            return row is not None and row.tries == 1

        await eventually(first_try_done, "the first try, not answered", timeout=60)
        row = await row_now(bridge)
        assert row is not None and (row.status, row.last_result) == ("waiting", "NOANSWER"), row
    # The hotline's services stop between the tries and start again: the callback is still there.
    async with in_process(site) as bridge:
        bridge.ami.subscribe(seen.append)

        async def failed() -> bool:
            row = await row_now(bridge)
            return row is not None and row.status == "failed"

        await eventually(failed, "the second try, not answered either: failed", timeout=90)
        row = await row_now(bridge)
        assert row is not None and row.tries == 2
        assert citizen_dials(seen, citizen) == 2
        async with bridge.db() as session:
            entry = await session.scalar(select(MissedCall).where(MissedCall.caller == citizen))
        assert entry is not None and entry.status == "open"  # an agent can still try from the worklist
        case = await final_case(site, result.linkedid)
        assert case.outcome == "callback"


async def test_a_caller_who_joins_behind_a_long_wait_hears_the_offer_at_once(
    site: Settings, sandbox: Sandbox
) -> None:
    """With an expected wait of at least [queued_callbacks] long_wait_seconds (here any caller ahead, at
    180 s a call and one agent) the offer plays before the caller joins the queue; the first caller, with
    nobody ahead, does not hear it."""
    from hotline.asterisk import config as asterisk_config

    rules = site.queued_callbacks.model_copy(update={"long_wait_seconds": 60})
    asterisk_config.render(site.model_copy(update={"queued_callbacks": rules}), sandbox=True)
    sandbox.cli("dialplan reload")
    played = site.state_path / "asterisk" / "log" / "qcb-offer.log"
    played.unlink(missing_ok=True)
    sandbox.cli(f"logger add channel {played} verbose(3)")
    first, second = number("0934"), number("0935")
    try:
        async with in_process(site) as bridge:
            await pause(bridge, True)
            try:
                calls = []
                for caller in (first, second):
                    calls.append(
                        asyncio.create_task(
                            place_call(site, CallRequest("1022", keys="3", hangup_after=40, caller=caller))
                        )
                    )
                    await eventually(lambda c=caller: in_queue(bridge, c), f"{caller} waiting", timeout=45)
            finally:
                await pause(bridge, False)
            await asyncio.gather(*calls)
    finally:
        sandbox.cli(f"logger remove channel {played}", check=False)
        asterisk_config.render(site, sandbox=True)
        sandbox.cli("dialplan reload")
    # Played once: to the second caller (the first had nobody ahead of them).
    offers = [line for line in played.read_text().splitlines() if "Playing 'hotline/qcb_offer_long" in line]
    assert len(offers) == 1, offers
