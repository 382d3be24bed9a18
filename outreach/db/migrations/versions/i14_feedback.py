"""i14: sign-up requests (double opt-in), feedback reports (DSN, ARF, DMARC), DMARC rows

Revision ID: i14_feedback
Revises: i11_login_throttle
Create Date: 2026-12-01 22:18:16.665962
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i14_feedback"
down_revision = "i11_login_throttle"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "feedback_reports",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("original_message_id", sa.String(length=300), nullable=True),
        sa.Column("stream", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("feedback_type", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.String(length=400), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_reports")),
        sa.UniqueConstraint("key", name=op.f("uq_feedback_reports_key")),
    )
    with op.batch_alter_table("feedback_reports", schema=None) as batch_op:
        batch_op.create_index("ix_feedback_reports_kind_day", ["kind", "day"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_feedback_reports_outbox_id"), ["outbox_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_feedback_reports_recipient"), ["recipient"], unique=False
        )

    op.create_table(
        "signup_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("purposes", sa.JSON(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("form_version", sa.String(length=32), nullable=False),
        sa.Column("form_text", sa.Text(), nullable=False),
        sa.Column("form_hash", sa.String(length=64), nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=400), nullable=True),
        sa.Column("staff_user", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirm_addr", sa.String(length=64), nullable=True),
        sa.Column("sent", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signup_requests")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_signup_requests_token_hash")),
    )
    with op.batch_alter_table("signup_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signup_requests_email"), ["email"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_signup_requests_remote_addr"), ["remote_addr"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_signup_requests_requested_at"), ["requested_at"], unique=False
        )

    op.create_table(
        "dmarc_rows",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "report_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("org_name", sa.String(length=200), nullable=False),
        sa.Column("domain", sa.String(length=254), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source_ip", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("disposition", sa.String(length=16), nullable=False),
        sa.Column("dkim", sa.String(length=8), nullable=False),
        sa.Column("spf", sa.String(length=8), nullable=False),
        sa.Column("header_from", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["feedback_reports.id"],
            name=op.f("fk_dmarc_rows_report_id_feedback_reports"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dmarc_rows")),
    )
    with op.batch_alter_table("dmarc_rows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dmarc_rows_day"), ["day"], unique=False)
        batch_op.create_index(batch_op.f("ix_dmarc_rows_report_id"), ["report_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("dmarc_rows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dmarc_rows_report_id"))
        batch_op.drop_index(batch_op.f("ix_dmarc_rows_day"))

    op.drop_table("dmarc_rows")
    with op.batch_alter_table("signup_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signup_requests_requested_at"))
        batch_op.drop_index(batch_op.f("ix_signup_requests_remote_addr"))
        batch_op.drop_index(batch_op.f("ix_signup_requests_email"))

    op.drop_table("signup_requests")
    with op.batch_alter_table("feedback_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_reports_recipient"))
        batch_op.drop_index(batch_op.f("ix_feedback_reports_outbox_id"))
        batch_op.drop_index("ix_feedback_reports_kind_day")

    op.drop_table("feedback_reports")
