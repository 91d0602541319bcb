"""wrong tries, form limits and answered questions kept in the database, shared by every center

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 06:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "throttle_marks",
        sa.Column("scope", sa.String(16), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_until", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_throttle_marks_last_at", "throttle_marks", ["last_at"])
    op.create_table(
        "rate_marks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_rate_marks_scope_key_at", "rate_marks", ["scope", "key", "at"])
    op.create_index("ix_rate_marks_at", "rate_marks", ["at"])
    op.create_table(
        "used_challenges",
        sa.Column("nonce", sa.String(32), primary_key=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_used_challenges_until", "used_challenges", ["until"])


def downgrade() -> None:
    op.drop_table("used_challenges")
    op.drop_table("rate_marks")
    op.drop_table("throttle_marks")
