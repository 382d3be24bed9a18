"""provision/receipt records unchangeable at the database level (R5)

UPDATE of a provision_records row is refused by a trigger on both engines, always. DELETE is
refused unless the row is older than the legal minimum (1,095 days, the floor the retention
loader enforces, R5), measured by the DATABASE's clock, not the application's: the retention
job (`outreach retention`, audited by its `retention.run` row) is the one path that deletes
them, and no misconfiguration, script or console can remove a younger one. PostgreSQL also
refuses TRUNCATE. Downgrade drops the triggers.

Revision ID: i13b_immutable_records
Revises: i13_records
"""

from __future__ import annotations

from alembic import op

revision = "i13b_immutable_records"
down_revision = "i13_records"
branch_labels = None
depends_on = None

MIN_DAYS = 1095  # keep in step with outreach.retention.periods MINIMUM["provision_records"]
_MSG = "provision_records are unchangeable (R5)"
_MSG_YOUNG = f"provision_records younger than {MIN_DAYS} days cannot be deleted (R5)"


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION provision_records_guard() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              IF TG_OP = 'DELETE' THEN
                IF OLD.at < now() - interval '{MIN_DAYS} days' THEN
                  RETURN OLD;
                END IF;
                RAISE EXCEPTION '{_MSG_YOUNG}' USING ERRCODE = 'integrity_constraint_violation';
              END IF;
              RAISE EXCEPTION '{_MSG}' USING ERRCODE = 'integrity_constraint_violation';
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER provision_records_immutable BEFORE UPDATE OR DELETE "
            "ON provision_records FOR EACH ROW EXECUTE FUNCTION provision_records_guard()"
        )
        op.execute(
            "CREATE TRIGGER provision_records_no_truncate BEFORE TRUNCATE "
            "ON provision_records FOR EACH STATEMENT EXECUTE FUNCTION provision_records_guard()"
        )
    else:
        op.execute(
            "CREATE TRIGGER provision_records_no_update BEFORE UPDATE ON provision_records "
            f"BEGIN SELECT RAISE(ABORT, '{_MSG}'); END"
        )
        # Stored as UTC 'YYYY-MM-DD HH:MM:SS[.ffffff]' (AwareDateTime): compares as text.
        op.execute(
            "CREATE TRIGGER provision_records_no_delete BEFORE DELETE ON provision_records "
            f"WHEN OLD.at >= datetime('now', '-{MIN_DAYS} days') "
            f"BEGIN SELECT RAISE(ABORT, '{_MSG_YOUNG}'); END"
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER provision_records_no_truncate ON provision_records")
        op.execute("DROP TRIGGER provision_records_immutable ON provision_records")
        op.execute("DROP FUNCTION provision_records_guard()")
    else:
        op.execute("DROP TRIGGER provision_records_no_delete")
        op.execute("DROP TRIGGER provision_records_no_update")
