"""SQL expressions that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Integer, cast, func


def epoch_seconds(column: Any, dialect: str) -> Any:
    """A timestamp column as whole seconds since 1970, for arithmetic the two databases agree on."""
    if dialect == "sqlite":
        return cast(func.strftime("%s", column), Integer)
    return cast(func.floor(func.extract("epoch", column)), BigInteger)
