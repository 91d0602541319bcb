"""the channel a request came by (call, center, web, e-mail, SMS, a chat, Open311), on the request itself so
the center's list filters on it

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.add_column(sa.Column("channel", sa.String(length=16), nullable=False, server_default=""))
    # The first contact is the one that opened it.
    op.execute(
        "UPDATE requests SET channel = COALESCE((SELECT c.channel FROM request_contacts c "
        "WHERE c.request_id = requests.id ORDER BY c.id LIMIT 1), '')"
    )


def downgrade() -> None:
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("channel")
