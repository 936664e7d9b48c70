"""Undo for removed trusted addresses (issue 16 §2, the "Needs review" list).

- ``trusted_ip_removals``: what a person removed from the trusted-address list in the last
  minute, row for row (the address's id, person, address, created_at, last_used_at), so that
  Undo can put back exactly those rows and nothing else: never a new address, never a longer
  trust period. Rows older than the undo window are purged by the next removal or restore.
  On a server-enforced PostgreSQL only the server writes it (a trigger on ``trusted_ips``), and
  the workstation role may neither read nor write it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trusted_ip_removals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trusted_ip_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=45), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("last_used_at", UTC_DATETIME, nullable=True),
        sa.Column("removed_by", sa.Integer(), nullable=False),
        sa.Column("removed_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_trusted_ip_removals"),
    )
    op.create_index(
        "ix_trusted_ip_removals_by_at", "trusted_ip_removals", ["removed_by", "removed_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_trusted_ip_removals_by_at", table_name="trusted_ip_removals")
    op.drop_table("trusted_ip_removals")
