"""What an IVR call on the sandbox left in Asterisk's AGI log."""

from __future__ import annotations

from shell.callsim import CallResult


def agi_commands(result: CallResult) -> list[str]:
    return [str(e.Command) for e in result.named("AGIExecStart")]


def failed_media(result: CallResult) -> list[str]:
    """Prompts Asterisk could not play (a missing or unreadable sound answers result=-1)."""
    media = ("STREAM FILE", "GET DATA", "SAY DIGITS")
    return [
        f"{e.Command}: {e.Result}"
        for e in result.named("AGIExecEnd")
        if str(e.Command).startswith(media) and "result=-1" in str(e.Result)
    ]
