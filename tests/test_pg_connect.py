"""The connector for a primary with standbys (hotline/db/pg_connect.py) against the machine's PostgreSQL:
a first host that takes the connection and never answers costs its own timeout only, the host that
answers is then tried and remembered, and the engine made from such a URL works."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import make_url, text

from hotline.db import pg_connect
from hotline.db.engine import make_engine

pytestmark = pytest.mark.postgres


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A port that takes connections and never says a word (a server frozen, or a peer that is gone)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()


def url_with(first_port: int, postgres_url: str) -> str:
    real = make_url(postgres_url)
    return (
        f"postgresql+asyncpg://{real.username}@/{real.database}"
        f"?host=127.0.0.1:{first_port}&host={real.host}:{real.port or 5432}&target_session_attrs=read-write"
    )


def test_the_hosts_of_a_url() -> None:
    assert pg_connect.hosts_of(make_url("postgresql+asyncpg://u@/d?host=a:5433&host=b")) == [
        ("a", 5433),
        ("b", 5432),
    ]
    assert pg_connect.hosts_of(make_url("postgresql+asyncpg://u@h/d")) == []


async def test_a_silent_first_host_costs_its_own_timeout_and_the_writer_is_remembered(
    postgres_url: str,
) -> None:
    async with silent_server() as port:
        connect = pg_connect.creator(make_url(url_with(port, postgres_url)), 1.0, 5.0)
        started = time.monotonic()
        conn = await connect()
        first = time.monotonic() - started
        try:
            assert await conn.fetchval("SELECT NOT pg_is_in_recovery()")
            sock = conn._transport.get_extra_info("socket")  # the socket it watches
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 6000
            assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        finally:
            await conn.close()
        assert 0.9 < first < 4.0, first
        # The host that answered is tried first from now on.
        started = time.monotonic()
        conn = await connect()
        await conn.close()
        assert time.monotonic() - started < 0.9


async def test_an_engine_on_a_multi_host_url_reaches_the_writer(postgres_url: str) -> None:
    async with silent_server() as port:
        engine = make_engine(url_with(port, postgres_url))
        try:
            async with engine.begin() as conn:
                assert await conn.scalar(text("SELECT txid_current() > 0"))
                assert await conn.scalar(text("SELECT '{\"a\": 1}'::jsonb ->> 'a'")) == "1"
        finally:
            await engine.dispose()
