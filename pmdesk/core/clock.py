"""Time, from the database server's clock: every workstation then agrees on expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.orm import Session

_NOW_SQL = {
    "postgresql": "SELECT timezone('UTC', now())",
    "mysql": "SELECT UTC_TIMESTAMP(6)",
    "mariadb": "SELECT UTC_TIMESTAMP(6)",
    "sqlite": "SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')",
}


class Clock(Protocol):
    def now(self, session: Session) -> datetime:
        """The current time, aware UTC."""
        ...


class DatabaseClock:
    """The database server's clock (the default everywhere)."""

    def now(self, session: Session) -> datetime:
        dialect = session.get_bind().dialect.name
        value = session.execute(text(_NOW_SQL[dialect])).scalar_one()
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ShiftedClock(DatabaseClock):
    """The database clock moved by ``offset``: lets tests travel in time."""

    def __init__(self, offset: timedelta = timedelta()) -> None:
        self.offset = offset

    def now(self, session: Session) -> datetime:
        return super().now(session) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta
