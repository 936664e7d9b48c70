"""No usable keyring: none installed (``keyring.backends.fail.Keyring``), or the user's keyring
still locked. pmdesk says so, in one line, at the point where it needs a secret: reading the
command-line session (``pmdesk mail configure … --password-stdin`` is then refused before the
mail password is even read: nobody can be signed in without a keyring), and connecting to a
database whose password lives in the keyring. It stores nothing elsewhere instead, and works
once the keyring is back.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import URL

from pmdesk.core.db import Database
from pmdesk.core.models import SecuritySettings
from pmdesk.paths import app_paths
from pmdesk.secrets import database_key
from tests.helpers.cli import database_arg, real_keyring, run_pmdesk
from tests.helpers.databases import ADMIN_URLS, servers_required
from tests.helpers.staff import add_person
from tests.reliability.helpers import REPO

NO_KEYRING = {"PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
LOCKED = {
    "PYTHON_KEYRING_BACKEND": "tests.reliability.locked_keyring.LockedKeyring",
    "PYTHONPATH": str(REPO),
}
MAIL_PASSWORD = "Mail-Secret-Otter-42"
KEYRINGS = pytest.mark.parametrize(
    ("env", "expected"),
    [
        (NO_KEYRING, "No secure system keyring is available"),
        (LOCKED, "The system keyring is locked. Unlock it"),
    ],
    ids=["no-keyring", "locked-keyring"],
)


def one_line(result: subprocess.CompletedProcess[str], exit_code: int = 1) -> str:
    assert result.returncode == exit_code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pmdesk: "), result.stderr
    return lines[0]


@KEYRINGS
def test_storing_the_mail_password_needs_the_keyring(
    sqlite_db: Database, env: dict[str, str], expected: str
) -> None:
    add_person(sqlite_db, "admin")  # someone can sign in: mail configure needs a session
    result = run_pmdesk(
        "--database", database_arg(sqlite_db), "mail", "configure", "--method", "smtp",
        "--host", "smtp.example.com", "--security", "starttls", "--from", "it@example.com",
        "--username", "mailer", "--password-stdin",
        env=env, stdin=MAIL_PASSWORD + "\n",
    )  # fmt: skip
    line = one_line(result, exit_code=3)  # not signed in: the session is in the keyring
    assert line.startswith("pmdesk: Sign in first: pmdesk login LOGIN (")
    assert expected in line
    assert result.stdout == ""
    with sqlite_db.session() as s:
        row = s.execute(select(SecuritySettings)).scalar_one()
        assert (row.delivery_method, row.smtp_host) == ("outbox", ""), "nothing half-configured"
    paths = app_paths()
    for folder in (paths.config_dir, paths.data_dir, paths.log_dir):
        for file in folder.rglob("*"):
            if file.is_file():
                assert MAIL_PASSWORD.encode() not in file.read_bytes(), f"kept in {file}"

    # Showing the settings needs a session too: refused the same way, naming the problem.
    shown = run_pmdesk("--database", database_arg(sqlite_db), "mail", "show", env=env)
    assert expected in one_line(shown, exit_code=3)


@pytest.fixture
def mariadb_user() -> Iterator[tuple[URL, str]]:
    """A MariaDB account that needs a password, on a database of its own."""
    admin_url = ADMIN_URLS["mariadb"]
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if servers_required():
            pytest.fail(f"MariaDB not reachable: {exc}")
        pytest.skip(f"MariaDB not reachable: {exc}")
    suffix = uuid.uuid4().hex[:8]
    name, user, password = f"pmdesk_kr_{suffix}", f"kr_{suffix}", f"Db-Pass-{suffix}"
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
        for host in ("%", "localhost", "127.0.0.1"):
            conn.execute(text(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY '{password}'"))
            conn.execute(text(f"GRANT ALL ON `{name}`.* TO '{user}'@'{host}'"))
    url = URL.create("mariadb+pymysql", username=user, host="127.0.0.1", port=3306, database=name)
    try:
        yield url, password
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
            for host in ("%", "localhost", "127.0.0.1"):
                conn.execute(text(f"DROP USER IF EXISTS '{user}'@'{host}'"))
        admin.dispose()


@KEYRINGS
def test_a_database_password_from_the_keyring(
    mariadb_user: tuple[URL, str], env: dict[str, str], expected: str
) -> None:
    url, _ = mariadb_user
    line = one_line(run_pmdesk("--database", url.render_as_string(), "db", "status", env=env))
    assert "Cannot reach the database mariadb" in line
    assert "Access denied" in line
    assert expected in line, "the keyring problem is named where the password was needed"


def test_the_database_password_works_once_in_the_keyring(mariadb_user: tuple[URL, str]) -> None:
    url, password = mariadb_user
    store = real_keyring()
    key = database_key(url.render_as_string(hide_password=True))
    store.set(key, password)
    try:
        upgraded = run_pmdesk("--database", url.render_as_string(), "db", "upgrade", env={})
        assert upgraded.returncode == 0, upgraded.stderr
        assert "upgraded from empty" in upgraded.stdout
    finally:
        store.delete(key)
