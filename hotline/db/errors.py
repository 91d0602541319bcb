"""Which database failures pass by themselves (retry the same write later) and which do not (the database
refuses these values: retrying them as they are would fail for ever and hold up everything behind them)."""

from __future__ import annotations

import asyncpg
from sqlalchemy import exc as sa

# The database is away, locked, restarting or too slow: the same write can succeed later.
_PASSING = (
    OSError,  # refused or cut connections, timeouts
    sa.OperationalError,  # SQLite "database is locked", PostgreSQL shutting down or starting
    sa.InterfaceError,
    sa.DisconnectionError,
    sa.TimeoutError,  # no connection free in the pool
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.InterfaceError,
    # No member of a primary and its standbys takes writes yet: a fail-over under way.
    asyncpg.TargetServerAttributeNotMatched,
)


def is_transient(exc: BaseException) -> bool:
    """True for a failure of the database that passes; False for a refusal of the values themselves (a
    value too long, a constraint, a character it cannot store, a value that could not even be sent) and
    for anything unforeseen, which is better parked than retried for ever in front of every other call."""
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.DataError | sa.IntegrityError | sa.ProgrammingError):
        return False
    return isinstance(exc, _PASSING)
