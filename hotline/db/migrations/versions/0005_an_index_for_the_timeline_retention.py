"""an index on case_events.at, for the nightly retention of timelines

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 00:10:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_case_events_at", "case_events", ["at"])


def downgrade() -> None:
    op.drop_index("ix_case_events_at", table_name="case_events")
