"""Several nodes' AMI sessions seen as one, and a node declared lost, against scripted AMI peers over real
TCP (the drills in test_failover_drills.py do it on real Asterisk nodes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from ami_bridge.node_loss import NodeWatch
from ami_bridge.nodes import NodeSessions
from ami_bridge.session import AMISession, Backoff
from hotline.errors import AMIError
from tests.fake_ami import FakeAMI, message
from tests.processes import eventually


def _answers(peer: FakeAMI, name: str, node: str) -> None:
    peer.replies[name] = lambda a: [message(Response="Success", ActionID=a["ActionID"], Node=node)]


def _channels(peer: FakeAMI, *names: str) -> None:
    def reply(a: dict[str, str]) -> list[bytes]:
        aid = a["ActionID"]
        return [
            message(Response="Success", ActionID=aid, EventList="start"),
            *(message(Event="CoreShowChannel", ActionID=aid, Channel=n, Linkedid=f"{n}-1") for n in names),
            message(Event="CoreShowChannelsComplete", ActionID=aid, EventList="Complete"),
        ]

    peer.replies["CoreShowChannels"] = reply


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[dict[str, FakeAMI], dict[str, AMISession]]]:
    peers = {name: await FakeAMI().start() for name in ("a", "b")}
    sessions = {
        name: AMISession(
            "127.0.0.1", peer.port, "hotline", "right", ping_seconds=0.3, backoff=Backoff(0.05, 0.1)
        )
        for name, peer in peers.items()
    }
    yield peers, sessions
    for session in sessions.values():
        await session.stop()
    for peer in peers.values():
        await peer.stop()


async def test_actions_go_to_the_first_node_up_and_members_to_every_node(
    nodes: tuple[dict[str, FakeAMI], dict[str, AMISession]],
) -> None:
    peers, sessions = nodes
    for name, peer in peers.items():
        for action in ("Originate", "QueuePause"):
            _answers(peer, action, name)
        _channels(peer, f"PJSIP/edge-{name}")
    one = NodeSessions(sessions)
    with pytest.raises(AMIError, match="no Asterisk node is connected"):
        await one.action("Originate")
    for session in sessions.values():
        await session.start(wait=5)
    assert one.connected.is_set() and one.up() == ["a", "b"]
    assert (await one.action("Originate")).get("Node") == "a"
    await one.action("QueuePause", Interface="PJSIP/agent101", Paused="true")
    assert all(any(x.get("Action") == "QueuePause" for x in p.actions) for p in peers.values())
    listing = await one.action_list("CoreShowChannels")
    assert {str(m.get("Channel")) for m in listing if m.get("Event") == "CoreShowChannel"} == {
        "PJSIP/edge-a",
        "PJSIP/edge-b",
    }
    # Node a goes away: the next node takes the actions.
    await peers["a"].stop()
    await eventually(lambda: _not_connected(sessions["a"]), "node a's session down", timeout=5, every=0.05)
    assert (await one.action("Originate")).get("Node") == "b" and one.primary_name() == "b"


async def test_a_node_away_longer_than_the_bound_is_declared_lost_once(
    nodes: tuple[dict[str, FakeAMI], dict[str, AMISession]],
) -> None:
    peers, sessions = nodes
    lost: list[str] = []
    watch = NodeWatch(sessions, lost_after=0.5, on_lost=lost.append)
    for session in sessions.values():
        await session.start(wait=5)
    # A blip shorter than the bound is not a loss.
    for writer in list(peers["b"].writers):
        writer.close()
    await asyncio.sleep(0.3)
    await eventually(lambda: _connected(sessions["b"]), "node b back", timeout=5, every=0.05)
    await asyncio.sleep(0.5)
    assert lost == []
    port = peers["a"].port
    await peers["a"].stop()
    await eventually(lambda: _lost(lost), "node a lost", timeout=5, every=0.05)
    await asyncio.sleep(0.8)
    assert lost == ["a"] and "a" in watch.lost
    # It comes back, and is lost again: a second loss.
    peers["a"] = await FakeAMI().start(port)
    await eventually(lambda: _connected(sessions["a"]), "node a back", timeout=5, every=0.05)
    assert "a" not in watch.lost
    await peers["a"].stop()
    await eventually(lambda: _lost(lost, 2), "node a lost again", timeout=5, every=0.05)
    watch.stop()


async def _not_connected(session: AMISession) -> bool:
    return not session.connected.is_set()


async def _connected(session: AMISession) -> bool:
    return session.connected.is_set()


async def _lost(lost: list[str], times: int = 1) -> bool:
    return len(lost) >= times
