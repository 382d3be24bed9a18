"""one liveness record per worker: `worker_heartbeats`

Workers sharing the relay's budgets used to mark themselves alive in `send_budgets` rows
named `worker:<id>`, beside the `worker_heartbeats` row the console reads. Both now use
`worker_heartbeats`; the old rows (left only by workers that did not stop cleanly) go.
Downgrade puts nothing back: a worker of the older code writes its row again at its next claim.

Revision ID: i18b_one_liveness
Revises: i13b_immutable_records
"""

from __future__ import annotations

from alembic import op

revision = "i18b_one_liveness"
down_revision = "i13b_immutable_records"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM send_budgets WHERE name LIKE 'worker:%'")


def downgrade() -> None:
    """Irreversible: the deleted rows were stale liveness marks; an older worker writes its
    row again at its next claim."""
