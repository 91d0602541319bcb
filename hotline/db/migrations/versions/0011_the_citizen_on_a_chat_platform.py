"""the citizen on a chat platform (Zalo, Facebook)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch_op:
        batch_op.add_column(
            sa.Column("contact_chat", sa.String(length=128), nullable=False, server_default="")
        )
        batch_op.create_index("ix_requests_contact_chat", ["contact_chat"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch_op:
        batch_op.drop_index("ix_requests_contact_chat")
        batch_op.drop_column("contact_chat")
