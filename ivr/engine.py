"""The IVR interpreter: walks a flow on a Channel and ends with where the caller goes next.

It knows nothing of sockets or databases: the channel plays and reads keys, the case desk hands out case
numbers and looks up statuses. Whatever happens — silence, wrong keys, a loop in the flow, a failing case
desk — the caller leaves with a destination, by default the operator queue.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from hotline import menu_steps
from hotline.asterisk.channel_vars import Var, collected
from hotline.switches import Switches
from ivr.channel import CallInfo, Channel, ChannelHangup
from ivr.flow import Flow, Node

log = logging.getLogger(__name__)

MAX_STEPS = 200  # a flow that loops (a menu sending callers round and round) still ends
CASE_REPEATS = 3
CASE_REPEAT_WAIT = 3.0
FALLBACK_QUEUE = "operator"
ANY_KEY = "0123456789*#"


class CaseDesk(Protocol):
    async def reserve_case_number(self, call: CallInfo) -> str:
        """The case number of this call (the same one if asked twice)."""

    async def case_status(self, number: str) -> str | None:
        """'new', 'in_progress' or 'resolved'; None when there is no such case."""


@dataclass
class Outcome:
    """Where the IVR sends the caller, and how it got there. Written onto the channel as HOTLINE_*."""

    destination: str = ""  # queue-<name>, voicemail-<name> or end
    topic: str = ""
    path: list[str] = field(default_factory=list)  # keys chosen in menus, e.g. ["4", "2"]
    trail: list[str] = field(default_factory=list)  # nodes visited
    result: str = ""  # chosen | menu_failed | loop_guard | hangup | error
    case_number: str = ""
    steps: menu_steps.Steps = field(default_factory=menu_steps.Steps)

    def variables(self) -> dict[str, str]:
        return {
            Var.IVR_STEPS: self.steps.encode(),
            Var.TOPIC: self.topic,
            Var.PATH: "-".join(self.path),
            Var.IVR_RESULT: self.result,
            # Last: the dialplan routes on it, so it is set only once the others are in place.
            Var.DEST: self.destination,
        }


class Engine:
    def __init__(
        self,
        flow: Flow,
        desk: CaseDesk,
        is_open: Callable[[datetime | None], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.flow = flow
        self.desk = desk
        self.is_open = is_open
        self.clock = clock

    async def run(self, channel: Channel, call: CallInfo, switches: Switches | None = None) -> Outcome:
        """Walk the flow from its start. A hangup ends the walk with result 'hangup' (nothing to set:
        the channel is gone); any other end sets the outcome on the channel. `switches`: what a
        supervisor turned on for an emergency (an announcement first, the hours forced)."""
        session = _Session(self, channel, call, switches or Switches())
        try:
            await session.walk()
        except ChannelHangup:
            session.out.result = "hangup"
            return session.out
        session.out.steps.end(self.clock())
        for name, value in session.out.variables().items():
            await channel.set_variable(name, value)
        return session.out


class _Session:
    """One call's walk through the flow: its own keys, menus and collected values."""

    def __init__(self, engine: Engine, channel: Channel, call: CallInfo, switches: Switches) -> None:
        self.flow = engine.flow
        self.desk = engine.desk
        self.is_open = engine.is_open
        self.clock = engine.clock
        self.switches = switches
        self.ch = channel
        self.call = call
        self.out = Outcome()
        self.menus: list[str] = []  # for back_key
        self.collected: dict[str, str] = {}
        # A key pressed during a message (the greeting, a status) answers the next menu at once:
        # callers who know the menu need not wait for it.
        self.pending_key = ""

    async def walk(self) -> None:
        out = self.out
        name = self.flow.start
        if self.switches.announcement:
            # Before anything else, whatever the hours: what everyone calling now must hear. A key pressed
            # during it answers the first menu (a caller who knows the menu is not held up).
            self.pending_key = await self.ch.play([self.switches.announcement], ANY_KEY)
        for _ in range(MAX_STEPS):
            node = self.flow.node(name)
            out.trail.append(name)
            # Written as the caller goes, so that a hang-up leaves on the call where and after what.
            out.steps.enter(name, self.clock())
            await self.ch.set_variable(Var.IVR_STEPS, out.steps.encode())
            following: str | None = await getattr(self, f"_{node.type}")(node)
            if following is None:
                return
            if node.type == "menu" and following != name and (not self.menus or self.menus[-1] != name):
                self.menus.append(name)
            name = following
        log.error(
            "flow %s: %d steps without an end at node %r; sending the caller to an operator",
            self.flow.path,
            MAX_STEPS,
            name,
        )
        _fallback(out, "loop_guard")

    # -- node types (each returns the next node's name, or None when the caller leaves the IVR) --------
    async def _hours(self, node: Node) -> str:
        forced = self.switches.hours
        is_open = forced == "open" if forced else self.is_open(None)
        # The case records calls that came after hours as such, whatever the caller did next.
        await self.ch.set_variable(Var.HOURS, "open" if is_open else "closed")
        return node.open if is_open else node.closed

    async def _play(self, node: Node) -> str:
        by_did = dict(node.by_did)
        prompts = [by_did[self.call.did]] if self.call.did in by_did else node.prompts
        if not self.pending_key:  # a key pressed already (during the announcement) skips the message
            self.pending_key = await self.ch.play(prompts, ANY_KEY)
        return node.next

    async def _menu(self, node: Node) -> str | None:
        ch, out = self.ch, self.out
        await ch.set_variable(Var.IVR_NODE, node.name)
        failures = silent = 0
        prompts: list[str] = list(node.prompts)
        while True:
            keys, self.pending_key = self.pending_key or await ch.read_digits(prompts, node.timeout, 1), ""
            silent = silent + 1 if keys is None else 0
            prompts = list(node.prompts)
            if keys and keys == node.repeat_key:
                continue
            if keys and keys == node.back_key and self.menus:
                return self.menus.pop()
            option = node.option(keys) if keys else None
            if option is not None:
                out.path.append(option.key)
                out.result = ""
                await ch.set_variable(Var.PATH, "-".join(out.path))
                if option.topic:
                    # On the channel at once: a caller who hangs up after choosing is a missed call of
                    # that topic (the worklist, the reports), not an anonymous one.
                    out.topic = option.topic
                    await ch.set_variable(Var.TOPIC, option.topic)
                return option.target
            failures += 1
            await self._note(menu_steps.TIMEOUT if keys is None else menu_steps.INVALID)
            if failures >= node.retries or silent >= (node.silences or node.retries):
                return self._on_fail(node)
            hint = node.timeout_prompt if keys is None else node.invalid_prompt
            prompts = [p for p in (hint, *node.prompts) if p]

    async def _collect(self, node: Node) -> str | None:
        failures = 0
        prompts = list(node.prompts)
        while True:
            keys = (await self.ch.read_digits(prompts, node.timeout, node.max_digits) or "").rstrip("#")
            if node.min_digits <= len(keys) <= node.max_digits and keys.isdigit():
                self.collected[node.variable] = keys
                await self.ch.set_variable(collected(node.variable), keys)
                return node.next
            failures += 1
            await self._note(menu_steps.INVALID if keys else menu_steps.TIMEOUT)
            if failures >= node.retries:
                return self._on_fail(node)
            hint = node.timeout_prompt if not keys else node.invalid_prompt
            prompts = [p for p in (hint, *node.prompts) if p]

    async def _case_status(self, node: Node) -> str:
        number = self.collected.get(node.variable, "")
        try:
            status = await self.desk.case_status(number) if number else None
        except Exception:
            log.exception("case status lookup failed for %r", number)
            status = None
        self.pending_key = await self.ch.play(
            [f"case_status_{status}" if status else "case_not_found"], ANY_KEY
        )
        return node.next

    async def _case_number(self, node: Node) -> str:
        ch, out = self.ch, self.out
        try:
            out.case_number = await self.desk.reserve_case_number(self.call)
        except Exception:
            # The case is still written (by linkedid) once the call ends; only the readback is lost.
            log.exception("no case number for call %s; going on without reading one", self.call.linkedid)
            return node.next
        await ch.set_variable(Var.CASE_NO, out.case_number)
        for _ in range(CASE_REPEATS):
            await ch.play(node.prompts)
            await ch.say_digits(out.case_number)
            if not node.repeat_prompt:
                break
            again = await ch.read_digits([node.repeat_prompt], CASE_REPEAT_WAIT, 1)
            if again != "1":
                break
        return node.next

    async def _queue(self, node: Node) -> None:
        await self._leave(node, f"queue-{node.queue}")

    async def _voicemail(self, node: Node) -> None:
        await self._leave(node, f"voicemail-{node.queue}")

    async def _end(self, node: Node) -> None:
        await self._leave(node, "end")

    # -- helpers ---------------------------------------------------------------------------------
    async def _leave(self, node: Node, destination: str) -> None:
        out = self.out
        out.destination = destination
        out.topic = out.topic or node.topic
        out.result = out.result or "chosen"
        if node.prompts:
            await self.ch.play(node.prompts)

    async def _note(self, code: str) -> None:
        self.out.steps.note(code)
        await self.ch.set_variable(Var.IVR_STEPS, self.out.steps.encode())

    def _on_fail(self, node: Node) -> str | None:
        self.out.steps.note(menu_steps.FAILED)
        self.out.result = "menu_failed"
        if node.on_fail:
            return node.on_fail
        _fallback(self.out, "menu_failed")
        return None


def _fallback(out: Outcome, result: str) -> None:
    out.destination = f"queue-{FALLBACK_QUEUE}"
    out.topic = out.topic or FALLBACK_QUEUE
    out.result = result
