"""The hotline flow, walked by scripted callers: every path ends somewhere, never in silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hotline import menu_steps
from hotline.switches import Switches
from ivr import flow as flow_file
from ivr.channel import CallInfo
from ivr.engine import Engine, Outcome
from tests.conftest import ROOT
from tests.scripted_channel import CALL, HANGUP, ScriptedChannel

FLOW = ROOT / "ivr" / "flows" / "hotline.yaml"


class Desk:
    def __init__(self, statuses: dict[str, str] | None = None, broken: bool = False) -> None:
        self.statuses = statuses or {}
        self.broken = broken
        self.reserved: list[str] = []

    async def reserve_case_number(self, call: CallInfo) -> str:
        if self.broken:
            raise RuntimeError("database down")
        self.reserved.append(call.linkedid)
        return "10000017"

    async def case_status(self, number: str) -> str | None:
        if self.broken:
            raise RuntimeError("database down")
        return self.statuses.get(number)


async def walk(
    answers: list[object],
    *,
    open_: bool = True,
    desk: Desk | None = None,
    did: str = "1022",
    flow_path: Path = FLOW,
) -> tuple[Outcome, ScriptedChannel]:
    engine = Engine(flow_file.load(flow_path), desk or Desk(), lambda now: open_)
    channel = ScriptedChannel(list(answers))
    call = CallInfo(CALL.uniqueid, CALL.linkedid, CALL.caller, did)
    outcome = await engine.run(channel, call)
    return outcome, channel


@pytest.mark.parametrize(
    ("keys", "destination", "topic", "path"),
    [
        (["1", None], "queue-violation", "violation", "1"),
        (["2", None], "queue-suggestion", "suggestion", "2"),
        (["3", None], "queue-welfare", "welfare", "3"),
        (["4", "1", None], "queue-health", "health.symptoms", "4-1"),
        (["4", "2", None], "queue-health", "health.vaccination", "4-2"),
        (["4", "3", None], "queue-health", "health.testing", "4-3"),
        (["0"], "queue-operator", "operator", "0"),
    ],
)
async def test_every_main_menu_choice_reaches_its_queue(
    keys: list[object], destination: str, topic: str, path: str
) -> None:
    outcome, channel = await walk(keys)
    assert (outcome.destination, outcome.topic, "-".join(outcome.path)) == (destination, topic, path)
    assert outcome.result == "chosen"
    assert channel.variables["HOTLINE_DEST"] == destination
    assert channel.variables["HOTLINE_TOPIC"] == topic
    assert channel.variables["HOTLINE_PATH"] == path
    assert channel.history[-1][0] == "HOTLINE_DEST"  # the dialplan routes on it: set last


async def test_case_number_is_read_digit_by_digit_and_again_on_request() -> None:
    outcome, channel = await walk(["1", "1", "1", None])
    assert outcome.case_number == "10000017"
    assert channel.said == ["10000017"] * 3
    assert channel.variables["HOTLINE_CASE_NO"] == "10000017"
    assert channel.played.count("your_case_number") == 3


async def test_a_caller_who_presses_nothing_goes_to_an_operator_after_one_hearing_of_the_menu() -> None:
    outcome, channel = await walk([None])
    assert (outcome.destination, outcome.result) == ("queue-operator", "menu_failed")
    assert channel.played.count("main_menu") == 1 and "no_input" not in channel.played
    assert channel.played[-1] == "to_operator"


async def test_silences_count_in_a_row_and_wrong_keys_count_as_tries() -> None:
    outcome, channel = await walk(["7", None])
    assert (outcome.destination, channel.played.count("invalid")) == ("queue-operator", 1)
    # In the health menu a caller who already pressed keys may be silent once and try again.
    outcome, channel = await walk(["4", None, "2", None])
    assert (outcome.destination, outcome.topic) == ("queue-health", "health.vaccination")
    assert channel.played.count("no_input") == 1


async def test_three_wrong_keys_send_the_caller_to_an_operator() -> None:
    outcome, channel = await walk(["7", "8", "5"])
    assert (outcome.destination, outcome.result) == ("queue-operator", "menu_failed")
    assert channel.played.count("invalid") == 2


async def test_repeat_key_replays_without_counting_a_failure() -> None:
    outcome, channel = await walk(["*", "*", "7", "*", "8", "2", None])
    assert outcome.destination == "queue-suggestion"
    assert channel.played.count("main_menu") == 6


async def test_back_key_returns_to_the_main_menu() -> None:
    outcome, _ = await walk(["4", "#", "3", None])
    assert (outcome.destination, outcome.path) == ("queue-welfare", ["4", "3"])


async def test_hangup_mid_menu_keeps_the_path_so_far_on_the_channel() -> None:
    outcome, channel = await walk(["4", HANGUP])
    assert outcome.result == "hangup"
    assert channel.variables["HOTLINE_PATH"] == "4"
    assert channel.variables["HOTLINE_IVR_NODE"] == "health_menu"
    assert "HOTLINE_DEST" not in channel.variables


async def test_after_hours_caller_leaves_a_message_or_ends() -> None:
    outcome, _ = await walk(["1"], open_=False)
    assert (outcome.destination, outcome.topic) == ("voicemail-operator", "after_hours")
    outcome, channel = await walk(["2"], open_=False)
    assert outcome.destination == "end"
    assert channel.played[-1] == "goodbye"
    outcome, _ = await walk([None, None], open_=False)
    assert outcome.destination == "voicemail-operator"


async def test_greeting_depends_on_the_number_dialled() -> None:
    _, channel = await walk(["0"], did="02371022")
    assert channel.played[0] == "welcome_mobile"
    _, channel = await walk(["0"], did="1022")
    assert channel.played[0] == "welcome"


async def test_a_key_pressed_during_the_greeting_answers_the_main_menu() -> None:
    engine = Engine(flow_file.load(FLOW), Desk(), lambda now: True)
    channel = ScriptedChannel([None], barge_in={"welcome": "3"})
    outcome = await engine.run(channel, CALL)
    assert (outcome.destination, outcome.path) == ("queue-welfare", ["3"])
    assert "main_menu" not in channel.played


async def test_case_status_lookup() -> None:
    desk = Desk({"10000017": "in_progress"})
    _, channel = await walk(["9", "10000017", "0"], desk=desk)
    assert "case_status_in_progress" in channel.played
    _, channel = await walk(["9", "12345678", "0"], desk=desk)
    assert "case_not_found" in channel.played
    outcome, channel = await walk(["9", "12", "1234", "0"], desk=desk)  # too short twice: back to the menu
    assert channel.played.count("case_not_found") == 1
    assert outcome.destination == "queue-operator"


async def test_a_failing_case_desk_never_stops_the_call() -> None:
    outcome, channel = await walk(["1", None], desk=Desk(broken=True))
    assert outcome.destination == "queue-violation"
    assert outcome.case_number == ""
    _, channel = await walk(["9", "10000017", "0"], desk=Desk(broken=True))
    assert "case_not_found" in channel.played


async def test_a_looping_flow_ends_at_an_operator(tmp_path: Path) -> None:
    looping = tmp_path / "loop.yaml"
    looping.write_text(
        "start: a\nnodes:\n"
        "  a: {type: play, prompt: welcome, next: b}\n"
        "  b: {type: play, prompt: welcome, next: a}\n"
    )
    outcome, _ = await walk([], flow_path=looping)
    assert (outcome.destination, outcome.result) == ("queue-operator", "loop_guard")


def test_hours_are_checked_in_the_site_time_zone() -> None:
    from hotline.settings import Hours
    from ivr.hours import is_open

    hours = Hours(weekly={"mon": "07:00-21:00"}, holidays=[datetime(2026, 11, 30).date()])
    # Monday 2026-11-23 20:59 in Hanoi is 13:59 UTC.
    assert is_open(hours, "Asia/Ho_Chi_Minh", datetime.fromisoformat("2026-11-23T13:59:00+00:00"))
    assert not is_open(hours, "Asia/Ho_Chi_Minh", datetime.fromisoformat("2026-11-23T14:00:00+00:00"))
    assert not is_open(hours, "Asia/Ho_Chi_Minh", datetime.fromisoformat("2026-11-24T03:00:00+00:00"))  # Tue
    assert not is_open(
        hours, "Asia/Ho_Chi_Minh", datetime.fromisoformat("2026-11-30T03:00:00+00:00")
    )  # holiday
    assert is_open(
        Hours(always_open=True), "Asia/Ho_Chi_Minh", datetime.fromisoformat("2026-11-30T03:00:00+00:00")
    )


async def test_the_steps_record_each_node_its_silences_and_wrong_keys_and_the_hand_on() -> None:
    ticks = iter(range(0, 1000, 3))
    engine = Engine(flow_file.load(FLOW), Desk(), lambda now: True, clock=lambda: 1000.0 + next(ticks))
    channel = ScriptedChannel(["4", None, "9", "1", None])
    outcome = await engine.run(channel, CALL)
    steps = menu_steps.decode(channel.variables["HOTLINE_IVR_STEPS"])
    by_node = {s.node: s.codes for s in steps.steps}
    assert by_node["main_menu"] == "" and by_node["health_menu"] == "ti"
    assert outcome.destination == "queue-health"
    assert [s.node for s in steps.steps] == outcome.trail
    assert steps.start == 1000.0 and steps.ended is not None and steps.ended > steps.steps[-1].offset
    assert all(a.offset < b.offset for a, b in zip(steps.steps, steps.steps[1:], strict=False))


async def test_a_hang_up_leaves_the_steps_so_far_without_the_hand_on() -> None:
    outcome, channel = await walk(["4", None, HANGUP])
    steps = menu_steps.decode(channel.variables["HOTLINE_IVR_STEPS"])
    assert outcome.result == "hangup" and steps.ended is None
    assert (steps.steps[-1].node, steps.steps[-1].codes) == ("health_menu", "t")


def test_steps_that_are_cut_short_or_hostile_decode_to_what_can_be_read() -> None:
    steps = menu_steps.Steps()
    for i, node in enumerate(["welcome", "main-menu~x", "a" * 300]):
        steps.enter(node, 10.0 + i)
    steps.note(menu_steps.TIMEOUT)
    text = steps.encode()
    assert "~" not in text.split("~", 2)[2].split("-")[0]  # a node's own "~" cannot split the record
    assert [s.node for s in menu_steps.decode(text).steps] == ["welcome", "main_menu_x", "a" * 64]
    assert [s.node for s in menu_steps.decode(text[:30]).steps] == ["welcome"]
    for hostile in ("", "x~y", "1.0~a-b-c", "1.0~a-1-zz~>5", "\x00~\udcff", "1.0~-1-"):
        assert menu_steps.decode(hostile).ended is None
    for _ in range(menu_steps.MAX_STEPS * 2):
        steps.enter("loop", 20.0)
    assert len(steps.steps) == menu_steps.MAX_STEPS


ON_DUTY = Switches(announcement="announcements/a-1", announcement_until=datetime(2030, 1, 1, tzinfo=UTC))


async def test_the_emergency_announcement_plays_first_and_a_key_during_it_answers_the_main_menu() -> None:
    engine = Engine(flow_file.load(FLOW), Desk(), lambda now: True)
    channel = ScriptedChannel(["1", None])
    await engine.run(channel, CALL, ON_DUTY)
    assert channel.played[:2] == ["announcements/a-1", "welcome"]
    channel = ScriptedChannel([None], barge_in={"announcements/a-1": "2"})
    outcome = await engine.run(channel, CALL, ON_DUTY)
    assert (outcome.destination, outcome.path) == ("queue-suggestion", ["2"])
    assert "welcome" not in channel.played and "main_menu" not in channel.played
    channel = ScriptedChannel(["1", None])
    await engine.run(channel, CALL, Switches())
    assert "announcements/a-1" not in channel.played


async def test_the_hours_forced_closed_or_open_win_over_the_hours() -> None:
    engine = Engine(flow_file.load(FLOW), Desk(), lambda now: True)
    outcome = await engine.run(ScriptedChannel(["1"]), CALL, Switches(hours="closed"))
    assert (outcome.destination, outcome.topic) == ("voicemail-operator", "after_hours")
    closed_hours = Engine(flow_file.load(FLOW), Desk(), lambda now: False)
    channel = ScriptedChannel(["1", None])
    outcome = await closed_hours.run(channel, CALL, Switches(hours="open"))
    assert outcome.destination == "queue-violation" and channel.variables["HOTLINE_HOURS"] == "open"


def test_a_switch_past_its_end_is_off_even_from_the_cache() -> None:
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    both = Switches("announcements/a-1", "", now + timedelta(minutes=1), "closed", now - timedelta(seconds=1))
    assert both.at(now) == Switches("announcements/a-1", "", now + timedelta(minutes=1))
    assert both.at(now + timedelta(minutes=2)) == Switches()
