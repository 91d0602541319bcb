"""AMISession against a scripted AMI peer: a refused login fails at once, a dropped or silent connection
is replaced with back-off, and events arriving during the resynchronisation are applied after it, in
order."""

from __future__ import annotations

import asyncio

import pytest

from ami_bridge.connection import AMIConnection
from ami_bridge.message import SUSPECTS, AMIMessage, parse
from ami_bridge.session import AMISession, Backoff
from hotline.errors import AMIError
from tests.fake_ami import FakeAMI, message


async def test_refused_login_fails_at_once() -> None:
    peer = await FakeAMI().start()
    try:
        session = AMISession("127.0.0.1", peer.port, "hotline", "wrong", on_event=lambda e: None)
        with pytest.raises(AMIError, match="refused"):
            await session.start(wait=5)
    finally:
        await peer.stop()


async def test_reconnects_after_the_connection_drops_and_resyncs_each_time() -> None:
    peer = await FakeAMI().start()
    resyncs: list[int] = []

    async def resync(conn: AMIConnection) -> None:
        resyncs.append(1)

    session = AMISession(
        "127.0.0.1",
        peer.port,
        "hotline",
        "right",
        on_event=lambda e: None,
        on_connect=resync,
        backoff=Backoff(first=0.05, most=0.2),
    )
    await session.start(wait=5)
    try:
        for writer in peer.writers:
            writer.close()
        for _ in range(100):
            if session.connects >= 2:
                break
            await asyncio.sleep(0.05)
        assert session.connects == 2 and len(resyncs) == 2
    finally:
        await session.stop()
        await peer.stop()


async def test_unanswered_ping_means_a_new_connection() -> None:
    peer = await FakeAMI().start()
    peer.replies["Ping"] = lambda action: []  # a half-open connection: nothing comes back
    session = AMISession(
        "127.0.0.1",
        peer.port,
        "hotline",
        "right",
        on_event=lambda e: None,
        ping_seconds=0.2,
        backoff=Backoff(first=0.05, most=0.1),
    )
    await session.start(wait=5)
    try:
        for _ in range(100):
            if session.connects >= 2:
                break
            await asyncio.sleep(0.05)
        assert session.connects >= 2
    finally:
        await session.stop()
        await peer.stop()


async def test_events_during_resync_are_applied_after_it_in_order() -> None:
    peer = await FakeAMI().start()
    order: list[str] = []

    async def resync(conn: AMIConnection) -> None:
        await peer.send_raw(message(Event="Newchannel", Seq="1"), message(Event="Hangup", Seq="2"))
        await asyncio.sleep(0.05)
        order.append("snapshot")

    def on_event(event: AMIMessage) -> None:
        order.append(f"{event.event}{event.Seq}")

    session = AMISession("127.0.0.1", peer.port, "hotline", "right", on_event=on_event, on_connect=resync)
    await session.start(wait=5)
    try:
        await peer.send_raw(message(Event="Newchannel", Seq="3"))
        await asyncio.sleep(0.05)
        assert order == ["snapshot", "Newchannel1", "Hangup2", "Newchannel3"]
    finally:
        await session.stop()
        await peer.stop()


def test_backoff_grows_to_its_ceiling() -> None:
    backoff = Backoff(first=0.5, most=4)
    delays = [backoff.next() for _ in range(6)]
    assert 0.4 <= delays[0] <= 0.6 and 3.2 <= delays[-1] <= 4.8
    backoff.reset()
    assert backoff.next() <= 0.6


async def test_a_connection_dropped_during_the_resynchronisation_is_replaced() -> None:
    """Asterisk goes away while the bridge reads CoreShowChannels after a reconnect, and a resync that
    fails on odd data: each time the session reconnects and goes on."""
    peer = await FakeAMI().start()
    listings = 0

    def core_show_channels(action: dict[str, str]) -> list[bytes]:
        nonlocal listings
        listings += 1
        if listings == 2:  # the first reconnect: drop the connection in the middle of the listing
            for writer in peer.writers:
                writer.close()
            return []
        aid = action["ActionID"]
        return [
            message(Response="Success", ActionID=aid, EventList="start"),
            message(Event="CoreShowChannelsComplete", ActionID=aid, EventList="Complete", ListItems="0"),
        ]

    peer.replies["CoreShowChannels"] = core_show_channels
    failures = [ValueError("a malformed reply")]

    async def resync(conn: AMIConnection) -> None:
        await conn.action_list("CoreShowChannels")
        if listings == 3 and failures:
            raise failures.pop()

    session = AMISession(
        "127.0.0.1",
        peer.port,
        "hotline",
        "right",
        on_event=lambda e: None,
        on_connect=resync,
        backoff=Backoff(first=0.05, most=0.1),
    )
    await session.start(wait=5)
    try:
        for writer in peer.writers:
            writer.close()
        for _ in range(200):
            if session.connects >= 2:
                break
            await asyncio.sleep(0.05)
        # Connected twice: the first time, and after the drop and the failed resync.
        assert session.connects == 2 and listings == 4 and not failures
        assert session.connected.is_set()
        assert (await session.action("Ping")).response == "Success"
    finally:
        await session.stop()
        await peer.stop()


def test_a_caller_id_with_a_line_break_cannot_forge_the_headers_of_an_event() -> None:
    """What Asterisk wrote for a SIP From of <sip:0912%0D%0AEvent%3A%20Fake%0D%0ALinkedid%3A%20x@...>,
    as measured on the sandbox: the caller's lines come between Asterisk's."""
    raw = (
        b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/citizen-00000001\r\nChannelState: 4\r\n"
        b"ChannelStateDesc: Ring\r\nCallerIDNum: 0912\r\nEvent: Fake\r\nLinkedid: x\r\n"
        b"Channel: PJSIP/agent101\r\n"
        b"CallerIDName: Evil\r\nLanguage: en\r\nUniqueid: 1795391756.3\r\nLinkedid: 1795391756.3\r\n"
        b"ChanVariable: a=1\r\nChanVariable: b=2"
    )
    before = SUSPECTS.count
    event = parse(raw)
    assert event is not None
    assert (event.event, event["Channel"], event["Linkedid"], event["Uniqueid"]) == (
        "Newchannel",
        "PJSIP/citizen-00000001",
        "1795391756.3",
        "1795391756.3",
    )
    assert event["ChanVariable"] == ["a=1", "b=2"] and SUSPECTS.count == before + 1
    plain = parse(b"Event: Hangup\r\nChanVariable: a=1\r\nLinkedid: 1.2")
    assert plain is not None and plain["ChanVariable"] == "a=1" and SUSPECTS.count == before + 1
