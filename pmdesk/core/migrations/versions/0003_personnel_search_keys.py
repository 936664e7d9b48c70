"""Lower-cased search keys on personnel, indexed for search-as-you-type over 100,000 people.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEYS = (("last_name_key", "last_name", 100), ("first_name_key", "first_name", 100),
        ("number_key", "number", 40), ("email_key", "email", 254))


def _key_type(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("personnel") as batch:
        for key, _source, length in KEYS:
            batch.add_column(sa.Column(key, _key_type(length), nullable=False, server_default=""))
        batch.alter_column("login_key", type_=_key_type(64), existing_nullable=True)
    # Python's lower() (not SQL's, which is ASCII-only on SQLite) so keys match typed terms.
    bind = op.get_bind()
    people = sa.table(
        "personnel", sa.column("id", sa.Integer), *(sa.column(src, sa.String) for _, src, _ in KEYS),
        *(sa.column(key, sa.String) for key, _, _ in KEYS),
    )
    # Cut to the column: lower() can lengthen a text ('İ' becomes 'i' + a combining dot), and
    # PostgreSQL and MariaDB refuse a value longer than its column (as personnel._key does).
    rows = bind.execute(sa.select(people.c.id, *(people.c[src] for _, src, _ in KEYS))).all()
    keyed = [
        {"person": row[0]}
        | {
            key: (row[i + 1] or "").strip().lower()[:length]
            for i, (key, _, length) in enumerate(KEYS)
        }
        for row in rows
    ]
    if keyed:  # one statement for every person: no round trip per row
        update = people.update().where(people.c.id == sa.bindparam("person"))
        bind.execute(update.values({key: sa.bindparam(key) for key, _, _ in KEYS}), keyed)
    op.create_index("ix_personnel_name_keys", "personnel", ["last_name_key", "first_name_key", "id"])
    op.create_index(
        "ix_personnel_first_name_keys", "personnel", ["first_name_key", "last_name_key", "id"]
    )
    op.create_index("ix_personnel_number_key", "personnel", ["number_key", "id"])
    op.create_index("ix_personnel_email_key", "personnel", ["email_key", "id"])


def downgrade() -> None:
    for name in ("ix_personnel_name_keys", "ix_personnel_first_name_keys",
                 "ix_personnel_number_key", "ix_personnel_email_key"):
        op.drop_index(name, table_name="personnel")
    with op.batch_alter_table("personnel") as batch:
        for key, _source, _length in KEYS:
            batch.drop_column(key)
        batch.alter_column("login_key", type_=sa.String(64), existing_nullable=True)
