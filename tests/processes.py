"""What a test waits for: servers it starts as processes of its own (mail servers, an SMS gateway) until
they listen, and something the system does in its own time (a call back, a delivery report)."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, log: Path | None = None) -> None:
    """Until the server listens on `port` on the loopback; its error output (or log) if it died first."""
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.5):
                return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                if log is not None and log.exists():
                    said = log.read_text(errors="replace")[-2000:]
                else:
                    said = (process.stderr.read() if process.stderr else b"").decode(errors="replace")
                raise RuntimeError(f"{what} did not start: {said}") from None
            time.sleep(0.1)


async def eventually(
    check: Callable[[], Awaitable[T | None]], what: str, timeout: float = 20.0, every: float = 0.5
) -> T:
    """The first true value `check` gives within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never saw {what}")
        await asyncio.sleep(every)
