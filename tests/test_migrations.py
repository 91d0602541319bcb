"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL: a column added to
a model without its migration (or the other way round) fails here, not on a site's first start."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection

from hotline.db.engine import make_engine
from hotline.db.migrate import upgrade_async
from hotline.db.models import Base


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": False, "compare_server_default": False}
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
