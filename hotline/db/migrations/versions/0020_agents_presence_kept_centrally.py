"""agents' log-in and pause kept centrally, for several Asterisk nodes

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 03:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agent_presence",
        sa.Column("extension", sa.String(8), primary_key=True),
        sa.Column("queues", sa.String(512), nullable=False, server_default=""),
        sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("reason", sa.String(64), nullable=False, server_default=""),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("node", sa.String(32), nullable=False, server_default=""),
    )


def downgrade() -> None:
    op.drop_table("agent_presence")
