"""Office networks and the trust policy.

- ``office_networks``: named CIDR ranges ("Head office": 10.1.0.0/16) where an address may be
  trusted when the policy says so (``pmdesk.core.office_networks``).
- ``security_settings.trust_policy``: anywhere | office-networks | never. Every database this
  migration upgrades gets ``anywhere``, today's behaviour, so that nobody's sign-in changes
  silently on upgrade (with no office network yet, ``office-networks`` would stop every trust);
  the first run of a new database sets ``office-networks``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "office_networks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("name_key", sa.String(length=80), nullable=False),
        sa.Column("ranges", sa.String(length=2000), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_office_networks"),
        sa.UniqueConstraint("name_key", name="uq_office_networks_name_key"),
    )
    with op.batch_alter_table("security_settings") as batch:
        batch.add_column(
            sa.Column(
                "trust_policy", sa.String(length=16), nullable=False, server_default="anywhere"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("security_settings") as batch:
        batch.drop_column("trust_policy")
    op.drop_table("office_networks")
