"""How long the shared event loop stalls. `hotline serve` runs the IVR, the AMI bridge and the web app on one
loop: anything that holds it holds every caller's next prompt, and Asterisk drops an AMI client that does
not read for 500 ms. A task that asks to sleep a short while measures how late it is woken."""

from __future__ import annotations

import asyncio
import contextlib
import logging

log = logging.getLogger(__name__)

LONG_STALL = 0.1  # seconds: a stall this long is logged and counted


class LoopWatch:
    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.worst = 0.0  # the longest stall seen, in seconds
        self.long_stalls = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="loop-watch")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def reset(self) -> None:
        self.worst, self.long_stalls = 0.0, 0

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time()
            await asyncio.sleep(self.interval)
            late = loop.time() - asked - self.interval
            if late > self.worst:
                self.worst = late
            if late >= LONG_STALL:
                self.long_stalls += 1
                log.warning(
                    "the event loop stalled for %.0f ms (calls and the AMI wait meanwhile)", late * 1000
                )


# The process's own watch: started by `hotline serve`, read by /metrics.
WATCH = LoopWatch()
