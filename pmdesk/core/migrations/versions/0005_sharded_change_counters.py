"""MariaDB change counters split into shards, so the expiry sweep does not block logins.

With one counter row per table, every row the sweep deleted locked that row until the chunk
committed, and every other trusted-IP write waited behind the whole chunk. Each connection now
bumps the shard ``CONNECTION_ID() % 16``; watchers sum the shards.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WATCHED = ("trusted_ips", "personnel", "security_settings", "user_groups", "group_permissions")
SHARDS = 16
ACTIONS = ("insert", "update", "delete")


def _is_mariadb() -> bool:
    return op.get_bind().dialect.name in {"mysql", "mariadb"}


def _drop_triggers() -> None:
    for table in WATCHED:
        for action in ACTIONS:
            op.execute(f"DROP TRIGGER IF EXISTS pmdesk_count_{table}_{action}")


def _create_table(sharded: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("topic", sa.String(40), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
    ]
    key = ["topic"]
    if sharded:
        columns.insert(1, sa.Column("shard", sa.Integer(), nullable=False, server_default="0"))
        key.append("shard")
    op.create_table(
        "change_counters", *columns, sa.PrimaryKeyConstraint(*key, name="pk_change_counters")
    )


def upgrade() -> None:
    if _is_mariadb():
        _drop_triggers()
    op.drop_table("change_counters")
    _create_table(sharded=True)
    if not _is_mariadb():
        return
    counters = sa.table(
        "change_counters", sa.column("topic"), sa.column("shard"), sa.column("value")
    )
    op.bulk_insert(
        counters,
        [{"topic": t, "shard": n, "value": 0} for t in WATCHED for n in range(SHARDS)],
    )
    for table in WATCHED:
        for action in ACTIONS:
            op.execute(
                f"CREATE TRIGGER pmdesk_count_{table}_{action} AFTER {action.upper()} "
                f"ON {table} FOR EACH ROW UPDATE change_counters SET value = value + 1 "
                f"WHERE topic = '{table}' AND shard = CONNECTION_ID() % {SHARDS}"
            )


def downgrade() -> None:
    if _is_mariadb():
        _drop_triggers()
    op.drop_table("change_counters")
    _create_table(sharded=False)
    if not _is_mariadb():
        return
    for table in WATCHED:
        op.execute(f"INSERT INTO change_counters (topic, value) VALUES ('{table}', 0)")
        for action in ACTIONS:
            op.execute(
                f"CREATE TRIGGER pmdesk_count_{table}_{action} AFTER {action.upper()} "
                f"ON {table} FOR EACH ROW "
                f"UPDATE change_counters SET value = value + 1 WHERE topic = '{table}'"
            )
