"""The IVR's Channel over AGI commands, the same for FastAGI and the classic script."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from agi_scripts.protocol import AGIAppError, AGIHangup, AGIResult, quote
from ivr.channel import CallInfo

log = logging.getLogger(__name__)

ALL_KEYS = "0123456789*#"
PROMPT_DIR = "hotline"  # prompts live in <sounds>/<language>/hotline/<id>.wav


class Commander(Protocol):
    async def command(self, line: str) -> AGIResult: ...


class AGIChannel:
    def __init__(self, agi: Commander) -> None:
        self.agi = agi

    async def play(self, prompts: Sequence[str], escape: str = "") -> str:
        for prompt in prompts:
            key = await self._stream(prompt, escape)
            if key:
                return key
        return ""

    async def read_digits(self, prompts: Sequence[str], timeout: float, max_digits: int) -> str | None:
        *first, last = prompts if prompts else ("",)
        # Earlier prompts are interruptible; a key there is the first of the answer.
        key = await self.play(first, ALL_KEYS) if first else ""
        if key and (max_digits == 1 or key == "#"):
            return key.rstrip("#") if max_digits > 1 else key
        sound = f"{PROMPT_DIR}/{last}" if last and not key else "silence/1"
        try:
            result = await self.agi.command(f"GET DATA {sound} {int(timeout * 1000)} {max_digits - len(key)}")
        except AGIAppError:
            await self._check_alive()
            log.error("GET DATA %s failed (is the prompt built? run 'hotline prompts build')", sound)
            return key or None
        digits = key + (result.result if result.result not in ("", "-1") else "")
        return digits or None

    async def say_digits(self, digits: str, escape: str = "") -> str:
        try:
            return (await self.agi.command(f"SAY DIGITS {digits} {quote(escape)}")).digit
        except AGIAppError:
            await self._check_alive()
            log.error("SAY DIGITS %s failed (are the %s digits built?)", digits, "vi")
            return ""

    async def set_variable(self, name: str, value: str) -> None:
        await self.agi.command(f"SET VARIABLE {name} {quote(value)}")

    async def get_variable(self, name: str) -> str:
        result = await self.agi.command(f"GET VARIABLE {quote(name)}")
        return result.data if result.result == "1" else ""

    async def _stream(self, prompt: str, escape: str) -> str:
        try:
            return (await self.agi.command(f"STREAM FILE {PROMPT_DIR}/{prompt} {quote(escape)}")).digit
        except AGIAppError:
            await self._check_alive()
            # A missing sound must not stop the call: the menu still works by its keys.
            log.error("prompt %r could not be played (is it built? run 'hotline prompts build')", prompt)
            return ""

    async def _check_alive(self) -> None:
        """result=-1 means a failure or a hangup; a dead channel answers 511, which raises AGIHangup."""
        status = await self.agi.command("CHANNEL STATUS")
        if status.result == "-1":
            raise AGIHangup("channel gone")


def call_info(env: dict[str, str], args: Sequence[str]) -> CallInfo:
    """The dialplan calls AGI(...,<DID>,<linkedid>)."""
    uniqueid = env.get("agi_uniqueid", "")
    return CallInfo(
        uniqueid=uniqueid,
        linkedid=args[1] if len(args) > 1 and args[1] else uniqueid,
        caller=env.get("agi_callerid", ""),
        did=args[0] if args else env.get("agi_dnid", ""),
        language=env.get("agi_language", "vi") or "vi",
    )
