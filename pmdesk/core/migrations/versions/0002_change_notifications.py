"""Change notifications for live refresh across workstations.

PostgreSQL: statement triggers send ``NOTIFY pmdesk_changes, '<table>'``.
MariaDB: row triggers bump ``change_counters`` (polled cheaply by other workstations).
SQLite: nothing here; watchers compare ``PRAGMA data_version``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WATCHED = ("trusted_ips", "personnel", "security_settings", "user_groups", "group_permissions")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            """
            CREATE OR REPLACE FUNCTION pmdesk_notify_change() RETURNS trigger AS $$
            BEGIN
                PERFORM pg_notify('pmdesk_changes', TG_TABLE_NAME);
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for table in WATCHED:
            op.execute(
                f"CREATE TRIGGER pmdesk_notify_{table} AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION pmdesk_notify_change()"
            )
    elif dialect in {"mysql", "mariadb"}:
        for table in WATCHED:
            op.execute(f"INSERT INTO change_counters (topic, value) VALUES ('{table}', 0)")
            for action in ("INSERT", "UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER pmdesk_count_{table}_{action.lower()} AFTER {action} "
                    f"ON {table} FOR EACH ROW "
                    f"UPDATE change_counters SET value = value + 1 WHERE topic = '{table}'"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS pmdesk_notify_{table} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS pmdesk_notify_change()")
    elif dialect in {"mysql", "mariadb"}:
        for table in WATCHED:
            for action in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS pmdesk_count_{table}_{action}")
        op.execute("DELETE FROM change_counters")
