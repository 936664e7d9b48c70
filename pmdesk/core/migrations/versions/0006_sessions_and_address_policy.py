"""Signed-in sessions (desktop and command line), their length, addresses never trusted, and
retired security codes.

- ``user_sessions``: one row per signed-in desktop app or command-line session. Only a hash of
  the session token is kept; the token itself lives in the app's memory or the OS keyring.
- ``security_settings.session_hours``: how long a command-line session lasts (default 8).
- ``security_settings.never_trusted_addresses``: proxy or pooler addresses that are never
  trusted, comma- or space-separated.
- ``login_challenges.retired_at``: set when a newer sign-in replaces a waiting code, so that an
  old login attempt can never be renewed.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=True),
        sa.Column("workstation", sa.String(length=255), nullable=False),
        sa.Column("os_user", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("last_used_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["personnel.id"],
            name="fk_user_sessions_person_id_personnel",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_user_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_user_sessions_token_hash"),
    )
    with op.batch_alter_table("user_sessions") as batch:
        batch.create_index("ix_user_sessions_person", ["person_id", "last_used_at"])
        batch.create_index("ix_user_sessions_expires", ["expires_at"])
    with op.batch_alter_table("security_settings") as batch:
        batch.add_column(
            sa.Column("session_hours", sa.Integer(), nullable=False, server_default="8")
        )
        batch.add_column(
            sa.Column(
                "never_trusted_addresses",
                sa.String(length=1000),
                nullable=False,
                server_default="",
            )
        )
    with op.batch_alter_table("login_challenges") as batch:
        batch.add_column(sa.Column("retired_at", UTC_DATETIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("login_challenges") as batch:
        batch.drop_column("retired_at")
    with op.batch_alter_table("security_settings") as batch:
        batch.drop_column("never_trusted_addresses")
        batch.drop_column("session_hours")
    # Its indexes go with it (MariaDB refuses to drop the one its foreign key uses).
    op.drop_table("user_sessions")
