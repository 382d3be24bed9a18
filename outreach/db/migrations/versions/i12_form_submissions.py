"""one-time console form tokens

Revision ID: i12_form_submissions
Revises: i16_dayflow
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i12_form_submissions"
down_revision = "i16_dayflow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "form_submissions",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("result_url", sa.String(length=300), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_form_submissions")),
    )
    op.create_index(op.f("ix_form_submissions_at"), "form_submissions", ["at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_form_submissions_at"), table_name="form_submissions")
    op.drop_table("form_submissions")
