"""records the law asks for: acquisition source, incident register

Revision ID: i13_records
Revises: i12_form_submissions
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i13_records"
down_revision = "i12_form_submissions"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("acquisition_source", sa.String(length=32), nullable=True))
    op.create_table(
        "incidents",
        sa.Column("id", _ID, nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("discovered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("classes", sa.JSON(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("affected_count", sa.Integer(), nullable=False),
        sa.Column("reportable", sa.Boolean(), nullable=False),
        sa.Column("preliminary_due_on", sa.Date(), nullable=True),
        sa.Column("final_due_on", sa.Date(), nullable=True),
        sa.Column("preliminary_reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("final_reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_table(
        "incident_subjects",
        sa.Column("id", _ID, nullable=False),
        sa.Column("incident_id", _ID, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_via", sa.String(length=32), nullable=True),
        sa.Column("notice_ref", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_incident_subjects_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incident_subjects")),
        sa.UniqueConstraint(
            "incident_id", "customer_id", name=op.f("uq_incident_subjects_incident_id")
        ),
    )
    with op.batch_alter_table("incident_subjects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_incident_subjects_incident_id"), ["incident_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_incident_subjects_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("incident_subjects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_incident_subjects_customer_id"))
        batch_op.drop_index(batch_op.f("ix_incident_subjects_incident_id"))
    op.drop_table("incident_subjects")
    op.drop_table("incidents")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("acquisition_source")
