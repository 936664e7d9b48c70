"""The start-up probe: Login is enabled early only for a database that is really ready.

It reads a URL the way SQLAlchemy would (or steps aside), answers "ready" only for a database at
the newest schema with someone who can sign in, changes nothing, and says "don't know" (False)
for everything else: the full open then says what is wrong.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.probe import driver_target, ready_for_login
from pmdesk.core.revisions import head_from_files
from tests.helpers.databases import ADMIN_URLS, server_reachable, skip_or_fail, stage
from tests.helpers.login import add_user

EMBEDDED = Path("/data/pmdesk.sqlite3")


def _driver_url(db: Database) -> str:
    """The database's URL as a user would write it, with the password spelled out (MariaDB's
    root has an empty one here: written ``root:@``, as a URL that needs no keyring)."""
    url: URL = db.url
    if db.is_sqlite:
        return f"sqlite:///{url.database}"
    password = url.password or ""
    return (
        f"{url.get_backend_name()}://{url.username}:{password}@{url.host}:{url.port}/{url.database}"
    )


def _head() -> str:
    head = head_from_files()
    assert head is not None
    return head


@pytest.mark.parametrize(
    ("url", "backend", "expected"),
    [
        (None, "sqlite", {"path": EMBEDDED}),
        ("sqlite:///relative/pm.db", "sqlite", {"path": Path("relative/pm.db")}),
        ("sqlite+pysqlite:////abs/pm.db", "sqlite", {"path": Path("/abs/pm.db")}),
        (
            "postgresql://anne:p%40ss@db.example:6543/pm",
            "postgresql",
            {
                "params": {
                    "host": "db.example",
                    "port": 6543,
                    "user": "anne",
                    "password": "p@ss",
                    "dbname": "pm",
                }
            },
        ),
        (
            "postgres://anne@db/pm",
            "postgresql",
            {"params": {"host": "db", "user": "anne", "dbname": "pm"}},
        ),
        (
            "mariadb+pymysql://root:@127.0.0.1/pm",
            "mariadb",
            {"params": {"host": "127.0.0.1", "user": "root", "password": "", "database": "pm"}},
        ),
    ],
)
def test_urls_are_read_as_sqlalchemy_reads_them(
    url: str | None, backend: str, expected: dict[str, object]
) -> None:
    target = driver_target(url, EMBEDDED)
    assert target is not None
    assert target.backend == backend
    for name, value in expected.items():
        assert getattr(target, name) == value


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",  # in memory: nothing to probe
        "sqlite:///:memory:",
        "sqlite:///odd%20name.db",  # escapes: let SQLAlchemy decide what they mean
        "postgresql://anne@db/pm?sslmode=require",  # options the probe would not apply
        "postgresql://anne@db:notaport/pm",
        "postgresql://anne@db/",  # no database
        "mariadb://anne@db/pm",  # its password is in the keyring: no attempt without it
        "oracle://scott:tiger@db/pm",
        "not a url",
    ],
)
def test_anything_unusual_steps_aside(url: str) -> None:
    assert driver_target(url, EMBEDDED) is None


def test_ready_only_with_the_newest_schema_and_someone_to_sign_in(
    ctx: CoreContext, db: Database
) -> None:
    target = driver_target(_driver_url(db), EMBEDDED)
    assert target is not None
    head = _head()
    assert not ready_for_login(target, head)  # the first run must ask for an administrator
    add_user(ctx, "anne", "anne's long secret")
    assert ready_for_login(target, head)
    assert not ready_for_login(target, "f00dfeedbeef")  # a newer or older schema: migrate first
    with stage(db) as s:
        s.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
    try:
        assert not ready_for_login(target, head)
    finally:
        with stage(db) as s:
            s.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})


def test_a_missing_database_file_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "pm.sqlite3"
    target = driver_target(None, missing)
    assert target is not None
    assert not ready_for_login(target, _head())
    assert not missing.exists() and not missing.parent.exists()


def test_a_file_that_is_not_a_database_is_not_ready(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    target = driver_target(f"sqlite:///{junk}", junk)
    assert target is not None
    assert not ready_for_login(target, _head())
    assert junk.read_bytes() == b"not a database at all" * 100


def test_an_unreachable_server_is_not_ready_and_does_not_hold_up_the_start() -> None:
    target = driver_target("postgresql://pmdesk:secret@127.0.0.1:1/pmdesk", EMBEDDED)
    assert target is not None
    started = time.monotonic()
    assert not ready_for_login(target, _head())
    # Connection refused: answered at once, well inside the probe's own 2 s timeout.
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_someone_the_server_refuses_is_not_ready(engine: str) -> None:
    problem = server_reachable(engine)
    if problem:
        skip_or_fail(problem)
    server = make_url(ADMIN_URLS[engine])
    refused = f"{engine}://pmdesk_nobody:wrong@{server.host}:{server.port}/{server.database}"
    target = driver_target(refused, EMBEDDED)
    assert target is not None
    assert not ready_for_login(target, _head())
