"""No caller waits on a store: the IVR's case numbers are reserved ahead, so a SQLite locked by another
process or a PostgreSQL that stops answering (its connections stay open, nothing comes back) is not
heard on the line: callers still get a number at once while the reserve lasts, and one who would have to
wait for the database gives up on the number within 2 s."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from agi_scripts.case_desk import DatabaseCaseDesk
from hotline.db.engine import make_engine, sessions
from hotline.db.migrate import upgrade_async
from hotline.db.numbers import is_valid
from ivr.channel import CallInfo
from tests.helpers.faults import sqlite_locked


class FreezingProxy:
    """A TCP relay to PostgreSQL that can stop relaying while keeping every connection open: a server
    that accepts and never answers."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.frozen = asyncio.Event()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(self._relay(reader, up_writer), self._relay(up_reader, writer))

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                if self.frozen.is_set():
                    await asyncio.Event().wait()  # swallow it: the peer waits for ever
                writer.write(data)
                await writer.drain()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


def caller(i: int) -> CallInfo:
    return CallInfo(uniqueid=f"1700000000.{i}", linkedid=f"1700000000.{i}", caller=f"09{i:08d}", did="1022")


async def timed_numbers(desk: DatabaseCaseDesk, calls: range) -> list[tuple[float, str | None]]:
    results = []
    for i in calls:
        started = time.monotonic()
        try:
            number: str | None = await desk.reserve_case_number(caller(i))
        except TimeoutError:
            number = None
        results.append((time.monotonic() - started, number))
    return results


async def test_callers_get_numbers_at_once_while_sqlite_is_locked(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/cases.db"
    await upgrade_async(url)
    engine = make_engine(url)
    desk = DatabaseCaseDesk(sessions(engine), block_size=10)
    try:
        await desk.numbers.reserve()  # as the FastAGI server does when it starts
        with sqlite_locked(tmp_path / "cases.db", 8):
            results = await timed_numbers(desk, range(12))
    finally:
        await engine.dispose()
    numbers = [n for _, n in results]
    # Ten reserved numbers are handed out at once; the reserve for the next ones could not be taken
    # while the lock held: those callers give up on a number within 2 s instead of waiting 5.
    assert all(n is not None and is_valid(n) for n in numbers[:10]) and len(set(numbers[:10])) == 10
    assert max(seconds for seconds, _ in results[:10]) < 0.1
    assert numbers[10:] == [None, None] and all(seconds < 2 for seconds, _ in results[10:])


@pytest.mark.postgres
async def test_callers_get_numbers_at_once_while_postgresql_never_answers(fresh_postgres_url: str) -> None:
    await upgrade_async(fresh_postgres_url)
    parts = urlsplit(fresh_postgres_url)
    proxy = FreezingProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await proxy.start()
    via_proxy = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    engine = make_engine(via_proxy)
    desk = DatabaseCaseDesk(sessions(engine), block_size=10)
    try:
        await desk.numbers.reserve()
        proxy.frozen.set()
        results = await timed_numbers(desk, range(12))
        first = [n for _, n in results[:10]]
        assert all(n is not None and is_valid(n) for n in first) and len(set(first)) == 10
        assert max(seconds for seconds, _ in results[:10]) < 0.1
        assert [n for _, n in results[10:]] == [None, None]
        assert all(seconds < 2 for seconds, _ in results[10:])
        # The same caller asking again (back from a menu) keeps the number read to them.
        assert await desk.reserve_case_number(caller(3)) == first[3]
    finally:
        await proxy.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(engine.dispose(), 5)
