"""a supervisor's phone PIN for the emergency switches

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 08:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("phone_pin_hash", sa.String(length=255), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("phone_pin_hash")
