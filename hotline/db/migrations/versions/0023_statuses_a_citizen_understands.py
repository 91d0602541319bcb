"""statuses a citizen understands: the answer's outcome (fixed, or it cannot be done), who returned a
request as not theirs, and the request a duplicate was merged into

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("outcome", sa.String(length=16), nullable=False, server_default=""))
        batch.add_column(sa.Column("returned_by", sa.String(length=32), nullable=False, server_default=""))
        batch.add_column(sa.Column("merged_into", sa.String(length=16), nullable=False, server_default=""))
    op.create_index("ix_requests_merged_into", "requests", ["merged_into"])
    # Answers given before said nothing else: they were taken as fixed.
    op.execute("UPDATE requests SET outcome = 'fixed' WHERE answered_at IS NOT NULL")


def downgrade() -> None:
    op.drop_index("ix_requests_merged_into", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("merged_into")
        batch.drop_column("returned_by")
        batch.drop_column("outcome")
