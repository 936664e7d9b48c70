"""Fixtures shared by every test: isolated paths, and a database on each engine."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pmdesk.core import migrate
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.secrets import MemoryStore
from tests.helpers.databases import (
    ENGINES,
    fresh_sqlite,
    reset_to_seed,
    server_reachable,
    skip_or_fail,
    sqlite_template,
    throwaway_server_database,
)

# Mail servers and the SMS gateway; a private PostgreSQL to stop and start: for any test.
pytest_plugins = ["tests.helpers.smtp", "tests.helpers.private_postgres"]


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own config, data and log folders, never the user's."""
    for name in ("CONFIG", "DATA", "LOG"):
        folder = tmp_path / f"pmdesk-{name.lower()}"
        folder.mkdir()
        monkeypatch.setenv(f"PMDESK_{name}_DIR", str(folder))
    monkeypatch.delenv("PMDESK_DATABASE_URL", raising=False)
    return tmp_path


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(scope="session")
def _server_databases() -> Iterator[dict[str, Database | str]]:
    """One migrated database per server engine for the whole run (or why it is missing)."""
    found: dict[str, Database | str] = {}
    stack = []
    for name in ("postgresql", "mariadb"):
        problem = server_reachable(name)
        if problem:
            found[name] = problem
            continue
        manager = throwaway_server_database(name)
        url = manager.__enter__()
        stack.append(manager)
        db = Database(url)
        migrate.upgrade(db)
        found[name] = db
    yield found
    for value in found.values():
        if isinstance(value, Database):
            value.dispose()
    for manager in reversed(stack):
        manager.__exit__(None, None, None)


def _database(
    engine_name: str,
    tmp_path: Path,
    template: Path,
    servers: dict[str, Database | str],
) -> Database:
    if engine_name == "sqlite":
        return fresh_sqlite(template, tmp_path / "test.sqlite3")
    value = servers[engine_name]
    if isinstance(value, str):
        skip_or_fail(value)
    assert isinstance(value, Database)
    reset_to_seed(value)
    return value


@pytest.fixture(params=ENGINES)
def db(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    _sqlite_template: Path,
    _server_databases: dict[str, Database | str],
) -> Iterator[Database]:
    """A migrated, seeded database on each engine in turn."""
    database = _database(request.param, tmp_path, _sqlite_template, _server_databases)
    yield database
    if database.is_sqlite:
        database.dispose()


@pytest.fixture
def sqlite_db(tmp_path: Path, _sqlite_template: Path) -> Iterator[Database]:
    """A migrated, seeded SQLite database, for tests where the engine does not matter."""
    database = fresh_sqlite(_sqlite_template, tmp_path / "test.sqlite3")
    yield database
    database.dispose()


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def ctx(db: Database, clock: ShiftedClock, tmp_path: Path) -> CoreContext:
    return CoreContext(
        db=db, secrets=MemoryStore(), outbox_default=tmp_path / "outbox", clock=clock
    )
