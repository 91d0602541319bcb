"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL: a column added to
a model without its migration (or the other way round) fails here, not on a site's first start."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, text

from hotline.db.engine import make_engine
from hotline.db.migrate import upgrade_async
from hotline.db.models import Base, compared

UPGRADE = "import sys; from hotline.db.migrate import upgrade; upgrade(sys.argv[1])"


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={"compare_type": False, "compare_server_default": False, "include_object": compared},
    )
    return list(compare_metadata(context, Base.metadata))


async def test_the_migrated_schema_is_the_models_schema(database: str) -> None:
    await upgrade_async(database)
    engine = make_engine(database)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await engine.dispose()
    assert differences == []


async def test_centers_started_together_upgrade_one_after_the_other(fresh_postgres_url: str) -> None:
    """Every center upgrades the schema as it starts (each its own process): three at once on an empty
    database all end at the head, the later finding the first's work done (without the schema lock, each
    creates the tables)."""
    upgrading = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", UPGRADE, fresh_postgres_url, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    said = await asyncio.wait_for(asyncio.gather(*(u.communicate() for u in upgrading)), 120)
    assert [u.returncode for u in upgrading] == [0, 0, 0], said
    engine = make_engine(fresh_postgres_url)
    try:
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
            versions = (await connection.execute(text("SELECT version_num FROM alembic_version"))).all()
    finally:
        await engine.dispose()
    assert len(versions) == 1
