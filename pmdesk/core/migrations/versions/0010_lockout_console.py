"""The lockout console: thresholds as settings, failures counted per (person, address).

- ``security_settings.lock_after_failures`` (3–100, default 10), ``first_lock_minutes`` (1–60,
  default 1) and ``max_lock_minutes`` (first..1440, default 15): the lockout's numbers, kept
  within bounds by CHECK constraints on every engine as well as by the core.
- ``login_failures``: one row per (person, address) with that address's failures and lock
  (``pmdesk.core.lockout``). The unknown address is the empty string, one row like any other.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS = {
    "lock_after_failures_range": "lock_after_failures BETWEEN 3 AND 100",
    "first_lock_minutes_range": "first_lock_minutes BETWEEN 1 AND 60",
    "max_lock_minutes_range": "max_lock_minutes BETWEEN first_lock_minutes AND 1440",
}


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("lock_count", sa.Integer(), nullable=False),
        sa.Column("locked_until", UTC_DATETIME, nullable=True),
        sa.Column("last_failed_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["personnel.id"],
            name="fk_login_failures_person_id_personnel",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_login_failures"),
        sa.UniqueConstraint("person_id", "address", name="uq_login_failures_person_id"),
    )
    op.create_index("ix_login_failures_locked_until", "login_failures", ["locked_until"])
    with op.batch_alter_table("security_settings") as batch:
        batch.add_column(
            sa.Column("lock_after_failures", sa.Integer(), nullable=False, server_default="10")
        )
        batch.add_column(
            sa.Column("first_lock_minutes", sa.Integer(), nullable=False, server_default="1")
        )
        batch.add_column(
            sa.Column("max_lock_minutes", sa.Integer(), nullable=False, server_default="15")
        )
        for name, condition in CHECKS.items():
            batch.create_check_constraint(op.f(f"ck_security_settings_{name}"), condition)


def downgrade() -> None:
    with op.batch_alter_table("security_settings") as batch:
        for name in CHECKS:
            batch.drop_constraint(op.f(f"ck_security_settings_{name}"), type_="check")
        batch.drop_column("max_lock_minutes")
        batch.drop_column("first_lock_minutes")
        batch.drop_column("lock_after_failures")
    op.drop_index("ix_login_failures_locked_until", table_name="login_failures")
    op.drop_table("login_failures")
