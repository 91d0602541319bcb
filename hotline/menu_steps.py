"""The caller's steps through the IVR, as one channel variable (HOTLINE_IVR_STEPS) the case keeps: which
nodes they entered and when, the silences and wrong keys in each, and whether the walk ended or the caller
hung up. The IVR writes it as the caller goes (so a hang-up leaves what happened before it); the reports
read it back to say where callers give up.

    1764745200.3~welcome-0-~main_menu-110-t~health_menu-182-ti~>250

The first item is when the walk began (epoch seconds); each step is `node-offset-codes`, the offset in
tenths of a second from that start, the codes one letter per event in the node (t: nothing pressed in
time, i: a key the menu does not offer, f: the menu gave up on the caller); the last item, `>offset`, is
there only when the IVR finished the walk and handed the caller on. Every character is one a URI keeps as
it is, so the end record (URI-encoded) carries it unchanged in size.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

TIMEOUT, INVALID, FAILED = "t", "i", "f"
CODES = frozenset((TIMEOUT, INVALID, FAILED))
# A flow that loops is stopped by the IVR after many steps; the record keeps the first ones, so a case row
# and the end record stay small whatever the flow does.
MAX_STEPS = 40
_UNSAFE = re.compile(r"[^A-Za-z0-9_.]")


@dataclass
class Step:
    node: str
    offset: float  # seconds from the start of the walk
    codes: str = ""


@dataclass
class Steps:
    start: float = 0.0
    steps: list[Step] = field(default_factory=list)
    ended: float | None = None  # seconds from the start when the IVR handed the caller on

    def enter(self, node: str, now: float) -> None:
        if not self.steps:
            self.start = now
        if len(self.steps) < MAX_STEPS:
            self.steps.append(Step(_UNSAFE.sub("_", node)[:64], now - self.start))

    def note(self, code: str) -> None:
        if self.steps and len(self.steps[-1].codes) < 20:
            self.steps[-1].codes += code

    def end(self, now: float) -> None:
        self.ended = now - self.start

    def encode(self) -> str:
        if not self.steps:
            return ""
        items = [f"{self.start:.1f}"]
        items += [f"{s.node}-{round(s.offset * 10)}-{s.codes}" for s in self.steps]
        if self.ended is not None:
            items.append(f">{round(self.ended * 10)}")
        return "~".join(items)


def decode(text: str) -> Steps:
    """The steps of a record; whatever cannot be read (a record cut short, a hostile value) is left out,
    never raised: a report counts what it can of each call."""
    out = Steps()
    items = text.split("~") if text else []
    if not items:
        return out
    try:
        out.start = float(items[0])
    except ValueError:
        return out
    for item in items[1:]:
        if item.startswith(">"):
            if item[1:].isdigit():
                out.ended = int(item[1:]) / 10
            break
        parts = item.rsplit("-", 2)
        if len(parts) != 3 or not parts[1].isdigit() or not parts[0] or set(parts[2]) - CODES:
            break
        out.steps.append(Step(parts[0], int(parts[1]) / 10, parts[2]))
    return out


@dataclass
class NodeTally:
    """What callers did in one node over a period. A node entered twice in a call (a caller sent back to
    the main menu) counts twice: each visit is a chance to give up."""

    entered: int = 0
    hung_up: int = 0  # the caller's last step: they hung up there
    moved_on: int = 0  # to the next node, or handed on by the IVR
    timed_out: int = 0  # silences
    invalid: int = 0  # keys the node does not offer
    failed: int = 0  # the node gave up on the caller (sent to an operator or its on_fail)
    seconds: float = 0.0

    def view(self) -> dict[str, int | float | None]:
        return {
            "entered": self.entered,
            "hung_up": self.hung_up,
            "moved_on": self.moved_on,
            "timed_out": self.timed_out,
            "invalid": self.invalid,
            "failed": self.failed,
            "hung_up_share": round(100 * self.hung_up / self.entered, 1) if self.entered else None,
            "average_seconds": round(self.seconds / self.entered, 1) if self.entered else None,
        }


def tally(calls: Iterable[tuple[str, float | None]]) -> dict[str, NodeTally]:
    """Per node, from each call's record and when the call ended (epoch seconds, None if unknown): the
    time in a node is until the next step, the hand-on, or the hang-up."""
    nodes: dict[str, NodeTally] = {}
    for text, ended_at in calls:
        steps = decode(text)
        for k, step in enumerate(steps.steps):
            node = nodes.setdefault(step.node, NodeTally())
            node.entered += 1
            node.timed_out += step.codes.count(TIMEOUT)
            node.invalid += step.codes.count(INVALID)
            node.failed += step.codes.count(FAILED)
            last = k == len(steps.steps) - 1
            if not last:
                until: float | None = steps.steps[k + 1].offset
            elif steps.ended is not None:
                until = steps.ended
            else:
                until = ended_at - steps.start if ended_at is not None else None
            if last and steps.ended is None:
                node.hung_up += 1
            else:
                node.moved_on += 1
            if until is not None:
                node.seconds += max(0.0, until - step.offset)
    return nodes
