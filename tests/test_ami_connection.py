"""AMIConnection against a scripted AMI peer: the panoramisk defects it must not inherit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ami_bridge.connection import AMIConnection
from ami_bridge.message import AMIMessage
from hotline.errors import AMIError
from tests.fake_ami import FakeAMI, message


@pytest.fixture
async def peer() -> AsyncIterator[FakeAMI]:
    fake = await FakeAMI().start()
    yield fake
    await fake.stop()


async def test_login_refused_raises_with_a_fix(peer: FakeAMI) -> None:
    conn = AMIConnection("127.0.0.1", peer.port, "hotline", "wrong", timeout=2)
    with pytest.raises(AMIError, match=r"refused \(Authentication failed\).*secrets\.toml"):
        await conn.connect()
    assert conn.closed.is_set()


async def test_unreachable_ami_says_where_and_what_to_check() -> None:
    conn = AMIConnection("127.0.0.1", 1, "hotline", "x", timeout=2)
    with pytest.raises(AMIError, match=r"cannot reach Asterisk's AMI at 127\.0\.0\.1:1"):
        await conn.connect()


async def test_a_port_that_is_not_ami_is_named(peer: FakeAMI) -> None:
    peer.banner = b"SSH-2.0-OpenSSH_9.2\r\n"
    with pytest.raises(AMIError, match="not an Asterisk AMI port"):
        await AMIConnection("127.0.0.1", peer.port, "hotline", "right", timeout=2).connect()


async def test_action_before_connect_is_a_clear_error() -> None:
    with pytest.raises(AMIError, match="not connected"):
        await AMIConnection("127.0.0.1", 1, "u", "s").action("Ping")


async def test_events_arrive_whole_and_in_order_even_split_inside_a_utf8_character(peer: FakeAMI) -> None:
    async with AMIConnection("127.0.0.1", peer.port, "hotline", "right", timeout=2) as conn:
        seen: list[AMIMessage] = []
        conn.on("*", seen.append)
        first = message(Event="QueueMemberStatus", MemberName="Nguyễn Văn An", Seq="1")
        second = message(Event="QueueMemberStatus", MemberName="Trần Thị Bình", Seq="2")
        cut = first.index("ễ".encode()) + 1  # inside the 3-byte UTF-8 sequence
        await peer.send_raw(first[:cut], first[cut:] + second[:7], second[7:])
        await _until(lambda: len(seen) == 2)
        assert [e.MemberName for e in seen] == ["Nguyễn Văn An", "Trần Thị Bình"]
        assert [e.Seq for e in seen] == ["1", "2"]


async def test_a_failing_handler_does_not_stop_the_others(peer: FakeAMI) -> None:
    async with AMIConnection("127.0.0.1", peer.port, "hotline", "right", timeout=2) as conn:
        seen: list[str] = []

        def broken(_: AMIMessage) -> None:
            raise RuntimeError("bug in one consumer")

        conn.on("Hangup", broken)
        conn.on("Hangup", lambda e: seen.append(e.Uniqueid))
        await peer.send_raw(message(Event="Hangup", Uniqueid="1.1"), message(Event="Hangup", Uniqueid="1.2"))
        await _until(lambda: len(seen) == 2)
        assert seen == ["1.1", "1.2"]


async def test_event_list_action_returns_all_its_events(peer: FakeAMI) -> None:
    def status(action: dict[str, str]) -> list[bytes]:
        aid = action["ActionID"]
        return [
            message(Response="Success", ActionID=aid, EventList="start", Message="Queue status will follow"),
            message(Event="QueueParams", ActionID=aid, Queue="q-health"),
            message(Event="QueueMember", ActionID=aid, Queue="q-health", Name="Lê Minh Châu"),
            message(Event="QueueStatusComplete", ActionID=aid, EventList="Complete", ListItems="2"),
        ]

    peer.replies["QueueStatus"] = status
    async with AMIConnection("127.0.0.1", peer.port, "hotline", "right", timeout=2) as conn:
        reply = await conn.action_list("QueueStatus")
    assert [m.get("Event") or m.get("Response") for m in reply] == [
        "Success",
        "QueueParams",
        "QueueMember",
        "QueueStatusComplete",
    ]


async def test_unanswered_action_times_out(peer: FakeAMI) -> None:
    peer.replies["CoreShowChannels"] = lambda action: []
    async with AMIConnection("127.0.0.1", peer.port, "hotline", "right", timeout=2) as conn:
        with pytest.raises(AMIError, match=r"no answer in 0\.2 s"):
            await conn.action("CoreShowChannels", timeout=0.2)


async def test_pending_action_fails_when_the_connection_drops(peer: FakeAMI) -> None:
    peer.replies["CoreShowChannels"] = lambda action: []
    async with AMIConnection("127.0.0.1", peer.port, "hotline", "right", timeout=5) as conn:
        waiting = asyncio.create_task(conn.action("CoreShowChannels"))
        await asyncio.sleep(0.05)
        await peer.stop()
        with pytest.raises(AMIError, match="lost"):
            await waiting
        await asyncio.wait_for(conn.closed.wait(), 2)


async def test_values_with_line_breaks_are_refused(peer: FakeAMI) -> None:
    async with AMIConnection("127.0.0.1", peer.port, "hotline", "right", timeout=2) as conn:
        with pytest.raises(AMIError, match="line break"):
            await conn.action("Originate", Channel="Local/s@x\r\nAction: Command")


async def _until(condition, timeout: float = 2.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
