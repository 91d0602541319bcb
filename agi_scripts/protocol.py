"""AGI wire protocol: results, typed errors, argument quoting, and reading the AGI environment.

Results are parsed with panoramisk's parser, then turned into exceptions: panoramisk hands back a hangup as
a dict ({'error': 'AGIResultHangup'}) that is easy to miss; here it raises AGIHangup, which the IVR treats
as the normal end of a call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from panoramisk.utils import parse_agi_result

from ivr.channel import ChannelError, ChannelHangup

MAX_ENV_LINES = 200
MAX_LINE = 8192


class AGIHangup(ChannelHangup):
    """The channel hung up (HANGUP, result -1 on a dead channel, 511, or the connection closed)."""


class AGIError(ChannelError):
    """Asterisk refused or failed a command."""


class AGIAppError(AGIError):
    """result=-1: the command or application failed (e.g. a sound file is missing)."""


class AGIInvalidCommand(AGIError):
    """510: Asterisk does not know the command."""


class AGIUsageError(AGIError):
    """520: wrong arguments for the command."""


class AGIProtocolError(AGIError):
    """The peer broke the protocol (environment never ended, line too long, garbage)."""


@dataclass(frozen=True)
class AGIResult:
    result: str
    data: str = ""
    line: str = ""

    @property
    def digit(self) -> str:
        """The key a STREAM FILE / WAIT FOR DIGIT returned ('' for none)."""
        code = int(self.result or 0)
        return chr(code) if code > 0 else ""


def parse_result(line: str) -> AGIResult:
    if line.startswith("511"):
        raise AGIHangup(line)
    parsed = parse_agi_result(line)
    error = parsed.get("error")
    if error == "AGIResultHangup":
        raise AGIHangup(line)
    if error == "AGIAppError":
        raise AGIAppError(line)
    if error == "AGIInvalidCommand":
        raise AGIInvalidCommand(line)
    if error == "AGIUsageError":
        raise AGIUsageError(line)
    if error:
        raise AGIError(line)
    value, data = parsed.get("result", ("", ""))
    return AGIResult(result=value, data=data, line=line)


def quote(text: str) -> str:
    """One AGI argument: Asterisk splits on spaces unless quoted, and honours \\ escapes inside quotes."""
    if "\n" in text or "\r" in text:
        raise ValueError(f"AGI argument {text!r} contains a line break")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def read_environment(reader: asyncio.StreamReader) -> dict[str, str]:
    """Read 'agi_x: value' lines up to the blank line. A peer that disconnects or floods us is refused with
    AGIProtocolError; one that stalls is cut off by the server's watchdog. Either way only its own session
    ends."""
    env: dict[str, str] = {}
    for _ in range(MAX_ENV_LINES):
        try:
            raw = await reader.readline()
        except (ValueError, asyncio.LimitOverrunError):
            raise AGIProtocolError("AGI environment line too long") from None
        except ConnectionError:
            raw = b""
        if not raw:
            raise AGIProtocolError("peer closed before the end of the AGI environment")
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if not line:
            return env
        key, sep, value = line.partition(":")
        if not sep or not key.startswith("agi_"):
            raise AGIProtocolError(f"not an AGI environment line: {line[:80]!r}")
        env[key] = value.strip()
    raise AGIProtocolError(f"AGI environment longer than {MAX_ENV_LINES} lines")
