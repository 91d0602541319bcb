"""a trigram index (pg_trgm) for the request list's search by words, on PostgreSQL

The list searches the citizen's words, name, address and place with ILIKE '%...%', which no B-tree serves.
pg_trgm's GIN index does, for any words of three letters or more. pg_trgm is a trusted extension (PostgreSQL
13 and later): the database's owner may create it without being a superuser. Where the role may not, the
upgrade goes on without the index, says what a database administrator can run, and the search stays a scan
of the days asked for (a year at most).

The index is built CONCURRENTLY, outside the migration's transaction, so calls and requests keep being
written while it is built (at 5 M requests this takes minutes: docs/benchmarks.md).

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-04 13:30:00
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy.exc import DBAPIError

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
INDEX = "ix_requests_searched_trgm"
# As hotline.db.models.searched_text writes it, so the planner matches the query to the index: the columns
# apart by line breaks, which no search holds.
EXPRESSION = "(words || E'\\n' || contact_name || E'\\n' || address || E'\\n' || district)"
EXTENSION = "CREATE EXTENSION IF NOT EXISTS pg_trgm"
CREATE = f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON requests USING gin ({EXPRESSION} gin_trgm_ops)"
ANALYZE = "ANALYZE requests"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        try:
            op.execute(EXTENSION)
        except DBAPIError as error:
            log.warning(
                "the request list's search by words stays a bounded scan: this role may not create the "
                "pg_trgm extension (%s). A database administrator can run, in this database: %s; %s; %s",
                str(error.orig).splitlines()[0][:200],
                EXTENSION,
                CREATE,
                ANALYZE,
            )
            return
        # A build cut short (a killed upgrade) leaves an invalid index that IF NOT EXISTS would keep.
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
        op.execute(CREATE)
        # The expression's statistics, which only ANALYZE gathers: without them the planner takes the
        # index for a common word too (one request in twenty) and reads them all, where walking
        # the newest first stops at the page (measured at 5 M requests: 10 s against 0.3 s).
        op.execute(ANALYZE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
