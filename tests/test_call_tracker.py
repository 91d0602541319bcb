"""The call tracker on scripted AMI events: outcomes that are awkward to stage on the sandbox (an agent
who does not answer, then another does; a transfer; a resynchronisation) each give one correct case."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from ami_bridge.calls import Call, CallTracker
from ami_bridge.message import AMIMessage

LINKED = "1700000000.1"


def ev(name: str, **fields: str) -> AMIMessage:
    return AMIMessage({"Event": name, "Linkedid": LINKED, **fields})


def hotline_call(tracker: CallTracker) -> None:
    tracker.handle(ev("Newchannel", Uniqueid=LINKED, CallerIDNum="0912345678", CallerIDName="An"))
    tracker.handle(ev("VarSet", Uniqueid=LINKED, Variable="__HOTLINE_DID", Value="1022"))
    tracker.handle(ev("VarSet", Uniqueid=LINKED, Variable="HOTLINE_PATH", Value="0"))
    tracker.handle(ev("VarSet", Uniqueid=LINKED, Variable="HOTLINE_TOPIC", Value="operator"))
    tracker.handle(ev("VarSet", Uniqueid=LINKED, Variable="HOTLINE_DEST", Value="queue-operator"))
    tracker.handle(ev("QueueCallerJoin", Uniqueid=LINKED, Queue="q-operator", Position="1"))


def collect() -> tuple[CallTracker, list[Call]]:
    """What the case writer would get: a copy of the call at each update."""
    updates: list[Call] = []
    return CallTracker(on_update=lambda call: updates.append(copy.copy(call))), updates


def test_agent_who_does_not_answer_then_another_who_does() -> None:
    tracker, updates = collect()
    hotline_call(tracker)
    tracker.handle(ev("Newchannel", Uniqueid="a.1", CallerIDNum="101"))
    tracker.handle(ev("AgentCalled", Interface="PJSIP/agent101", MemberName="Nguyễn Văn An"))
    tracker.handle(
        ev("AgentRingNoAnswer", Interface="PJSIP/agent101", MemberName="Nguyễn Văn An", RingTime="15000")
    )
    tracker.handle(ev("Hangup", Uniqueid="a.1", Cause="19"))
    tracker.handle(ev("Newchannel", Uniqueid="a.2", CallerIDNum="102"))
    tracker.handle(ev("AgentCalled", Interface="PJSIP/agent102", MemberName="Trần Thị Bình"))
    tracker.handle(ev("AgentConnect", Interface="PJSIP/agent102", MemberName="Trần Thị Bình", HoldTime="17"))
    tracker.handle(ev("AgentComplete", Interface="PJSIP/agent102", TalkTime="42", Reason="caller"))
    tracker.handle(ev("Hangup", Uniqueid="a.2", Cause="16"))
    tracker.handle(ev("Hangup", Uniqueid=LINKED, Cause="16", **{"Cause-txt": "Normal Clearing"}))
    final = updates[-1]
    assert final.ended_at and final.outcome().value == "answered"
    assert (final.agent, final.agent_name, final.wait_seconds, final.talk_seconds) == (
        "102",
        "Trần Thị Bình",
        17.0,
        42.0,
    )
    assert [k for _, k, _ in final.timeline].count("agent_no_answer") == 1
    assert final.hangup_cause == "16 Normal Clearing"
    assert tracker.calls == {}


def test_a_transfer_stays_one_case() -> None:
    tracker, updates = collect()
    hotline_call(tracker)
    tracker.handle(ev("Newchannel", Uniqueid="a.1"))
    tracker.handle(ev("AgentConnect", Interface="PJSIP/agent101", MemberName="An", HoldTime="3"))
    tracker.handle(
        AMIMessage(
            {
                "Event": "BlindTransfer",
                "TransfererLinkedid": LINKED,
                "Extension": "103",
                "Context": "hotline-agents",
            }
        )
    )
    tracker.handle(ev("Newchannel", Uniqueid="a.3"))
    for uid in ("a.1", "a.3", LINKED):
        tracker.handle(ev("Hangup", Uniqueid=uid, Cause="16"))
    ended = [c for c in updates if c.ended_at]
    assert len(ended) == 1
    assert "transferred" in [k for _, k, _ in ended[0].timeline]


def test_calls_outside_the_hotline_make_no_case() -> None:
    tracker, updates = collect()
    tracker.handle(ev("Newchannel", Uniqueid=LINKED, CallerIDNum="101"))
    tracker.handle(ev("Hangup", Uniqueid=LINKED))
    assert updates == [] and tracker.calls == {}


def test_resync_ends_calls_that_vanished_and_rebuilds_live_ones() -> None:
    tracker, updates = collect()
    hotline_call(tracker)
    live = AMIMessage(
        {
            "Event": "CoreShowChannel",
            "Linkedid": "1700000001.5",
            "Uniqueid": "1700000001.5",
            "Channel": "PJSIP/trunk-0005",
            "CallerIDNum": "0900111222",
            "CallerIDName": "",
            "Duration": "00:01:05",
        }
    )
    agent = AMIMessage(
        {
            "Event": "CoreShowChannel",
            "Linkedid": "1700000001.5",
            "Uniqueid": "1700000001.6",
            "Channel": "PJSIP/agent103-0006",
            "BridgeId": "b1",
            "Duration": "00:00:40",
        }
    )
    variables = {
        "1700000001.5": {
            "HOTLINE_DID": "02371022",
            "HOTLINE_TOPIC": "health.testing",
            "HOTLINE_CASE_NO": "10000016",
            "HOTLINE_START": "1795300000",
            "MEMBERNAME": "Lê Minh Châu",
        }
    }
    tracker.resync([live, agent], variables, [])
    vanished = [c for c in updates if c.linkedid == LINKED and c.ended_at]
    assert vanished and vanished[0].outcome().value == "abandoned_queue"
    assert "ended while the bridge was not connected" in vanished[0].note
    rebuilt = tracker.calls["1700000001.5"]
    assert (rebuilt.did, rebuilt.topic, rebuilt.number, rebuilt.agent, rebuilt.agent_name) == (
        "02371022",
        "health.testing",
        "10000016",
        "103",
        "Lê Minh Châu",
    )
    assert rebuilt.started_at.timestamp() == 1795300000
    assert rebuilt.state == "talking"


def test_the_number_the_ivr_reads_reaches_the_case_at_once() -> None:
    """An agent who answers must see the number the caller heard, not the one the bridge gave the call when
    it entered: setting HOTLINE_CASE_NO hands the writer a snapshot."""
    updates: list[str] = []
    tracker = CallTracker(lambda call: updates.append(call.number))
    tracker.handle(ev("Newchannel", Uniqueid=LINKED, CallerIDNum="0912345678", CallerIDName="An"))
    tracker.handle(ev("VarSet", Uniqueid=LINKED, Variable="__HOTLINE_DID", Value="1022"))
    tracker.handle(ev("VarSet", Uniqueid=LINKED, Variable="HOTLINE_CASE_NO", Value="10000016"))
    tracker.handle(
        ev("VarSet", Uniqueid=LINKED, Variable="HOTLINE_CASE_NO", Value="10000016")
    )  # inherited copy
    assert updates == ["", "10000016"]


def test_a_calls_copy_shares_nothing_later_events_change() -> None:
    call = Call(linkedid="1.1", started_at=datetime.now(UTC))
    call.channels.add("PJSIP/trunk-1")
    call.carried["request_number"] = "10000016"
    call.timeline.append((datetime.now(UTC), "entered", {"did": "1022"}))
    copied = call.copy()
    call.channels.add("PJSIP/agent101-2")
    call.carried["request_number"] = "10000017"
    call.timeline[0][2]["did"] = "02371022"
    call.timeline.append((datetime.now(UTC), "queued", {}))
    assert copied.channels == {"PJSIP/trunk-1"} and copied.carried == {"request_number": "10000016"}
    assert [(kind, detail) for _, kind, detail in copied.timeline] == [("entered", {"did": "1022"})]
