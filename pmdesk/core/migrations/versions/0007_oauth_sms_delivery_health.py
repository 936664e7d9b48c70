"""Code delivery through Microsoft 365 / Google OAuth, Microsoft Graph and SMS providers, and
the outcome of the last delivery by each method.

- ``security_settings``: ``m365_tenant_id``, ``m365_client_id``, ``m365_auth`` (secret or
  certificate), ``m365_thumbprint``, ``google_client_email``, ``sms_account``, ``sms_sender``
  and ``phone_region`` (default BE). Secrets stay in each workstation's keyring.
- ``delivery_outcomes``: one row per delivery method: when it last sent, whether that worked,
  the step and sentence of a failure, failures in a row, the last success.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

UTC_DATETIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SETTINGS = (
    ("m365_tenant_id", 255, ""),
    ("m365_client_id", 64, ""),
    ("m365_auth", 16, "secret"),
    ("m365_thumbprint", 64, ""),
    ("google_client_email", 254, ""),
    ("sms_account", 64, ""),
    ("sms_sender", 32, ""),
    ("phone_region", 2, "BE"),
)


def upgrade() -> None:
    with op.batch_alter_table("security_settings") as batch:
        for name, length, default in _SETTINGS:
            batch.add_column(
                sa.Column(name, sa.String(length=length), nullable=False, server_default=default)
            )
    op.create_table(
        "delivery_outcomes",
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("last_at", UTC_DATETIME, nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column("failures_in_row", sa.Integer(), nullable=False),
        sa.Column("last_ok_at", UTC_DATETIME, nullable=True),
        sa.PrimaryKeyConstraint("method", name="pk_delivery_outcomes"),
    )


def downgrade() -> None:
    op.drop_table("delivery_outcomes")
    with op.batch_alter_table("security_settings") as batch:
        for name, _, _ in reversed(_SETTINGS):
            batch.drop_column(name)
