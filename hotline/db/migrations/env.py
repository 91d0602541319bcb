"""Alembic environment: runs migrations over the project's async engine (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.db.engine import make_engine
from hotline.db.leases import lock_key
from hotline.db.models import Base, compared

config = context.config
SCHEMA_LOCK_WAIT = 3600  # an upgrade that rebuilds indexes on millions of rows takes minutes


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
        include_object=compared,
    )
    with context.begin_transaction():
        context.run_migrations()


@contextlib.asynccontextmanager
async def _schema_lock(engine: AsyncEngine) -> AsyncIterator[None]:
    """Centers started together upgrade one at a time: the next finds the schema current. The lock is held
    by a connection of its own that stays out of any transaction, because CREATE INDEX CONCURRENTLY waits
    for every transaction that began before it, and a center waiting for the lock must not be one (it asks
    again every half second rather than waiting inside a statement)."""
    async with engine.connect() as holder:
        holder = await holder.execution_options(isolation_level="AUTOCOMMIT")
        key = {"key": lock_key("schema")}
        give_up = time.monotonic() + SCHEMA_LOCK_WAIT
        while not await holder.scalar(text("SELECT pg_try_advisory_lock(:key)"), key):
            if time.monotonic() > give_up:
                raise SystemExit(f"another upgrade of this database has held it for {SCHEMA_LOCK_WAIT} s")
            await asyncio.sleep(0.5)
        yield  # closing the connection lets the lock go


async def _main() -> None:
    # No limit on a statement: rewriting or indexing millions of rows takes longer than any query may.
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "", pooled=False, statement_seconds=None)
    async with contextlib.AsyncExitStack() as held:
        if engine.dialect.name == "postgresql":
            await held.enter_async_context(_schema_lock(engine))
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run 'hotline db upgrade' against the database")
asyncio.run(_main())
