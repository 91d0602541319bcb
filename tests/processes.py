"""Servers a test starts as processes of its own (mail servers, an SMS gateway): waiting until they listen."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path


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
