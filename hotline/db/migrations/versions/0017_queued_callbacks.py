"""queued callbacks that keep the caller's place

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ACTIVE = "status IN ('waiting', 'connected')"


def upgrade() -> None:
    op.create_table(
        "queued_callbacks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("linkedid", sa.String(length=64), nullable=False),
        sa.Column("case_number", sa.String(length=32), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_result", sa.String(length=16), nullable=False),
        sa.Column("stand_in", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=32), nullable=False),
        sa.Column("recording", sa.String(length=512), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_queued_callbacks_linkedid", "queued_callbacks", ["linkedid"])
    op.create_index("ix_queued_callbacks_status_queue", "queued_callbacks", ["status", "queue"])
    op.create_index(
        "ux_queued_callbacks_active_number",
        "queued_callbacks",
        ["number"],
        unique=True,
        sqlite_where=sa.text(ACTIVE),
        postgresql_where=sa.text(ACTIVE),
    )


def downgrade() -> None:
    op.drop_table("queued_callbacks")
