"""The live board on scripted AMI events: agent states and time in state, waiting callers and their
positions, ringall, hold, wrap-up by the clock, and a resynchronisation from QueueStatus/QueueSummary."""

from __future__ import annotations

from datetime import timedelta

from ami_bridge.calls import CallTracker, now
from ami_bridge.live import LiveBoard
from ami_bridge.message import AMIMessage
from hotline.settings import Settings

A, B = "1700000000.1", "1700000000.2"


def ev(name: str, **fields: str) -> AMIMessage:
    return AMIMessage({"Event": name, **fields})


class Feed:
    def __init__(self, site: Settings) -> None:
        self.tracker = CallTracker(on_update=lambda call: None)
        self.board = LiveBoard(site, self.tracker.calls)

    def __call__(self, name: str, **fields: str) -> None:
        event = ev(name, **fields)
        self.tracker.handle(event)
        self.board.handle(event)

    def caller(self, linkedid: str, number: str, queue: str = "q-operator") -> None:
        self("Newchannel", Linkedid=linkedid, Uniqueid=linkedid, CallerIDNum=number, CallerIDName="")
        self("VarSet", Linkedid=linkedid, Uniqueid=linkedid, Variable="__HOTLINE_DID", Value="1022")
        self("QueueCallerJoin", Linkedid=linkedid, Uniqueid=linkedid, Queue=queue, Position="0")

    def member(self, ext: str, queue: str = "q-operator", **fields: str) -> None:
        base = {"Queue": queue, "Interface": f"PJSIP/agent{ext}", "MemberName": ext, "Status": "1"}
        self("QueueMemberAdded", **{**base, **fields})

    def agent(self, ext: str) -> dict[str, object]:
        return next(a for a in self.board.snapshot()["agents"] if a["extension"] == ext)

    def queue(self, name: str) -> dict[str, object]:
        return next(q for q in self.board.snapshot()["queues"] if q["name"] == name)


def test_agents_from_settings_start_logged_out_and_log_in_ready(site: Settings) -> None:
    feed = Feed(site)
    assert {a["state"] for a in feed.board.snapshot()["agents"]} == {"logged_out"}
    feed.member("101")
    feed.member("101", queue="q-violation")
    assert feed.agent("101")["state"] == "ready"
    assert feed.agent("101")["queues"] == ["operator", "violation"]
    feed("QueueMemberRemoved", Queue="q-operator", Interface="PJSIP/agent101")
    feed("QueueMemberRemoved", Queue="q-violation", Interface="PJSIP/agent101")
    assert feed.agent("101")["state"] == "logged_out"


def test_pause_with_reason_and_an_unreachable_phone(site: Settings) -> None:
    feed = Feed(site)
    feed.member("102")
    feed("QueueMemberPause", Queue="q-operator", Interface="PJSIP/agent102", Paused="1", PausedReason="lunch")
    assert (feed.agent("102")["state"], feed.agent("102")["pause_reason"]) == ("paused", "lunch")
    feed("QueueMemberPause", Queue="q-operator", Interface="PJSIP/agent102", Paused="0", Status="5")
    assert (feed.agent("102")["state"], feed.agent("102")["pause_reason"]) == ("unavailable", "")


def test_waiting_callers_ringing_all_then_one_answers_and_the_rest_move_up(site: Settings) -> None:
    feed = Feed(site)
    feed.member("101")
    feed.member("102")
    feed.caller(A, "0911111111")
    feed.caller(B, "0922222222")
    feed.tracker.calls[A].position, feed.tracker.calls[B].position = 1, 2
    q = feed.queue("operator")
    assert [w["caller"] for w in q["waiting"]] == ["0911111111", "0922222222"]  # type: ignore[index]
    for ext in ("101", "102"):
        feed("AgentCalled", Linkedid=A, Interface=f"PJSIP/agent{ext}", MemberName=ext, Queue="q-operator")
    assert {feed.agent("101")["state"], feed.agent("102")["state"]} == {"ringing"}
    feed(
        "AgentConnect",
        Linkedid=A,
        Interface="PJSIP/agent102",
        MemberName="102",
        Queue="q-operator",
        HoldTime="4",
    )
    feed("QueueCallerLeave", Linkedid=A, Uniqueid=A, Queue="q-operator", Position="1")
    assert feed.agent("102")["state"] == "in_call"
    assert feed.agent("102")["call"]["caller"] == "0911111111"  # type: ignore[index]
    assert feed.agent("101")["state"] == "ready"  # ringall: the others stop ringing
    waiting = feed.queue("operator")["waiting"]
    assert [(w["caller"], w["position"]) for w in waiting] == [("0922222222", 1)]  # type: ignore[union-attr]


def test_hold_then_wrapup_ends_by_the_clock(site: Settings) -> None:
    feed = Feed(site)
    feed.board.queues["operator"].wrapup_seconds = 30
    feed.member("103")
    feed.caller(A, "0911111111")
    feed("AgentConnect", Linkedid=A, Interface="PJSIP/agent103", MemberName="103", Queue="q-operator")
    feed("Hold", Linkedid=A, Channel="PJSIP/agent103-0001")
    assert feed.agent("103")["state"] == "on_hold"
    feed("Unhold", Linkedid=A, Channel="PJSIP/agent103-0001")
    feed("AgentComplete", Linkedid=A, Interface="PJSIP/agent103", Queue="q-operator", TalkTime="20")
    feed("Hangup", Linkedid=A, Uniqueid=A, Cause="16")
    assert feed.agent("103")["state"] == "wrapup"
    assert feed.agent("103")["calls_taken"] == 1
    feed.board.refresh(now() + timedelta(seconds=31))
    assert feed.board.agents["103"].state == "ready"


def test_time_in_state_counts_from_the_last_change(site: Settings) -> None:
    feed = Feed(site)
    feed.member("101")
    since = feed.board.agents["101"].since
    feed("QueueMemberStatus", Queue="q-operator", Interface="PJSIP/agent101", Status="1", CallsTaken="3")
    assert feed.board.agents["101"].since == since  # same state: the clock keeps running
    later = feed.board.snapshot(since + timedelta(seconds=75))
    assert next(a for a in later["agents"] if a["extension"] == "101")["in_state"] == 75


def test_resync_from_queue_status_and_summary(site: Settings) -> None:
    feed = Feed(site)
    feed.member("101")  # stale: Asterisk no longer has 101
    members = [
        ev(
            "QueueMember",
            Queue="q-health",
            Name="Lê Minh Châu",
            Location="PJSIP/agent103",
            Status="1",
            Paused="1",
            PausedReason="training",
            LastCall="0",
        )
    ]
    summary = [ev("QueueSummary", Queue="q-health", HoldTime="12", TalkTime="95", LongestHoldTime="0")]
    feed.board.resync(members, summary)
    assert feed.agent("101")["state"] == "logged_out"
    assert (feed.agent("103")["state"], feed.agent("103")["pause_reason"]) == ("paused", "training")
    health = feed.queue("health")
    assert (health["holdtime"], health["talktime"], health["members"]) == (12, 95, ["103"])


def test_listeners_hear_changes_and_a_broken_one_does_not_stop_others(site: Settings) -> None:
    feed = Feed(site)
    heard: list[int] = []

    def broken() -> None:
        raise RuntimeError("screen went away")

    feed.board.subscribe(broken)
    unsubscribe = feed.board.subscribe(lambda: heard.append(feed.board.version))
    feed.member("101")
    assert heard
    unsubscribe()
    before = len(heard)
    feed.member("102")
    assert len(heard) == before
