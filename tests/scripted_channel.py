"""A Channel driven by a script of what the caller does, for engine unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ivr.channel import CallInfo, ChannelHangup

HANGUP = object()


@dataclass
class ScriptedChannel:
    """`answers` are consumed by each read: a key string, None for silence, or HANGUP."""

    answers: list[object]
    played: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    history: list[tuple[str, str]] = field(default_factory=list)

    barge_in: dict[str, str] = field(default_factory=dict)  # prompt -> key pressed while it plays

    async def play(self, prompts: Sequence[str], escape: str = "") -> str:
        for prompt in prompts:
            self.played.append(prompt)
            key = self.barge_in.get(prompt, "")
            if key and key in escape:
                return key
        return ""

    async def read_digits(self, prompts: Sequence[str], timeout: float, max_digits: int) -> str | None:
        self.played.extend(prompts)
        if not self.answers:
            raise AssertionError(f"the caller's script ran out after {self.played}")
        answer = self.answers.pop(0)
        if answer is HANGUP:
            raise ChannelHangup()
        return answer  # type: ignore[return-value]

    async def say_digits(self, digits: str, escape: str = "") -> str:
        self.said.append(digits)
        return ""

    async def set_variable(self, name: str, value: str) -> None:
        self.variables[name] = value
        self.history.append((name, value))


CALL = CallInfo(uniqueid="1.1", linkedid="1.1", caller="0912345678", did="1022")
