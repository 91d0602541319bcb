"""The recorded AMI stream of 24 sandbox calls, replayed through the bridge's own parts (the AMI parser,
the call tracker and live board, the case writer on SQLite): each call must end as exactly one case with
the outcome declared in tests/replay/ami-stream.yaml, and its timeline must hold the declared events in
their order."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydub.generators import Sine
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ami_bridge.calls import Call, CallTracker
from ami_bridge.case_writer import CaseWriter
from ami_bridge.live import LiveBoard
from ami_bridge.message import parse
from bench.ami_replay import EOM, FIXTURE
from hotline import settings as site_settings
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.models import Case
from hotline.db.numbers import NumberAllocator
from shell.service import with_closed_call_hooks
from tests.conftest import TEST_SETTINGS

EXPECTED = yaml.safe_load((Path(__file__).with_name("replay") / "ami-stream.yaml").read_text("utf-8"))


@dataclass(frozen=True)
class Expected:
    """One line of a scenario: events whose kind and details include `match`, `count` times."""

    match: dict[str, Any]
    count: int

    def matches(self, kind: str, detail: dict[str, Any]) -> bool:
        return all((kind if key == "kind" else detail.get(key)) == value for key, value in self.match.items())


def check_timeline(events: list[tuple[str, dict[str, Any]]], scenario: list[Expected]) -> list[str]:
    """What is wrong with a timeline: an event no line matches, a line matched another number of times than
    its count, or a line's events before those of a line above it."""
    problems = []
    last_index = -1
    for line in scenario:
        found = [i for i, (kind, detail) in enumerate(events) if line.matches(kind, detail)]
        if len(found) != line.count:
            problems.append(f"{line.match}: {len(found)} times, expected {line.count}")
        if found and found[0] < last_index:
            problems.append(f"{line.match}: at {found[0]}, before the line above it (at {last_index})")
        last_index = max(found, default=last_index)
    for kind, detail in events:
        if not any(line.matches(kind, detail) for line in scenario):
            problems.append(f"unexpected event {kind} {detail}")
    return problems


def scenarios() -> dict[str, list[Expected]]:
    return {name: [Expected(**line) for line in lines] for name, lines in EXPECTED["scenarios"].items()}


def test_the_checker_catches_a_missing_event_a_wrong_count_and_a_wrong_order() -> None:
    scenario = scenarios()["left_the_queue_unanswered"]
    good = [
        ("entered", {"did": "1022"}),
        ("ivr_done", {"destination": "queue-operator", "path": "0"}),
        ("queued", {"queue": "operator"}),
        ("abandoned", {"queue": "operator"}),
        ("ended", {"outcome": "abandoned_queue"}),
    ]
    assert check_timeline(good, scenario) == []
    assert check_timeline(good[:3] + good[4:], scenario)  # abandoned missing
    assert check_timeline([*good[:2], good[3], good[2], good[4]], scenario)  # abandoned before queued
    assert check_timeline([*good[:4], good[3], good[4]], scenario)  # abandoned twice
    assert check_timeline([*good, ("hold", {})], scenario)  # an event no line names


def recorded_stream(recordings: Path) -> Iterator[bytes]:
    """The recording's messages, its calls' recordings placed under `recordings`."""
    raw = gzip.decompress(FIXTURE.read_bytes()).replace(b"{RECORDINGS}", str(recordings).encode())
    for message in raw.split(EOM):
        if message.strip():
            yield message


def tone() -> bytes:
    out = io.BytesIO()
    Sine(440).to_audio_segment(duration=1500).set_frame_rate(8000).set_channels(1).export(out, format="wav")
    return out.getvalue()


@pytest.fixture
def replayed(tmp_path: Path) -> tuple[dict[str, Call], Path]:
    """Every event through the tracker and the board, as the bridge feeds them; the ended calls by
    linkedid. Each answered call's recording is where Asterisk would have left it."""
    site = site_settings.load(TEST_SETTINGS)
    ended: dict[str, Call] = {}
    tracker = CallTracker(lambda call: ended.__setitem__(call.linkedid, call) if call.ended_at else None)
    board = LiveBoard(site, tracker.calls)
    for raw in recorded_stream(tmp_path / "recordings"):
        event = parse(raw)
        assert event is not None, raw
        tracker.handle(event)
        board.handle(event)
    for call in ended.values():
        if call.answered_at is not None:
            Path(call.recording).parent.mkdir(parents=True, exist_ok=True)
            Path(call.recording).write_bytes(tone())
    return ended, tmp_path


def test_each_recorded_call_ends_once_with_its_declared_outcome_and_timeline(
    replayed: tuple[dict[str, Call], Path],
) -> None:
    ended, _ = replayed
    assert set(ended) == set(EXPECTED["calls"])
    declared = scenarios()
    problems = {}
    for linkedid, want in EXPECTED["calls"].items():
        call = ended[linkedid]
        scenario = declared[want["scenario"]]
        outcome = next(line.match["outcome"] for line in scenario if line.match["kind"] == "ended")
        wrong = (
            [] if call.outcome().value == outcome else [f"outcome {call.outcome().value}, expected {outcome}"]
        )
        wrong += check_timeline([(kind, detail) for _, kind, detail in call.timeline], scenario)
        for field in ("ivr_path", "number", "queue", "agent", "ivr_node"):
            if field in want and getattr(call, field) != want[field]:
                wrong.append(f"{field} {getattr(call, field)!r}, expected {want[field]!r}")
        if wrong:
            problems[linkedid] = wrong
    assert problems == {}


async def test_the_replayed_calls_become_one_complete_case_each(
    replayed: tuple[dict[str, Call], Path],
) -> None:
    ended, folder = replayed
    url = f"sqlite+aiosqlite:///{folder}/cases.db"
    await upgrade_async(url)
    engine = make_engine(url)
    db = sessions(engine)
    try:
        writer = with_closed_call_hooks(CaseWriter(db, NumberAllocator(db), settle_seconds=0))
        await writer.write(ended.values())
        await writer.write(ended.values())  # a second write of the same calls changes nothing
        async with db() as session:
            cases = {
                c.linkedid: c for c in await session.scalars(select(Case).options(selectinload(Case.events)))
            }
    finally:
        await engine.dispose()
    assert set(cases) == set(EXPECTED["calls"])
    declared = scenarios()
    for linkedid, want in EXPECTED["calls"].items():
        case = cases[linkedid]
        call = ended[linkedid]
        assert case.outcome == call.outcome().value and case.ended_at is not None
        assert case.number == want.get("number", case.number) and case.number
        # The case's timeline is the call's, then what the files showed: a recording for each answered call.
        kinds = [e.kind for e in case.events]
        assert kinds[: len(call.timeline)] == [kind for _, kind, _ in call.timeline]
        extra = kinds[len(call.timeline) :]
        assert extra == (["recording"] if call.answered_at else []), (linkedid, extra)
        assert (
            check_timeline(
                [(e.kind, e.detail) for e in case.events if e.kind != "recording"], declared[want["scenario"]]
            )
            == []
        )
    assert all(c.started_at <= (c.ended_at or datetime.now(UTC)) for c in cases.values())
