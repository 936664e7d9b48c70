"""Helpdesk one-time sign-in codes (issue 16 §3).

- ``helpdesk_codes``: at most one live code per person (unique ``person_id``), stored only as a
  hash (never the code), with its expiry on the database clock, who issued it and why
  (``pmdesk.core.helpdesk``). On a hardened PostgreSQL no login role reads or writes it: the
  server's functions issue, cancel and accept the codes.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "helpdesk_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("issued_by", sa.Integer(), nullable=True),
        sa.Column("issued_by_name", sa.String(length=255), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["personnel.id"],
            name="fk_helpdesk_codes_person_id_personnel",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["issued_by"],
            ["personnel.id"],
            name="fk_helpdesk_codes_issued_by_personnel",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_helpdesk_codes"),
        sa.UniqueConstraint("person_id", name="uq_helpdesk_codes_person_id"),
    )


def downgrade() -> None:
    op.drop_table("helpdesk_codes")
