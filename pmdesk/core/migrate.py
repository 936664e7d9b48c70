"""Apply the Alembic migrations shipped in ``pmdesk/core/migrations``.

Only one workstation migrates at a time (a PostgreSQL advisory lock, a MariaDB named lock; SQLite
serialises writers itself). A database migrated by a newer pmdesk is refused.

Alembic costs a few hundred milliseconds to import and to load its scripts, and at almost every
start there is nothing to apply: ``upgrade`` first reads the database's revision with one query
and compares it with the newest revision file (read as text), and loads Alembic only when there
is something to do (or anything looks unusual).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError, OperationalError

from pmdesk.core.db import (
    Database,
    database_error,
    database_problem,
    is_connection_problem,
    unavailable_message,
)
from pmdesk.core.errors import DatabaseRefused, DatabaseUnavailable, SchemaTooNew
from pmdesk.core.i18n import translate
from pmdesk.core.revisions import MIGRATIONS_DIR, head_from_files
from pmdesk.core.server import grants as server_grants
from pmdesk.core.server import install as server_install
from pmdesk.core.server import meta as server_meta
from pmdesk.core.server.roles import quote_ident

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

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
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    quick = head_from_files()
    if quick is not None:
        return quick
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _quick_current(connection: Connection) -> str | None:
    """The database's revision with one query; None when there is no single one to read."""
    try:
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except DBAPIError as exc:
        if isinstance(exc, OperationalError) and is_connection_problem(exc):
            raise
        connection.rollback()
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _refuse_newer(connection: Connection) -> None:
    from alembic.script import ScriptDirectory

    current = _current(connection)
    if current is None:
        return
    script = ScriptDirectory.from_config(_config())
    known = {rev.revision for rev in script.walk_revisions()}
    if current not in known:
        raise SchemaTooNew(
            translate(
                "migrate",
                "This database was upgraded by a newer pmdesk (schema {schema}). Install the "
                "newer pmdesk on this workstation; this version cannot use it safely.",
            ).format(schema=current)
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
            raise DatabaseUnavailable(
                translate("migrate", "Another workstation is upgrading the database; try again.")
            )
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
        raise database_error(db.url, exc) from exc
    return SchemaStatus(current=current, head=head_revision())


def upgrade(db: Database, target: str = "head") -> SchemaStatus:
    """Bring the schema to ``target`` (default: the newest this app knows)."""
    state = _up_to_date(db) if target == "head" else None
    if state is None:
        from alembic import command

        state = _run(db, lambda config: command.upgrade(config, target))
    db.refresh_statistics()
    return state


def _up_to_date(db: Database) -> SchemaStatus | None:
    """The status when the database is already at the newest revision (no Alembic), else None."""
    head = head_from_files()
    if head is None:
        return None
    try:
        with db.engine.connect() as connection:
            current = _quick_current(connection)
            connection.commit()
    except DBAPIError as exc:
        _reword(db, exc)
        raise
    return SchemaStatus(current=current, head=head) if current == head else None


def _reword(db: Database, exc: DBAPIError) -> None:
    """Raise the core's error for a database that cannot be reached, or that refuses the
    upgrade in a way worded on its own (read-only, no permission); return otherwise."""
    if isinstance(exc, OperationalError) and is_connection_problem(exc):
        raise DatabaseUnavailable(unavailable_message(db.url, exc)) from exc
    problem = database_problem(exc, db.url)
    if problem is not None:
        raise DatabaseRefused(problem) from exc


def downgrade(db: Database, target: str = "base") -> SchemaStatus:
    from alembic import command

    return _run(db, lambda config: command.downgrade(config, target))


def _run(db: Database, step: object) -> SchemaStatus:
    try:
        with db.engine.connect() as connection:
            if db.is_sqlite:
                _set_sqlite_foreign_keys(connection, enabled=False)
            try:
                with _migration_lock(connection, db.backend):
                    _refuse_newer(connection)
                    hardening = server_meta.read(connection)
                    if hardening is not None:
                        _act_as_owner(connection, hardening)
                    step(_config(connection))  # type: ignore[operator]
                    connection.commit()
                    if hardening is not None:
                        _after_hardened_upgrade(connection, hardening)
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
    except DBAPIError as exc:
        _reword(db, exc)
        raise
    return SchemaStatus(current=current, head=head_revision())


def _act_as_owner(connection: Connection, hardening: server_meta.Hardening) -> None:
    """On a hardened database the migrations run as its owner role, so that what they make
    belongs to it; only a member of that role (whoever administers the server) may."""
    roles = hardening.roles
    if (
        roles is None
        or not connection.execute(
            text("SELECT pg_has_role(current_user, :owner, 'MEMBER')"), {"owner": roles.owner}
        ).scalar()
    ):
        connection.rollback()
        raise DatabaseRefused(server_meta.NEEDS_OWNER_TO_UPGRADE)
    connection.execute(text(f"SET ROLE {quote_ident(roles.owner)}"))
    connection.commit()


def _after_hardened_upgrade(connection: Connection, hardening: server_meta.Hardening) -> None:
    """Back to the login's own role; new tables get the same grants as the others, and (at
    this pmdesk's level; an older one is raised by server init) the same triggers, policies
    and row-level security."""
    assert hardening.roles is not None
    connection.execute(text("RESET ROLE"))
    if hardening.level == server_meta.HARDENING_LEVEL and _current(connection) == head_revision():
        server_install.install(connection, hardening.roles)
    server_grants.apply(connection, hardening.roles)
    connection.commit()


def _set_sqlite_foreign_keys(connection: Connection, *, enabled: bool) -> None:
    # The pragma is a no-op inside a transaction; the DBAPI connection is in autocommit mode
    # (isolation_level=None) until SQLAlchemy emits BEGIN, so run it on the raw connection.
    raw = connection.connection.dbapi_connection
    assert raw is not None
    raw.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")
