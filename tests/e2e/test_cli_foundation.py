"""The CLI a deployment script uses: db, user and group commands, on every engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text

from pmdesk import __version__
from pmdesk.core.db import Database
from pmdesk.core.models import Person
from tests.helpers.cli import database_arg, run_pmdesk, sign_in_as


def test_version() -> None:
    result = run_pmdesk("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"pmdesk {__version__}"


def test_db_status_describes_the_embedded_database(isolated_paths: Path) -> None:
    before = run_pmdesk("db", "status")
    assert before.returncode == 0, before.stderr
    assert "Engine:    sqlite" in before.stdout
    assert "embedded default" in before.stdout
    assert str(isolated_paths / "pmdesk-data" / "pmdesk.sqlite3") in before.stdout
    assert "needs upgrade" in before.stdout

    upgraded = run_pmdesk("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from empty" in upgraded.stdout

    after = run_pmdesk("db", "status")
    assert "Status:    up to date" in after.stdout


def test_user_add_then_list_on_each_engine(db: Database) -> None:
    url = database_arg(db)
    added = run_pmdesk(
        "--database",
        url,
        "user",
        "add",
        "alice",
        "--email",
        "alice@example.com",
        "--group",
        "Administrator",
        "--first-name",
        "Alice",
        "--last-name",
        "Adams",
        "--password-stdin",
        stdin="a long secret\n",
    )
    assert added.returncode == 0, added.stderr  # the first administrator: open to anyone
    sign_in_as(db, "alice")
    listed = run_pmdesk("user", "list", "--database", url)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["Login", "Name", "E-mail", "Group", "Locked"]
    assert lines[1].split() == [
        "alice",
        "Alice",
        "Adams",
        "alice@example.com",
        "Administrator",
        "no",
    ]
    groups = run_pmdesk("--database", url, "group", "list")
    assert "Administrator  1" in groups.stdout


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["--group", "Nobody", "--email", "b@example.com"], "a long secret\n", "Unknown group"),
        (["--group", "Administrator", "--email", "b@"], "a long secret\n", "not a valid e-mail"),
        (["--group", "Administrator", "--email", "b@example.com"], "short\n", "at least 8"),
    ],
)
def test_user_add_bad_input_is_one_clear_line(
    sqlite_db: Database, args: list[str], stdin: str, expected: str
) -> None:
    result = run_pmdesk(
        "--database",
        database_arg(sqlite_db),
        "user",
        "add",
        "bob",
        *args,
        "--password-stdin",
        stdin=stdin,
    )
    assert result.returncode == 1
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    with sqlite_db.session() as s:
        assert list(s.execute(select(Person.login)).scalars()) == []


def test_duplicate_login_is_refused(sqlite_db: Database) -> None:
    url = database_arg(sqlite_db)
    first = ("user", "add", "carol", "--email", "c@example.com", "--group", "administrator")
    assert (
        run_pmdesk(
            "--database", url, *first, "--password-stdin", stdin="a long secret\n"
        ).returncode
        == 0
    )
    sign_in_as(sqlite_db, "carol")  # carol can sign in now: adding someone else needs a session
    again = run_pmdesk(
        "--database",
        url,
        "user",
        "add",
        "CAROL",
        "--email",
        "c@example.com",
        "--group",
        "Administrator",
        "--password-stdin",
        stdin="a long secret\n",
    )
    assert again.returncode == 1
    assert again.stderr.strip() == "pmdesk: This login is already taken."


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://nobody@127.0.0.1:1/nothing", "Cannot reach the database"),
        ("mariadb://nobody@127.0.0.1:1/nothing", "Cannot reach the database"),
        ("oracle://scott@db/x", "Unsupported database 'oracle'"),
        ("::not a url::", "Not a database URL"),
    ],
)
def test_unreachable_or_bad_database_is_one_clear_line(url: str, expected: str) -> None:
    result = run_pmdesk("--database", url, "user", "list")
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_password_never_shown_in_db_status(tmp_path: Path) -> None:
    result = run_pmdesk("--database", "postgresql://admin:S3cretPw@127.0.0.1:1/x", "db", "status")
    assert "S3cretPw" not in result.stdout + result.stderr
    assert "***" in result.stderr


def test_without_a_display_the_app_says_so_instead_of_crashing() -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k not in {"DISPLAY", "WAYLAND_DISPLAY"}}
    env.pop("QT_QPA_PLATFORM", None)
    result = subprocess.run(
        [sys.executable, "-m", "pmdesk"],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("pmdesk: no display to open the desktop app on")
    assert "QT_QPA_PLATFORM=offscreen pmdesk --self-test" in result.stderr


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_the_postgresql_tests_connect_as_the_mode_says(
    db: Database, owner_db: Database, pg_hardened: bool
) -> None:
    """With --pg-hardened (make test-hardened) every PostgreSQL test here runs as the
    workstation role of a database set up by `server init`; otherwise as the administrator."""
    with db.session() as s:
        user = s.execute(text("SELECT current_user")).scalar()
        hardened = s.execute(text("SELECT to_regclass('pmdesk.server_meta') IS NOT NULL")).scalar()
    assert hardened is pg_hardened
    if pg_hardened:
        assert str(user).endswith("_workstation")
        assert owner_db is not db and owner_db.url.database == db.url.database
    else:
        assert owner_db is db
