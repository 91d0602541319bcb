"""Serving a kept sound (a call's recording, a voice message) to a signed-in user: only a file under the
site's recordings folder, and each playback written to the audit log under the case it belongs to."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from web.audit import playback
from web.context import ctx, who
from web.errors import not_found


async def play(request: web.Request, case_number: str, stored: str, missing: str) -> web.StreamResponse:
    """`stored`: the path the database keeps; `missing`: what the user is told when there is no such
    file (or a path outside the recordings folder, which a damaged or hostile row could hold)."""
    c = ctx(request)
    path = Path(stored) if stored else None
    root = c.settings.recordings_path.resolve()
    if path is None or not path.resolve().is_relative_to(root) or not path.is_file():
        raise not_found(missing)
    await playback(c, who(request), case_number, request.headers.get("Range", ""))
    return web.FileResponse(path, headers={"Content-Type": "audio/wav", "Cache-Control": "no-store"})
