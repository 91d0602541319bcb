"""an erased request says so: its follow link and page open nothing

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    # Requests erased before carry the mark the erasure left on their contact.
    op.execute("UPDATE requests SET erased_at = created_at WHERE contact_phone = 'erased'")


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("erased_at")
