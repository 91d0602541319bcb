"""a request is placed in a ward of the 2025 map: its code and how it was found; what the citizen said
stays in district

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("ward_code", sa.String(length=8), nullable=False, server_default=""))
        batch.add_column(sa.Column("ward_basis", sa.String(length=16), nullable=False, server_default=""))
        # Room for a picked ward with the old name it was found by.
        batch.alter_column("district", type_=sa.String(length=128), existing_type=sa.String(length=64))
    # A ward's requests of a period (the map, the figures by ward, the requests that may be one problem).
    op.create_index("ix_requests_ward_code_created_at", "requests", ["ward_code", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_requests_ward_code_created_at", table_name="requests")
    with op.batch_alter_table("requests") as batch:
        batch.alter_column("district", type_=sa.String(length=64), existing_type=sa.String(length=128))
        batch.drop_column("ward_basis")
        batch.drop_column("ward_code")
