"""Apply the Alembic migrations shipped in ``pmdesk/core/migrations``.

Only one workstation migrates at a time (a PostgreSQL advisory lock, a MariaDB named lock; SQLite
serialises writers itself). A database migrated by a newer pmdesk is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, OperationalError

from pmdesk.core.db import Database, is_connection_problem, unavailable_message
from pmdesk.core.errors import DatabaseUnavailable, SchemaTooNew

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_LOCK_KEY = 0x706D6465736B  # "pmdesk"
_LOCK_WAIT_S = 120


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _refuse_newer(connection: Connection) -> None:
    current = _current(connection)
    if current is None:
        return
    script = ScriptDirectory.from_config(_config())
    known = {rev.revision for rev in script.walk_revisions()}
    if current not in known:
        raise SchemaTooNew(
            f"This database was upgraded by a newer pmdesk (schema {current}). "
            "Install the newer pmdesk on this workstation; this version cannot use it safely."
        )


@contextmanager
def _migration_lock(connection: Connection, backend: str) -> Iterator[None]:
    if backend == "postgresql":
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
            connection.commit()
    elif backend == "mariadb":
        got = connection.execute(
            text("SELECT GET_LOCK('pmdesk_migrate', :t)"), {"t": _LOCK_WAIT_S}
        ).scalar()
        connection.commit()
        if got != 1:
            raise DatabaseUnavailable("Another workstation is upgrading the database; try again.")
        try:
            yield
        finally:
            connection.execute(text("SELECT RELEASE_LOCK('pmdesk_migrate')"))
            connection.commit()
    else:
        yield


def status(db: Database) -> SchemaStatus:
    try:
        with db.engine.connect() as connection:
            current = _current(connection)
            _refuse_newer(connection)
    except DBAPIError as exc:
        raise DatabaseUnavailable(unavailable_message(db.url, exc)) from exc
    return SchemaStatus(current=current, head=head_revision())


def upgrade(db: Database, target: str = "head") -> SchemaStatus:
    """Bring the schema to ``target`` (default: the newest this app knows)."""
    state = _run(db, lambda config: command.upgrade(config, target))
    db.refresh_statistics()
    return state


def downgrade(db: Database, target: str = "base") -> SchemaStatus:
    return _run(db, lambda config: command.downgrade(config, target))


def _run(db: Database, step: object) -> SchemaStatus:
    try:
        with db.engine.connect() as connection:
            if db.is_sqlite:
                _set_sqlite_foreign_keys(connection, enabled=False)
            try:
                with _migration_lock(connection, db.backend):
                    _refuse_newer(connection)
                    step(_config(connection))  # type: ignore[operator]
                    connection.commit()
                    if db.is_sqlite:
                        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                        connection.commit()
                        if broken:
                            raise RuntimeError(f"Migration broke foreign keys: {broken[:5]}")
            finally:
                if db.is_sqlite:
                    connection.rollback()
                    _set_sqlite_foreign_keys(connection, enabled=True)
            current = _current(connection)
            connection.commit()
    except OperationalError as exc:
        if is_connection_problem(exc):
            raise DatabaseUnavailable(unavailable_message(db.url, exc)) from exc
        raise
    return SchemaStatus(current=current, head=head_revision())


def _set_sqlite_foreign_keys(connection: Connection, *, enabled: bool) -> None:
    # The pragma is a no-op inside a transaction; the DBAPI connection is in autocommit mode
    # (isolation_level=None) until SQLAlchemy emits BEGIN, so run it on the raw connection.
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")
