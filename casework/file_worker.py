"""Citizens' files are checked and photos decoded in a worker process of their own, one file at a time,
with a ceiling on its memory and a time limit per file: a hostile file (a few kB that decode to a huge
image, a decoder stuck in a loop) can at worst kill that worker, never the process that also answers
calls, and never slows the IVR with a decode. A worker that dies is replaced for the next file."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from casework.attachments import CheckedFile, FileRefused, check, display_name

log = logging.getLogger(__name__)
# The worker's address space: the largest photo taken decodes in well under this (docs/benchmarks.md).
WORKER_MEMORY = 1024 * 1024 * 1024
WORKER_NICENESS = 15
SECONDS_PER_FILE = 30.0


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
    # Behind the calls: on a busy machine the IVR and the bridge get the CPU first, a photo waits.
    os.nice(WORKER_NICENESS)


class FileWorker:
    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        # One file at a time (so that a stuck file's time limit never ends another's check); the queue is
        # the callers' own, each bounded in files and bytes. A lock belongs to one event loop.
        self._turn = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def check(self, name: str, data: bytes) -> CheckedFile:
        """`attachments.check` in the worker: the file made safe to keep, or FileRefused with the reason."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._turn = loop, asyncio.Lock()
        async with self._turn:
            pool = self._started()
            try:
                future = loop.run_in_executor(pool, check, name, data)
                return await asyncio.wait_for(future, SECONDS_PER_FILE)
            except FileRefused:
                raise
            except TimeoutError:
                log.warning("a file took over %.0f s to check: its worker is stopped", SECONDS_PER_FILE)
                self._stop(kill=True)
            except (BrokenProcessPool, MemoryError) as exc:
                log.warning("a file could not be checked (%s): its worker is replaced", type(exc).__name__)
                self._stop(kill=True)
            except Exception:  # a defect the file found in a decoder: that file is refused, no one else's
                log.exception("a file could not be checked")
            raise FileRefused(f"{display_name(name)}: the file could not be read")

    def close(self) -> None:
        self._stop(kill=False)

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn: a fork would copy this process's threads, locks and event loop into the worker.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(1, mp_context=context, initializer=_limit_memory)
        return self._pool

    def _stop(self, kill: bool) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if kill:
            # The executor has no public way to end a worker mid-task (3.14 adds one).
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
        pool.shutdown(wait=not kill, cancel_futures=True)


WORKER = FileWorker()  # the process's one: started on the first file, stopped by `hotline serve`'s end


async def check_file(name: str, data: bytes) -> CheckedFile:
    return await WORKER.check(name, data)
