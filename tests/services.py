"""Start `hotline ...` commands as their own processes, as a site runs them, for tests and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from hotline.settings import Settings
from shell.service import Hotline, services
from tests.space import ROOT, TEST_SETTINGS

__all__ = ["ROOT", "TEST_SETTINGS"]
_READERS: set[asyncio.Task[None]] = set()  # keep the output readers alive until their process ends


async def start_hotline(
    *args: str,
    ready: bytes,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    settings: Path = TEST_SETTINGS,
) -> asyncio.subprocess.Process:
    """`hotline --settings <test site> ARGS`, once it has printed `ready`; its output is kept in
    test-artifacts/ (read as it comes, so that it never blocks on a full pipe)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shell.cli",
        "--settings",
        str(settings),
        *args,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    seen = b""
    while ready not in seen:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"hotline {' '.join(args)} exited before it was ready:\n{seen.decode()}")
        seen += line
    log = ROOT / "test-artifacts" / f"hotline-{'-'.join(args)}-{proc.pid}.log"
    log.parent.mkdir(exist_ok=True)
    log.write_bytes(seen)
    reader = asyncio.create_task(_drain(proc.stdout, log))
    _READERS.add(reader)
    reader.add_done_callback(_READERS.discard)
    return proc


async def _drain(stream: asyncio.StreamReader, log: Path) -> None:
    """The process's output goes on into test-artifacts/, for reading after a failure."""
    with log.open("ab") as out:
        while line := await stream.readline():
            out.write(line)
            out.flush()


@contextlib.asynccontextmanager
async def in_process(site: Settings, web: bool = False) -> AsyncIterator[Hotline]:
    """The FastAGI server and the bridge (and the web app) in the test's own event loop: the wiring
    `hotline serve` runs."""
    async with services(site, web=web, grace=5.0) as running:
        yield running.hotline
