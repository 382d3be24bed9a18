"""the dealer's day: print batches, call attempts, service events, worker heartbeats

Revision ID: i16_dayflow
Revises: i14_feedback
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i16_dayflow"
down_revision = "i14_feedback"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as b:
        b.add_column(sa.Column("phone_unreachable_at", TS, nullable=True))
    with op.batch_alter_table("outbox", schema=None) as b:
        b.add_column(sa.Column("print_batch", sa.String(length=32), nullable=True))
        b.add_column(sa.Column("printed_at", TS, nullable=True))
        b.add_column(sa.Column("printed_by", sa.String(length=64), nullable=True))
        b.create_index(b.f("ix_outbox_print_batch"), ["print_batch"], unique=False)
    op.create_table(
        "call_attempts",
        sa.Column("id", ID, nullable=False),
        sa.Column("outbox_id", ID, nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("on_date", sa.Date(), nullable=True),
        sa.Column("note", sa.String(length=400), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_call_attempts_outbox_id_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_attempts")),
    )
    with op.batch_alter_table("call_attempts", schema=None) as b:
        b.create_index(b.f("ix_call_attempts_outbox_id"), ["outbox_id"], unique=False)
        b.create_index(b.f("ix_call_attempts_customer_id"), ["customer_id"], unique=False)
    op.create_table(
        "service_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("service", sa.String(length=16), nullable=False),
        sa.Column("vehicle_id", ID, nullable=False),
        sa.Column("on_date", sa.Date(), nullable=False),
        sa.Column("next_expiry_on", sa.Date(), nullable=True),
        sa.Column("store_id", ID, nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name=op.f("fk_service_events_vehicle_id_vehicles")
        ),
        sa.ForeignKeyConstraint(
            ["store_id"], ["stores.id"], name=op.f("fk_service_events_store_id_stores")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_events")),
        sa.UniqueConstraint("external_id", name=op.f("uq_service_events_external_id")),
    )
    with op.batch_alter_table("service_events", schema=None) as b:
        b.create_index(b.f("ix_service_events_vehicle_id"), ["vehicle_id"], unique=False)
    op.create_table(
        "worker_heartbeats",
        sa.Column("worker_id", sa.String(length=100), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("beat_at", TS, nullable=False),
        sa.Column("claimed", sa.BigInteger(), nullable=False),
        sa.Column("in_process", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_worker_heartbeats")),
    )


def downgrade() -> None:
    op.drop_table("worker_heartbeats")
    with op.batch_alter_table("service_events", schema=None) as b:
        b.drop_index(b.f("ix_service_events_vehicle_id"))
    op.drop_table("service_events")
    with op.batch_alter_table("call_attempts", schema=None) as b:
        b.drop_index(b.f("ix_call_attempts_customer_id"))
        b.drop_index(b.f("ix_call_attempts_outbox_id"))
    op.drop_table("call_attempts")
    with op.batch_alter_table("outbox", schema=None) as b:
        b.drop_index(b.f("ix_outbox_print_batch"))
        b.drop_column("printed_by")
        b.drop_column("printed_at")
        b.drop_column("print_batch")
    with op.batch_alter_table("customers", schema=None) as b:
        b.drop_column("phone_unreachable_at")
