"""What the IVR engine needs from a call, whatever carries it (FastAGI, classic AGI, a test script)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class ChannelHangup(Exception):
    """The caller hung up: a normal end of an IVR session, not an error."""


class ChannelError(Exception):
    """The channel could not do what was asked (e.g. a prompt file is missing)."""


@dataclass(frozen=True)
class CallInfo:
    uniqueid: str
    linkedid: str
    caller: str
    did: str
    language: str = "vi"


class Channel(Protocol):
    """Prompts are ids from the catalogue; the channel maps them to sound files."""

    async def play(self, prompts: Sequence[str], escape: str = "") -> str:
        """Play prompts in turn; return the key that interrupted them, or ''."""

    async def read_digits(self, prompts: Sequence[str], timeout: float, max_digits: int) -> str | None:
        """Play prompts (any key interrupts), then read up to max_digits keys ('#' ends early).
        Return the keys, or None when the caller pressed nothing before the timeout."""

    async def say_digits(self, digits: str, escape: str = "") -> str:
        """Say each digit in the channel's language; return an interrupting key or ''."""

    async def set_variable(self, name: str, value: str) -> None: ...
