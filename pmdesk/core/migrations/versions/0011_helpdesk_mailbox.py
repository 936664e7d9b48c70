"""The helpdesk mailbox that receives trust alerts (issue 16 §4).

- ``security_settings.helpdesk_mailbox``: one e-mail address (empty: none) that receives a copy
  of every alert sent when an address outside the office networks is trusted
  (``pmdesk.core.trust_alerts``).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("security_settings") as batch:
        batch.add_column(
            sa.Column("helpdesk_mailbox", sa.String(length=254), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("security_settings") as batch:
        batch.drop_column("helpdesk_mailbox")
