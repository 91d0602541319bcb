"""the worklist of missed calls

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "missed_calls",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("caller", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("first_case_id", BigId, sa.ForeignKey("cases.id", ondelete="SET NULL"), nullable=True),
        sa.Column("last_case_id", BigId, sa.ForeignKey("cases.id", ondelete="SET NULL"), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("voicemail_case_id", BigId, sa.ForeignKey("cases.id", ondelete="SET NULL"), nullable=True),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("last_result", sa.String(length=16), nullable=False),
        sa.Column("last_try_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "ux_missed_calls_open_caller",
        "missed_calls",
        ["caller"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_missed_calls_status_last_at", "missed_calls", ["status", "last_at"])
    op.create_table(
        "missed_call_cases",
        sa.Column("case_id", BigId, sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
        sa.Column(
            "missed_call_id", BigId, sa.ForeignKey("missed_calls.id", ondelete="CASCADE"), nullable=False
        ),
    )
    op.create_index("ix_missed_call_cases_missed_call_id", "missed_call_cases", ["missed_call_id"])
    op.create_table(
        "missed_call_tries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(
            "missed_call_id", BigId, sa.ForeignKey("missed_calls.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("recording", sa.String(length=512), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
    )
    op.create_index("ix_missed_call_tries_missed_call_id", "missed_call_tries", ["missed_call_id"])


def downgrade() -> None:
    op.drop_table("missed_call_tries")
    op.drop_table("missed_call_cases")
    op.drop_table("missed_calls")
