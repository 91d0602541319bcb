"""a published answer's public text, of its own

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("public_answer", sa.Text(), nullable=False, server_default=""))
    # What is public stays as it was: the answers published before were published as the agency wrote them.
    op.execute("UPDATE requests SET public_answer = answer WHERE public")


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("public_answer")
