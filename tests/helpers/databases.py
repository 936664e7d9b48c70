"""Throwaway databases on every engine, for the engine-parametrised fixtures."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from pmdesk.core import migrate
from pmdesk.core.db import Database
from pmdesk.core.models import (
    AuditEvent,
    DeliveryOutcome,
    GroupPermission,
    HelpdeskCode,
    Language,
    Location,
    LoginChallenge,
    Module,
    OfficeNetwork,
    Person,
    SecuritySettings,
    Team,
    TrustedIp,
    TrustedIpRemoval,
    UserGroup,
    UserSession,
)
from pmdesk.core.modules import ADMINISTRATOR_GROUP, MODULES

ENGINES = ("sqlite", "postgresql", "mariadb")
ADMIN_URLS = {
    "postgresql": os.environ.get(
        "PMDESK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    ),
    "mariadb": os.environ.get(
        "PMDESK_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/mysql"
    ),
}


def servers_required() -> bool:
    return os.environ.get("PMDESK_REQUIRE_SERVERS") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip with a reason locally; fail in CI, where every server must be there."""
    if servers_required():
        pytest.fail(f"{reason} (PMDESK_REQUIRE_SERVERS=1 makes this mandatory)")
    pytest.skip(reason)


def server_reachable(engine_name: str) -> str | None:
    """None when the admin URL answers, else why not."""
    try:
        admin = create_engine(ADMIN_URLS[engine_name], connect_args={"connect_timeout": 3})
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
        admin.dispose()
    except Exception as exc:
        return f"{engine_name} server not reachable at {ADMIN_URLS[engine_name]}: {exc}"
    return None


@contextmanager
def throwaway_server_database(engine_name: str) -> Iterator[URL]:
    """Create an empty database on the server; drop it afterwards."""
    name = f"pmdesk_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin_url = make_url(ADMIN_URLS[engine_name])
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if engine_name == "postgresql":
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        else:
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    try:
        yield admin_url.set(database=name)
    finally:
        with admin.connect() as conn:
            if engine_name == "postgresql":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@dataclass(frozen=True)
class HardenedDatabase:
    workstation_url: URL  # what the services under test connect with
    owner_url: URL  # the administrator's (a superuser here): setup, recover, checks
    prefix: str
    relay_url: URL  # what `pmdesk relay` connects with


def hardened_prefix() -> str:
    """Role names are cluster-wide: one prefix per throwaway database."""
    return f"pmt{os.getpid()}_{uuid.uuid4().hex[:6]}"


@contextmanager
def hardened_server_database(prefix: str | None = None) -> Iterator[HardenedDatabase]:
    """A throwaway PostgreSQL database set up by ``server init``; its roles are dropped after."""
    from pmdesk.core.server.setup import initialise

    prefix = prefix or hardened_prefix()
    with throwaway_server_database("postgresql") as owner_url:
        try:
            result = initialise(owner_url, prefix=prefix)
            yield HardenedDatabase(
                workstation_url=result.login_urls[result.roles.workstation],
                owner_url=owner_url,
                prefix=prefix,
                relay_url=result.login_urls[result.roles.relay],
            )
        finally:
            _drop_database_then_roles(owner_url, prefix)


@contextmanager
def hardened_or_skip() -> Iterator[HardenedDatabase]:
    """``hardened_server_database()``, or a skip (a failure in CI) without a PostgreSQL server."""
    problem = server_reachable("postgresql")
    if problem:
        skip_or_fail(problem)
    with hardened_server_database() as made:
        yield made


def _drop_database_then_roles(owner_url: URL, prefix: str) -> None:
    admin = create_engine(make_url(ADMIN_URLS["postgresql"]), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{owner_url.database}" WITH (FORCE)'))
            for kind in ("workstation", "relay", "owner"):
                conn.execute(text(f"DROP ROLE IF EXISTS {prefix}_{kind}"))
    finally:
        admin.dispose()


def sqlite_template(folder: Path) -> Path:
    """A migrated SQLite file, made once per test session and copied per test."""
    template = folder / "template.sqlite3"
    if not template.exists():
        db = Database(URL.create("sqlite+pysqlite", database=str(template)))
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.dispose()
    return template


def fresh_sqlite(template: Path, target: Path) -> Database:
    shutil.copyfile(template, target)
    return Database(URL.create("sqlite+pysqlite", database=str(target)))


def reset_to_seed(db: Database) -> None:
    """Remove everything a test wrote; restore the first-run seed (as the migration made it)."""
    if db.backend == "postgresql":
        # A hardened database's queue first (the relay may still be sending a test's trust
        # alerts): in the order the relay locks, a queue row before delivery_outcomes, so
        # emptying the tables below cannot deadlock with its relay_finish.
        with db.session() as s:
            if s.execute(text("SELECT to_regclass('pmdesk.code_queue')")).scalar() is not None:
                s.execute(text("DELETE FROM pmdesk.code_queue"))
    with db.session() as s:
        for model in (
            AuditEvent,
            DeliveryOutcome,
            LoginChallenge,
            HelpdeskCode,
            TrustedIpRemoval,
            TrustedIp,
            OfficeNetwork,
            UserSession,
            Person,
            GroupPermission,
            Location,
            Team,
        ):
            s.execute(delete(model))
        s.execute(delete(UserGroup).where(UserGroup.id != 1))
        s.execute(delete(SecuritySettings).where(SecuritySettings.id != 1))
    with db.session() as s:
        admin = s.get(UserGroup, 1)
        assert admin is not None
        admin.name = ADMINISTRATOR_GROUP
        admin.name_key = ADMINISTRATOR_GROUP.lower()
        for module in MODULES:
            s.add(
                GroupPermission(
                    group_id=1, module_key=module.key, can_read=True, can_edit=True, can_delete=True
                )
            )
        settings = s.get(SecuritySettings, 1)
        assert settings is not None
        defaults = SecuritySettings.__table__.columns
        for column in defaults:
            if column.key in {"id", "version"}:
                continue
            default = column.default.arg if column.default is not None else None  # type: ignore[union-attr]
            setattr(settings, column.key, default)
        assert s.query(Module).count() == len(MODULES)
        assert s.query(Language).count() == 3


def owner_url_of(db: Database) -> URL:
    """The administrator's URL for ``db``'s server and database (a test's private server
    too)."""
    admin = make_url(ADMIN_URLS["postgresql"])
    return db.url.set(username=admin.username, password=admin.password)


@contextmanager
def acting_owner(db: Database) -> Iterator[Database]:
    """``db`` itself, or on a hardened PostgreSQL (where the workstation login writes nothing
    without a signed-in session, hardening level 5) the owner's connection to the same
    database: tests set the stage as its administrator would, then act as the workstation."""
    if db.backend != "postgresql" or db.hardening_level < 5:
        yield db
        return
    owner = Database(owner_url_of(db))
    try:
        yield owner
    finally:
        owner.dispose()


@contextmanager
def stage(db: Database) -> Iterator[Session]:
    """One unit of work that sets the stage for a test (``acting_owner``)."""
    with acting_owner(db) as target, target.session() as s:
        yield s
