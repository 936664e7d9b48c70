"""The INSERT construct of each engine, with its own clause for a row that is there already
(PostgreSQL and SQLite: ON CONFLICT; MariaDB: ON DUPLICATE KEY UPDATE)."""

from __future__ import annotations

from typing import Any


def insert_for(dialect: str) -> Any:
    """SQLAlchemy's ``insert`` for ``dialect`` ('postgresql', 'sqlite', 'mariadb' or 'mysql')."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert
    from sqlalchemy.dialects.mysql import insert as mysql_insert

    return mysql_insert
