"""The "queued-callback" FastAGI route against a scripted Asterisk and a real SQLite database: the caller
takes the number read back, or keys in another when their caller ID is withheld or hostile; the callback
is written at the caller's place; a database that is locked, or arguments that are not a queue caller's,
leave the caller in the queue with nothing written."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from agi_scripts.queued_callback_app import queued_callback_route
from hotline.db.engine import make_engine, sessions
from hotline.db.models import QueuedCallback
from hotline.settings import Settings
from tests.agi_peer import environment, route_server, run_session, variables

JOINED_MS = 1_764_730_000_123


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[tuple[Settings, int]]:
    async with route_server(tmp_path, "queued-callback", queued_callback_route) as served:
        yield served


class Caller:
    """Asterisk's answers for a caller who presses `keys` in turn: one for each interruptible prompt or
    GET DATA, in order (None: lets it play, or says nothing)."""

    def __init__(self, keys: list[str | None]) -> None:
        self.keys = keys

    def __call__(self, command: str) -> str:
        if command.startswith("GET DATA"):
            key = self.keys.pop(0) if self.keys else None
            return f"200 result={key}" if key else "200 result= (timeout)"
        if command.startswith(("STREAM FILE", "SAY DIGITS")):
            interruptible = '"12"' in command
            key = self.keys.pop(0) if interruptible and self.keys else None
            return f"200 result={ord(key) if key else 0} endpos=8000"
        if command.startswith("GET VARIABLE HOTLINE_CASE_NO") or command == 'GET VARIABLE "HOTLINE_CASE_NO"':
            return "200 result=1 (12345678)"
        if command.startswith("GET VARIABLE"):
            return "200 result=1 (welfare)"
        if command.startswith("GET FULL VARIABLE"):
            return "200 result=1 (2)"
        return "200 result=1"


def env(caller_id: str, args: tuple[str, ...] = ("welfare", str(JOINED_MS), "1764730000.9", "3")) -> bytes:
    extra = {f"agi_arg_{i}": value for i, value in enumerate(args, start=1)}
    return environment("queued-callback", agi_callerid=caller_id, **extra)


async def callbacks(settings: Settings) -> list[QueuedCallback]:
    engine = make_engine(settings.database_url)
    try:
        async with sessions(engine)() as session:
            return list(await session.scalars(select(QueuedCallback).order_by(QueuedCallback.id)))
    finally:
        await engine.dispose()


async def test_the_caller_takes_the_number_read_back_and_keeps_their_place(
    server: tuple[Settings, int],
) -> None:
    settings, port = server
    # The key during the number read back counts: no need to wait for the question.
    done = await run_session("127.0.0.1", port, env("0966123456"), Caller([None, "1"]))
    said = variables(done.commands)
    assert said["HOTLINE_OUTCOME"] == "callback"
    (row,) = await callbacks(settings)
    assert (row.number, row.queue, row.linkedid, row.case_number, row.status) == (
        "0966123456",
        "welfare",
        "1764730000.9",
        "12345678",
        "waiting",
    )
    assert row.joined_at == datetime.fromtimestamp(JOINED_MS / 1000, UTC)
    assert said["HOTLINE_QCB"] == str(row.id)
    # 3rd in line, 2 agents, 3 min a call: 4.5 min, said as 5.
    assert any(c.startswith("SAY NUMBER 5 ") for c in done.commands)
    # The same number asking again is told it has one: still one row.
    again = await run_session("127.0.0.1", port, env("0966123456"), Caller(["1"]))
    assert any("qcb_already" in c for c in again.commands) and len(await callbacks(settings)) == 1


@pytest.mark.parametrize(
    "caller_id",
    ["", "anonymous", "0966" + "9" * 300, "0966\u00ad123456", "09661234\x0156"],
    ids=["withheld", "anonymous", "300 digits", "soft hyphen", "control character"],
)
async def test_a_caller_id_that_cannot_be_dialled_is_keyed_in_instead(
    server: tuple[Settings, int], caller_id: str
) -> None:
    settings, port = server
    # Key in a number, then take it when read back.
    done = await run_session("127.0.0.1", port, env(caller_id), Caller(["0977123456#", "1"]))
    assert variables(done.commands)["HOTLINE_OUTCOME"] == "callback"
    assert [r.number for r in await callbacks(settings)] == ["0977123456"]
    assert not any(caller_id and caller_id in c for c in done.commands if c.startswith("SAY DIGITS"))


async def test_no_confirmation_or_a_locked_database_leaves_the_caller_waiting(
    server: tuple[Settings, int],
) -> None:
    settings, port = server
    silent = await run_session("127.0.0.1", port, env("0966123456"), Caller([]))
    assert "HOTLINE_OUTCOME" not in variables(silent.commands)
    assert any("qcb_not_taken" in c for c in silent.commands)
    database = settings.database_url.removeprefix("sqlite+aiosqlite:///")
    holder = sqlite3.connect(database)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        locked = await run_session("127.0.0.1", port, env("0966123456"), Caller(["1"]))
    finally:
        holder.rollback()
        holder.close()
    assert "HOTLINE_OUTCOME" not in variables(locked.commands)
    assert any("qcb_not_taken" in c for c in locked.commands)
    assert await callbacks(settings) == []
    # Not from a queue's caller (no such queue, no join time): nothing asked, nothing written.
    for args in (
        ("nosuch", str(JOINED_MS), "x.1", ""),
        ("welfare", "", "x.2", ""),
        ("welfare", "12", "", ""),
    ):
        odd = await run_session("127.0.0.1", port, env("0966123456", args), Caller(["1"]))
        assert "HOTLINE_OUTCOME" not in variables(odd.commands)
    assert await callbacks(settings) == []
