"""each forwarding of a request (for the agencies' on-time figures), what is due now, the citizen's rating,
public answers

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("requests") as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("rating", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("public_question", sa.Text(), nullable=False, server_default=""))
        batch_op.create_index("ix_requests_agency_due_at", ["agency", "due_at"], unique=False)
        batch_op.create_index("ix_requests_created_at_status", ["created_at", "status"], unique=False)

    op.create_table(
        "request_assignments",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("request_id", ID, nullable=True),
        sa.Column("agency", sa.String(length=32), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("forwarded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accept_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answer_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end", sa.String(length=16), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("request_assignments") as batch_op:
        batch_op.create_index(
            "ix_request_assignments_forwarded_at",
            ["forwarded_at"],
            unique=False,
            postgresql_include=[
                "agency",
                "topic",
                "accept_due_at",
                "answer_due_at",
                "accepted_at",
                "answered_at",
                "ended_at",
                "end",
                "rating",
            ],
        )
        batch_op.create_index(batch_op.f("ix_request_assignments_request_id"), ["request_id"], unique=False)

    # Requests that exist already: what is due now, and their present forwarding.
    op.execute(
        "UPDATE requests SET due_at = CASE status WHEN 'forwarded' THEN accept_due_at "
        "WHEN 'accepted' THEN answer_due_at END"
    )
    op.execute(
        "INSERT INTO request_assignments (request_id, agency, topic, priority, forwarded_at, accept_due_at, "
        'answer_due_at, accepted_at, answered_at, ended_at, "end", rating) '
        "SELECT id, agency, topic, priority, forwarded_at, COALESCE(accept_due_at, forwarded_at), "
        "COALESCE(answer_due_at, forwarded_at), accepted_at, "
        "CASE WHEN status IN ('answered', 'closed') THEN answered_at END, "
        "CASE WHEN status = 'closed' THEN closed_at END, "
        "CASE WHEN status = 'closed' THEN 'approved' ELSE '' END, NULL "
        "FROM requests WHERE forwarded_at IS NOT NULL AND agency != ''"
    )


def downgrade() -> None:
    with op.batch_alter_table("request_assignments") as batch_op:
        batch_op.drop_index(batch_op.f("ix_request_assignments_request_id"))
        batch_op.drop_index("ix_request_assignments_forwarded_at")
    op.drop_table("request_assignments")
    with op.batch_alter_table("requests") as batch_op:
        batch_op.drop_index("ix_requests_created_at_status")
        batch_op.drop_index("ix_requests_agency_due_at")
        for column in ("public_question", "public", "rated_at", "rating", "due_at"):
            batch_op.drop_column(column)
