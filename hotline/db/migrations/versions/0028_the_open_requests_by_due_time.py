"""the center's request list at a province's scale: a partial index on the open requests by due time (the
default list, the overdue, those due soon) and an index on the channel a request came by

Built CONCURRENTLY on PostgreSQL, outside the migration's transaction, so calls and requests keep being
written while they are built.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-04 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

# As hotline.db.models.OPEN_SQL says it: the queries say it the same way, or the index would not serve them.
OPEN = "status IN ('received', 'forwarded', 'accepted', 'answered')"
INDEXES = (
    ("ix_requests_open_due_at", ["due_at", "created_at"], OPEN),
    ("ix_requests_channel_created_at", ["channel", "created_at"], None),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for name, columns, where in INDEXES:
            op.create_index(name, "requests", columns, sqlite_where=sa.text(where) if where else None)
        return
    with op.get_context().autocommit_block():
        for name, columns, where in INDEXES:
            # A build cut short (a killed upgrade) leaves an invalid index behind.
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            op.create_index(
                name,
                "requests",
                columns,
                postgresql_where=sa.text(where) if where else None,
                postgresql_concurrently=True,
            )


def downgrade() -> None:
    for name, _, _ in INDEXES:
        op.drop_index(name, table_name="requests")
