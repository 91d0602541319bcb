"""What each agent did over a period, from Asterisk's own queue_log (every node's): logged in to a queue,
paused (with the reason), talking to a caller. app_queue writes ADDMEMBER/REMOVEMEMBER, PAUSE/UNPAUSE
(PAUSEALL/UNPAUSEALL) and CONNECT/COMPLETEAGENT/COMPLETECALLER whatever the bridge was doing, so the
figures do not depend on a process having followed every event. A file is entered by bisecting its lines
by time (they are written in order), so a period of a day costs that day's lines, not the file's."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

LOOK_BACK = timedelta(hours=24)  # a pause or a log-in begun before the period still counts in it
MOST_BYTES = 256 * 1024 * 1024  # of one file read for one period
MEMBER_EVENTS = {"ADDMEMBER", "REMOVEMEMBER", "PAUSE", "UNPAUSE", "PAUSEALL", "UNPAUSEALL"}
TALK_EVENTS = {"CONNECT", "COMPLETEAGENT", "COMPLETECALLER", "ATTENDEDTRANSFER", "BLINDTRANSFER"}


@dataclass(frozen=True)
class Span:
    """One stretch of one state of one agent, within the period asked for."""

    agent: str  # the member's name as app_queue logs it (the agent's name in the settings)
    state: str  # logged_in, paused, talking
    reason: str  # a pause's
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def _time(line: bytes) -> float | None:
    head = line.split(b"|", 1)[0]
    try:
        return float(head)
    except ValueError:
        return None


def seek_time(handle: os.PathLike[str] | str, since: float) -> int:
    """The offset of the first whole line at or after `since` (or a little before), by bisection."""
    with open(handle, "rb") as f:
        low, high = 0, f.seek(0, os.SEEK_END)
        while high - low > 4096:
            middle = (low + high) // 2
            f.seek(middle)
            f.readline()  # to the next whole line
            line = f.readline()
            at = _time(line)
            if at is None or at < since:
                low = middle
            else:
                high = middle
        return low


def lines(path: Path, since: datetime, until: datetime) -> Iterator[list[str]]:
    """queue_log's member and talk lines between `since` (less LOOK_BACK) and `until`, split in fields."""
    if not path.is_file():
        return
    start = (since - LOOK_BACK).timestamp()
    end = until.timestamp()
    with path.open("rb") as f:
        f.seek(seek_time(path, start))
        read = 0
        for raw in f:
            read += len(raw)
            if read > MOST_BYTES:
                break
            fields = raw.decode("utf-8", "replace").rstrip("\n").split("|")
            if len(fields) < 5 or fields[4] not in MEMBER_EVENTS | TALK_EVENTS:
                continue
            try:
                at = float(fields[0])
            except ValueError:
                continue
            if at < start:
                continue
            if at >= end:
                break
            yield fields


def spans(records: Iterable[list[str]], since: datetime, until: datetime) -> list[Span]:
    """The stretches of each state, cut to [since, until); one still going at `until` ends there."""
    out: list[Span] = []
    queues: dict[str, set[str]] = {}
    began: dict[tuple[str, str], tuple[datetime, str]] = {}  # (agent, state) -> (since when, reason)

    def close(agent: str, state: str, at: datetime) -> None:
        if (agent, state) in began:
            start, reason = began.pop((agent, state))
            start, end = max(start, since), min(at, until)
            if end > start:
                out.append(Span(agent, state, reason, start, end))

    for fields in records:
        at = datetime.fromtimestamp(float(fields[0]), UTC)
        queue, agent, event = fields[2], fields[3], fields[4]
        if not agent or agent == "NONE":
            continue
        if event == "ADDMEMBER":
            if not queues.setdefault(agent, set()):
                began[(agent, "logged_in")] = (at, "")
            queues[agent].add(queue)
        elif event == "REMOVEMEMBER":
            queues.setdefault(agent, set()).discard(queue)
            if not queues[agent]:
                close(agent, "logged_in", at)
                close(agent, "paused", at)
        elif event in ("PAUSE", "PAUSEALL"):
            if (agent, "paused") not in began:
                began[(agent, "paused")] = (at, fields[5] if len(fields) > 5 else "")
        elif event in ("UNPAUSE", "UNPAUSEALL"):
            close(agent, "paused", at)
        elif event == "CONNECT":
            began[(agent, "talking")] = (at, "")
        else:  # the call ended or was transferred
            close(agent, "talking", at)
    for agent, state in list(began):
        close(agent, state, until)
    return sorted(out, key=lambda s: (s.agent, s.start, s.state))


def read(paths: Iterable[Path], since: datetime, until: datetime) -> list[Span]:
    """Every node's queue_log for the period (blocking: run it in a thread)."""
    found: list[Span] = []
    for path in paths:
        found.extend(spans(lines(path, since, until), since, until))
    return sorted(found, key=lambda s: (s.agent, s.start, s.state))


def totals(found: Iterable[Span]) -> dict[str, dict[str, float]]:
    """Seconds per agent per state."""
    out: dict[str, dict[str, float]] = {}
    for span in found:
        out.setdefault(span.agent, {}).setdefault(span.state, 0.0)
        out[span.agent][span.state] += span.seconds
    return out
