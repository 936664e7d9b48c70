"""Column types that behave the same on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in Python, naive UTC with microseconds in every database.

    Storing naive UTC everywhere avoids the three engines' different time-zone semantics.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("UTCDateTime needs an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # SQLite expressions such as strftime() return text
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def search_key_type(length: int) -> String:
    """Text for lower-cased search keys, ordered byte-wise where the engine allows it.

    PostgreSQL's locale collations make ``LIKE 'ab%'`` and prefix ranges unable to use a plain
    index; the "C" collation can. SQLite compares byte-wise already; MariaDB's default
    collation serves prefix LIKE from the index.
    """
    return String(length).with_variant(postgresql.VARCHAR(length, collation="C"), "postgresql")


def search_text(value: str) -> str:
    """The search-key form of a text: what both the stored key and a typed term become."""
    return value.strip().lower()
