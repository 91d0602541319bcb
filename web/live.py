"""Pushes the live board to every open wallboard and agent desk over WebSocket: at most a few times a
second when things change, once a second otherwise (the clocks on screen tick from it). One JSON text is
built per push and sent to every supervisor; agents get their own slice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ami_bridge.live import BoardSnapshot, LiveBoard
from web.auth import Principal, still_valid
from web.stats import Today

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.2  # seconds between pushes while events pour in
TICK = 1.0
# Seconds between checks that each open screen's session or token still signs someone in: a user
# disabled, a password changed or a token revoked from the command line closes their screens this soon.
RECHECK = 2.0
SIGNED_OUT = 4401  # the close code a screen gets when its sign-in ended (it goes back to the sign-in page)


class PushedBoard(BoardSnapshot):
    """What a screen gets: the live board, today's figures per queue, and when the change happened."""

    today: dict[str, dict[str, Any]]
    asterisk: bool  # whether the bridge is connected to Asterisk now
    changed: bool
    changed_at: float
    sent_at: float


class Broadcaster:
    def __init__(
        self,
        board: LiveBoard,
        today: Today,
        db: async_sessionmaker[AsyncSession],
        asterisk: Callable[[], bool] = lambda: True,
    ) -> None:
        self.board = board
        self.asterisk = asterisk  # whether the bridge is connected to Asterisk now
        self.today = today
        self.db = db
        self.clients: dict[web.WebSocketResponse, Principal] = {}
        self._changed = asyncio.Event()
        self._changed_at: float | None = None  # wall time of the oldest change not pushed yet
        self._task: asyncio.Task[None] | None = None
        self._recheck: asyncio.Task[None] | None = None
        self.pushes = 0
        self._unsubscribe = board.subscribe(self._on_change)

    def _on_change(self) -> None:
        if self._changed_at is None:
            self._changed_at = time.time()
        self._changed.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="wallboard-push")
        self._recheck = asyncio.create_task(self._recheck_signins(), name="wallboard-recheck")

    async def stop(self) -> None:
        self._unsubscribe()
        for task in (self._task, self._recheck):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for ws in list(self.clients):
            await ws.close(code=1001, message=b"server stopping")

    def payload(self) -> PushedBoard:
        self.board.refresh()
        return {
            **self.board.snapshot(),
            "today": self.today.view(),
            # Without AMI the board shows nothing live: screens say so rather than show empty queues.
            "asterisk": self.asterisk(),
            # When the change this push carries reached the bridge (screens measure their lag from it).
            "changed": self._changed_at is not None,
            "changed_at": self._changed_at or time.time(),
            "sent_at": time.time(),
        }

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), TICK)
            self._changed.clear()
            if self.clients:
                try:
                    await self.push()
                except Exception:
                    log.exception("pushing the live board failed")
            self._changed_at = None
            await asyncio.sleep(MIN_INTERVAL)

    async def push(self) -> None:
        snap = self.payload()
        whole = json.dumps(snap, ensure_ascii=False)
        self.pushes += 1
        sends = []
        for ws, who in list(self.clients.items()):
            text = whole if who.can_supervise else json.dumps(agent_slice(snap, who), ensure_ascii=False)
            sends.append(self._send(ws, text))
        await asyncio.gather(*sends)

    async def close_signed_out(self, credentials: set[str]) -> int:
        """Close the screens of these sessions or tokens now (sign-out); returns how many."""
        gone = [ws for ws, who in self.clients.items() if who.credential in credentials]
        for ws in gone:
            self.clients.pop(ws, None)
            with contextlib.suppress(Exception):
                await ws.close(code=SIGNED_OUT, message=b"signed out")
        return len(gone)

    async def _recheck_signins(self) -> None:
        while True:
            await asyncio.sleep(RECHECK)
            held = {who.credential for who in self.clients.values()}
            if not held:
                continue
            try:
                ended = held - await still_valid(self.db, held)
            except Exception:  # the database away: screens stay until it answers again
                log.warning("could not re-check the open screens' sign-ins", exc_info=True)
                continue
            if ended:
                closed = await self.close_signed_out(ended)
                log.info("closed %d live screen(s) whose sign-in ended", closed)

    async def _send(self, ws: web.WebSocketResponse, text: str) -> None:
        try:
            await asyncio.wait_for(ws.send_str(text), 5)
        except (ConnectionError, TimeoutError, RuntimeError):
            # A screen that cannot keep up or went away is dropped; it reconnects and gets a fresh board.
            self.clients.pop(ws, None)
            with contextlib.suppress(Exception):
                await ws.close()

    async def serve(self, request: web.Request, who: Principal) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=20)
        await ws.prepare(request)
        snap = self.payload()
        await ws.send_str(
            json.dumps(snap if who.can_supervise else agent_slice(snap, who), ensure_ascii=False)
        )
        self.clients[ws] = who
        try:
            async for _ in ws:
                pass  # screens only listen; actions go through the JSON API with its CSRF check
        finally:
            self.clients.pop(ws, None)
        return ws


def agent_slice(snap: PushedBoard, who: Principal) -> dict[str, Any]:
    """An agent sees themselves, their call and how many wait in their queues; not the other agents."""
    me = next((a for a in snap["agents"] if a["extension"] == who.extension), None)
    mine = set(me["queues"]) if me else set()
    return {
        "at": snap["at"],
        "changed": snap["changed"],
        "changed_at": snap["changed_at"],
        "sent_at": snap["sent_at"],
        "me": me,
        "queues": [
            {
                "name": q["name"],
                "label": q["label"],
                "waiting": len(q["waiting"]),
                "longest_wait": q["longest_wait"],
            }
            for q in snap["queues"]
            if q["name"] in mine
        ],
    }
