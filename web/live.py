"""Pushes the live board to every open wallboard and agent desk over WebSocket: at most a few times a
second when things change, once a second otherwise (the clocks on screen tick from it). One JSON text is
built per push and sent to every supervisor; agents get their own slice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from aiohttp import web

from ami_bridge.live import LiveBoard
from web.auth import Principal
from web.stats import Today

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.2  # seconds between pushes while events pour in
TICK = 1.0


class Broadcaster:
    def __init__(self, board: LiveBoard, today: Today) -> None:
        self.board = board
        self.today = today
        self.clients: dict[web.WebSocketResponse, Principal] = {}
        self._changed = asyncio.Event()
        self._changed_at: float | None = None  # wall time of the oldest change not pushed yet
        self._task: asyncio.Task[None] | None = None
        self.pushes = 0
        self._unsubscribe = board.subscribe(self._on_change)

    def _on_change(self) -> None:
        if self._changed_at is None:
            self._changed_at = time.time()
        self._changed.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="wallboard-push")

    async def stop(self) -> None:
        self._unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for ws in list(self.clients):
            await ws.close(code=1001, message=b"server stopping")

    def payload(self) -> dict[str, Any]:
        self.board.refresh()
        snap = self.board.snapshot()
        snap["today"] = self.today.view()
        # When the change this push carries reached the bridge (screens measure their lag from it).
        snap["changed"] = self._changed_at is not None
        snap["changed_at"] = self._changed_at or time.time()
        snap["sent_at"] = time.time()
        return snap

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


def agent_slice(snap: dict[str, Any], who: Principal) -> dict[str, Any]:
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
