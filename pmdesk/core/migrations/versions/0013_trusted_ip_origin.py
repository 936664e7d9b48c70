"""Who trusted an address, and on which workstation.

``trusted_ips.trusted_by`` (a login) and ``trusted_ips.trusted_on`` (a workstation name), so
that a sign-in without a code can say why: "trusted address #812, created 3 May 2026 by alice on
WS-07". Rows trusted before this migration have neither; the sign-in then names the row and its
date only.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# The removals an Undo puts back (0012) keep them too.
TABLES = ("trusted_ips", "trusted_ip_removals")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("trusted_by", sa.String(length=64), nullable=True))
            batch.add_column(sa.Column("trusted_on", sa.String(length=255), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("trusted_on")
            batch.drop_column("trusted_by")
