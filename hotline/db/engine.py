"""Engines and sessions. SQLite gets WAL and a busy timeout so the IVR's case numbers and the bridge's
case writes can share one file; PostgreSQL as a primary with standbys (a multi-host URL) gets the
connector of hotline/db/pg_connect.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

from hotline.db import pg_connect

# No database call may hang: a PostgreSQL that accepts connections and never answers, or a lock held
# elsewhere, turns into an error after these, which the callers retry or work around.
CONNECT_SECONDS = 5
STATEMENT_SECONDS = 15
POOL_WAIT_SECONDS = 10


def make_engine(
    url: str, pooled: bool = True, statement_seconds: float | None = STATEMENT_SECONDS
) -> AsyncEngine:
    """`pooled` False: every connection is opened for its user and closed after (the leases' own
    sessions, which must not hold the pool's connections for ever). `statement_seconds` None: no limit
    on a statement (schema changes, which at a province's millions of rows take minutes)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": CONNECT_SECONDS})
    else:
        parsed = make_url(url)
        # A multi-host URL (a primary and standbys): our own connector, which gives each host its own
        # timeout and watches for a member that vanishes (hotline/db/pg_connect.py).
        several = bool(pg_connect.hosts_of(parsed))
        engine = create_async_engine(
            url,
            connect_args={"timeout": CONNECT_SECONDS, "command_timeout": statement_seconds},
            **(
                {"async_creator": pg_connect.creator(parsed, CONNECT_SECONDS, statement_seconds)}
                if several
                else {}
            ),
            **(
                {"pool_pre_ping": True, "pool_timeout": POOL_WAIT_SECONDS}
                if pooled
                else {"poolclass": NullPool}
            ),
        )
    if url.startswith("sqlite"):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(conn: DBAPIConnection, _: ConnectionPoolEntry) -> None:
            cursor = conn.cursor()
            for pragma in (
                "journal_mode=WAL",
                f"busy_timeout={CONNECT_SECONDS * 1000}",
                "foreign_keys=ON",
                "synchronous=NORMAL",
            ):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

    return engine


def sessions(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)
