"""Time, from the database server's clock: every workstation then agrees on expiry."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import ColumnElement, func, literal_column, select
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

    def column(self, dialect: str) -> ColumnElement[Any]:
        """The clock as a column of a query that reads anyway (no round trip of its own);
        ``read`` turns the value the query returns into the time."""
        ...

    def read(self, value: object) -> datetime:
        """``column``'s value, aware UTC."""
        ...

    def days_ago_column(self, dialect: str, days: ColumnElement[int]) -> ColumnElement[Any]:
        """``days`` days before now, as a column of a query (a server's, not SQLite's): a
        bound the server computes in the statement that needs it."""
        ...

    def ago_column(self, dialect: str, delta: timedelta) -> ColumnElement[Any]:
        """``delta`` before now (``timedelta()``: now), as a column of a query (a server's):
        the time in a statement whose writes nobody waits for."""
        ...

    def observe(self, session: Session, value: object) -> datetime:
        """``column``'s value, read by a query of ``session``'s transaction: from now on that
        transaction's "now" (``now`` answers with it), and returned as ``read`` would."""
        ...

    def carry(self, session: Session, now: datetime) -> None:
        """``session``'s transaction takes ``now`` (a ``Reading``'s ``later``) as its "now",
        without asking the server."""
        ...


@dataclass(frozen=True)
class Reading:
    """The clock as a unit of work read it (``at``, aware UTC), and when that was here: what
    it says a little later, without a round trip, is ``at`` plus the time this machine's
    monotonic clock counted since. For the record that follows a step (the code sent, the
    alert's outcome), seconds later: within milliseconds of asking the server."""

    at: datetime
    mark: float = field(default_factory=time.monotonic)

    def later(self) -> datetime:
        return self.at + timedelta(seconds=max(0.0, time.monotonic() - self.mark))


_READ_IN = "pmdesk_clock"  # session.info: (the transaction it was read in, the time)


class DatabaseClock:
    """The database server's clock (the default everywhere), read once per transaction.

    One unit of work has one "now", as PostgreSQL's ``now()`` is anyway: every audit row and
    expiry of a sign-in step agrees, and the clock costs one round trip per transaction, not
    one per row (issue 18)."""

    def now(self, session: Session) -> datetime:
        transaction = session.get_transaction()
        kept = session.info.get(_READ_IN)
        if transaction is not None and kept is not None and kept[0] is transaction:
            return kept[1]  # type: ignore[no-any-return]
        dialect = session.get_bind().dialect.name
        value = _as_utc(session.execute(select(self.column(dialect))).scalar_one())
        # Asked again in the same transaction: the same moment (the transaction is the one
        # ``execute`` began, when none had begun yet).
        session.info[_READ_IN] = (session.get_transaction(), value)
        return value

    def column(self, dialect: str) -> ColumnElement[Any]:
        return literal_column(_NOW_SQL[dialect].removeprefix("SELECT "))

    def read(self, value: object) -> datetime:
        return _as_utc(value)

    def days_ago_column(self, dialect: str, days: ColumnElement[int]) -> ColumnElement[Any]:
        now = self.column(dialect)
        shift = self._shift() / timedelta(microseconds=1)
        if dialect == "postgresql":
            return now + func.make_interval(0, 0, 0, -days, 0, 0, shift / 1e6)
        if dialect in {"mysql", "mariadb"}:
            moved = int(shift) - days * 86_400_000_000
            return func.timestampadd(literal_column("MICROSECOND"), moved, now)
        raise ValueError(f"no server-side date arithmetic here for {dialect}")

    def ago_column(self, dialect: str, delta: timedelta) -> ColumnElement[Any]:
        now = self.column(dialect)
        moved = self._shift() - delta
        if dialect == "postgresql":
            return now + func.make_interval(0, 0, 0, 0, 0, 0, moved / timedelta(seconds=1))
        if dialect in {"mysql", "mariadb"}:
            microseconds = moved // timedelta(microseconds=1)
            return func.timestampadd(literal_column("MICROSECOND"), microseconds, now)
        raise ValueError(f"no server-side date arithmetic here for {dialect}")

    def observe(self, session: Session, value: object) -> datetime:
        session.info[_READ_IN] = (session.get_transaction(), _as_utc(value))
        return self.read(value)

    def carry(self, session: Session, now: datetime) -> None:
        session.info[_READ_IN] = (session.get_transaction(), now - self._shift())

    def _shift(self) -> timedelta:
        """How far ``now`` is from the server's clock (kept apart from the reading)."""
        return timedelta()


def _as_utc(value: object) -> datetime:
    """The server's time as a driver returns it (SQLite: text), aware UTC."""
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

    def read(self, value: object) -> datetime:
        return super().read(value) + self.offset

    def _shift(self) -> timedelta:
        return self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta
