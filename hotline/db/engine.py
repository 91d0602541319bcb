"""Engines and sessions. SQLite gets WAL and a busy timeout so the IVR's case numbers and the bridge's
case writes can share one file; PostgreSQL needs nothing special."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, NullPool

# No database call may hang: a PostgreSQL that accepts connections and never answers, or a lock held
# elsewhere, turns into an error after these, which the callers retry or work around.
CONNECT_SECONDS = 5
STATEMENT_SECONDS = 15
POOL_WAIT_SECONDS = 10


def make_engine(url: str, pooled: bool = True) -> AsyncEngine:
    """`pooled` False: every connection is opened for its user and closed after (the leases' own
    sessions, which must not hold the pool's connections for ever)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": CONNECT_SECONDS})
    else:
        # asyncpg spends one timeout on all the hosts of a multi-host URL (a standby and a primary, the
        # writer found by target_session_attrs): each gets its own share, so an unreachable first host
        # cannot use up the time of the one that answers.
        hosts = make_url(url).query.get("host", ())
        share = CONNECT_SECONDS * max(1, len(hosts) if isinstance(hosts, tuple) else 1)
        engine = create_async_engine(
            url,
            connect_args={"timeout": share, "command_timeout": STATEMENT_SECONDS},
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
