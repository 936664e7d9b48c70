"""Review defects 5d, 5h, 5i and 5j (issue 12): private files, one line for any bad input, no
silently new database, and a sentence of its own for each kind of database refusal.

The CLI cases run the real ``pmdesk`` in a subprocess; they use the commands open without a
session (``db status``, ``db upgrade``, ``login``, ``user add`` while nobody can sign in) or
argument errors, which come before the session check.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from pmdesk import cli
from pmdesk.config import Settings, save_settings
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.errors import ValidationError
from pmdesk.core.personnel import PersonnelService
from pmdesk.core.security import SecurityService
from tests.helpers.cli import database_arg, run_pmdesk

POSIX = pytest.mark.skipif(os.name == "nt", reason="file modes: the profile's ACL on Windows")
ADMIN = Actor.command_line()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_bytes(
    *args: bytes | str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``pmdesk`` with raw argv bytes (undecodable ones arrive as lone surrogates)."""
    argv = [a.encode() if isinstance(a, str) else a for a in args]
    done = subprocess.run(
        [sys.executable.encode(), b"-m", b"pmdesk", *argv],
        input=b"",
        capture_output=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode()
    )


def assert_one_line(result: subprocess.CompletedProcess[str], phrase: str, code: int = 1) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pmdesk: "), result.stderr
    assert phrase in lines[0], result.stderr


def assert_usage_error(result: subprocess.CompletedProcess[str], phrase: str) -> None:
    """An argument error: exit 2, the usage on one line, then the error on one line."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith("usage: pmdesk"), result.stderr
    assert "error:" in lines[1] and phrase in lines[1], result.stderr


# --- d. private folders and files -------------------------------------------------------------


@POSIX
def test_first_start_makes_private_folders_and_files(tmp_path: Path) -> None:
    env = {
        "PMDESK_CONFIG_DIR": str(tmp_path / "new" / "config"),
        "PMDESK_DATA_DIR": str(tmp_path / "new" / "data"),
        "PMDESK_LOG_DIR": str(tmp_path / "new" / "log"),
    }
    result = run_pmdesk("db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    for name in ("config", "data", "log"):
        assert mode(tmp_path / "new" / name) == 0o700, name
    data = tmp_path / "new" / "data"
    database = data / "pmdesk.sqlite3"
    assert database.exists()
    for path in data.iterdir():  # the database with its -wal and -shm files
        assert mode(path) == 0o600, path
    log_file = tmp_path / "new" / "log" / "pmdesk.log"
    assert log_file.exists() and mode(log_file) == 0o600
    # A database made with --create elsewhere is private too, with its -wal and -shm files.
    other = tmp_path / "elsewhere" / "shared.sqlite3"
    made = run_pmdesk("--database", f"sqlite:///{other}", "db", "upgrade", "--create", env=env)
    assert made.returncode == 0, made.stderr
    assert mode(other.parent) == 0o700
    assert {p.name: mode(p) for p in other.parent.iterdir()} == {
        p.name: 0o600 for p in other.parent.iterdir()
    }


@POSIX
def test_an_older_pmdesks_open_folders_and_files_are_made_private_at_start(
    tmp_path: Path,
) -> None:
    """The per-user defaults (XDG folders here, no PMDESK_*_DIR) as an older pmdesk left them:
    0755 folders, 0644 files. Starting pmdesk closes them."""
    xdg = {name: tmp_path / name for name in ("xdg-config", "xdg-data", "xdg-state")}
    config = xdg["xdg-config"] / "pmdesk"
    data = xdg["xdg-data"] / "pmdesk"
    logs = xdg["xdg-state"] / "pmdesk" / "log"
    outbox = data / "outbox"
    for folder in (config, data, logs, outbox):
        folder.mkdir(parents=True)
        folder.chmod(0o755)
    files = [
        config / "settings.toml",
        logs / "pmdesk.log",
        logs / "pmdesk.log.1",
        outbox / "20250101-000000-abcd.eml",
    ]
    for file in files:
        file.write_text("" if file.suffix != ".toml" else 'language = "en-GB"\n')
        file.chmod(0o644)
    env = {f"XDG_{k.split('-')[1].upper()}_HOME": str(v) for k, v in xdg.items()}
    for name in ("CONFIG", "DATA", "LOG"):
        env[f"PMDESK_{name}_DIR"] = ""
    made = run_pmdesk("db", "upgrade", env=env)
    assert made.returncode == 0, made.stderr
    (data / "pmdesk.sqlite3").chmod(0o644)
    result = run_pmdesk("db", "status", env=env)
    assert result.returncode == 0, result.stderr
    assert f"{data / 'pmdesk.sqlite3'}" in result.stdout
    for folder in (config, data, logs, outbox):
        assert mode(folder) == 0o700, folder
    for file in [*files, data / "pmdesk.sqlite3"]:
        assert mode(file) == 0o600, file


@POSIX
def test_an_overridden_folder_keeps_its_mode_but_pmdesks_files_in_it_are_private(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "shared-logs"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    (shared / "pmdesk.log").write_text("")
    (shared / "pmdesk.log").chmod(0o644)
    (shared / "other.txt").write_text("")
    (shared / "other.txt").chmod(0o644)
    result = run_pmdesk("db", "status", env={"PMDESK_LOG_DIR": str(shared)})
    assert result.returncode == 0, result.stderr
    assert mode(shared) == 0o755
    assert mode(shared / "other.txt") == 0o644
    assert mode(shared / "pmdesk.log") == 0o600


@POSIX
def test_rotated_log_files_and_the_settings_folder_are_private(tmp_path: Path) -> None:
    from pmdesk.log_file import PrivateRotatingFileHandler

    handler = PrivateRotatingFileHandler(tmp_path / "pmdesk.log", maxBytes=50, backupCount=2)
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "x" * 60, None, None)
    try:
        for _ in range(4):
            handler.emit(record)
    finally:
        handler.close()
    logs = sorted(tmp_path.glob("pmdesk.log*"))
    assert len(logs) == 3
    assert all(mode(p) == 0o600 for p in logs), [(p.name, oct(mode(p))) for p in logs]
    settings = tmp_path / "new-config" / "settings.toml"
    save_settings(settings, Settings())
    assert mode(settings.parent) == 0o700 and mode(settings) == 0o600


# --- h. any bad argument: one line, never a traceback ------------------------------------------


LONG = "a" * 5000


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["--database", "postgresql://u@[::1", "db", "status"], "Not a database URL"),
        (["--database", "postgresql://u@host:port/db", "db", "status"], "Not a database URL"),
        (["--database", "oracle://x", "db", "status"], "Unsupported database 'oracle'"),
        ([b"--database", b"sqlite:///\xff\xfe.db", b"db", b"status"], "undecodable bytes"),
        (["--database", f"sqlite:///{LONG}/x.db", "db", "status"], "No database at"),
        (["--database", f"sqlite:///{LONG}.db", "db", "upgrade", "--create"], "too long"),
    ],
    ids=["malformed", "port-not-number", "driver", "undecodable-url", "long-path", "long-create"],
)
def test_bad_database_urls_are_one_line(
    args: list[str | bytes], phrase: str, tmp_path: Path
) -> None:
    # In a folder of its own: relative SQLite paths land there (an older pmdesk made them).
    here = tmp_path / "cwd"
    here.mkdir()
    assert_one_line(run_bytes(*args, cwd=here), phrase)
    assert list(here.iterdir()) == []


@pytest.mark.parametrize(
    ("variable", "value", "phrase"),
    [
        ("PMDESK_DATA_DIR", "/proc/pmdesk-cannot-be-here", "Cannot create the data folder"),
        ("PMDESK_CONFIG_DIR", "/proc/pmdesk-cannot-be-here", "Cannot create the settings folder"),
        ("PMDESK_LOG_DIR", "/proc/pmdesk-cannot-be-here", "Cannot create the log folder"),
        ("PMDESK_LOG_DIR", "/proc/self", "Cannot write the log file"),
        ("PMDESK_DATA_DIR", f"/tmp/{LONG}", "Cannot create the data folder"),
    ],
    ids=["data", "config", "log", "log-not-writable", "data-too-long"],
)
def test_folders_that_cannot_be_made_or_written_are_one_line(
    variable: str, value: str, phrase: str
) -> None:
    if not Path("/proc/self").is_dir():
        pytest.skip("needs /proc")
    assert_one_line(run_pmdesk("db", "status", env={variable: value}), phrase)


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["ip", "remove", "99999999999999999999999"], "not a whole number from 1 to"),
        (["ip", "remove", "3000000000"], "not a whole number from 1 to"),
        (["ip", "list", "--page", "9" * 30], "not a whole number"),
        (["security", "set", "--trust-days", "1" + "0" * 30], "not a whole number"),
        (["security", "set", "--code-minutes", "9" * 5000], "not a whole number"),
        (["mail", "configure", "--method", "smtp", "--port", "1e3"], "not a whole number"),
        ([b"db", b"\xff"], "invalid choice"),
        (["user", "add"], "required"),
    ],
    ids=[
        "id-beyond-64-bits",
        "id-beyond-column",
        "page",
        "trust-days",
        "digits",
        "port",
        "undecodable-choice",
        "missing",
    ],
)
def test_argument_errors_are_one_usage_line_and_the_error(
    db: Database, args: list[str | bytes], phrase: str
) -> None:
    assert_usage_error(run_bytes("--database", database_arg(db), *args), phrase)


def test_undecodable_login_is_one_line_on_every_engine(db: Database) -> None:
    """Lone surrogates in a text argument reach the database nowhere: one line, exit 1."""
    result = run_bytes("--database", database_arg(db), b"login", b"ad\xffmin", b"--password-stdin")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr
    assert "pmdesk:" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["ad\x00min", "ad\udcffmin", "\ud800"])
def test_text_that_cannot_be_stored_is_refused_alike_on_every_engine(
    ctx: CoreContext, value: str
) -> None:
    with pytest.raises(ValidationError, match="cannot be stored"):
        PersonnelService(ctx).find_by_login(value)
    with pytest.raises(ValidationError, match="cannot be stored"), ctx.db.session() as s:
        s.execute(text("SELECT count(*) FROM personnel WHERE last_name = :v"), {"v": value})
    # The connection is still good afterwards.
    with ctx.db.session() as s:
        assert s.execute(text("SELECT 1")).scalar() == 1


def test_an_integer_beyond_64_bits_is_refused_alike_on_every_engine(db: Database) -> None:
    from pmdesk.core.errors import DatabaseRefused

    with pytest.raises(DatabaseRefused, match="too large"), db.session() as s:
        s.execute(text("SELECT count(*) FROM personnel WHERE id = :v"), {"v": 2**70})


def test_rows_written_many_at_once_are_checked_and_stored(db: Database) -> None:
    """Batched inserts (several rows in one statement, or executemany) pass the same check:
    clean rows are stored, a NUL in any row refuses the batch."""
    from sqlalchemy import delete, func, insert, select

    from pmdesk.core.models import AuditEvent, TrustedIp
    from tests.helpers.databases import stage
    from tests.helpers.staff import add_person

    with stage(db) as s:
        s.execute(delete(AuditEvent))
    rows = [
        {
            "occurred_at": datetime(2026, 12, 1, 12, i, tzinfo=UTC),
            "actor": f"batch {i}",
            "event": "setting.changed",
            "subject": "",
            "address": "",
            "workstation": "",
            "detail": "",
        }
        for i in range(5)
    ]
    person = add_person(db, "batch")
    with stage(db) as s:
        s.execute(insert(AuditEvent), rows)  # executemany
        # The ORM's batched INSERT … RETURNING (SQLite's binds arrive as one flat tuple).
        s.add_all(
            TrustedIp(person_id=person, address=f"192.0.2.{i}", created_at=row["occurred_at"])
            for i, row in enumerate(rows)
        )
    # The batch's own rows (on the hardened leg the relay also logs the trust alerts that the
    # trusted rows below queue, whenever it gets to them).
    batch = select(func.count(AuditEvent.id)).where(AuditEvent.event == "setting.changed")
    with stage(db) as s:
        assert s.execute(batch).scalar() == 5
        assert s.execute(select(func.count(TrustedIp.id))).scalar() == 5
    poisoned = [*rows[:2], {**rows[2], "detail": "a\x00b"}]
    with pytest.raises(ValidationError, match="cannot be stored"), stage(db) as s:
        s.execute(insert(AuditEvent), poisoned)
    with stage(db) as s:
        assert s.execute(batch).scalar() == 5


def test_an_unexpected_error_is_one_line_and_its_traceback_goes_to_the_log(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], isolated_paths: Path
) -> None:
    import pmdesk.commands.common as common

    def boom(*_args: object) -> int:
        raise RuntimeError("a bug somewhere")

    monkeypatch.setattr(common, "run_command", boom)
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        assert cli.main(["db", "status"]) == 1
    finally:
        for handler in root.handlers[:]:
            if handler not in before:
                root.removeHandler(handler)
                handler.close()
    err = capsys.readouterr().err
    log_file = isolated_paths / "pmdesk-log" / "pmdesk.log"
    assert err == f"pmdesk: unexpected error (RuntimeError); details in {log_file}\n"
    logged = log_file.read_text()
    assert "Traceback" in logged and "a bug somewhere" in logged


# --- i. no silently new, empty database --------------------------------------------------------


def test_an_in_memory_database_is_refused() -> None:
    for url in ("sqlite://", "sqlite:///:memory:"):
        for command in (["db", "status"], ["db", "upgrade"], ["db", "upgrade", "--create"]):
            assert_one_line(run_pmdesk("--database", url, *command), "in-memory database")


def test_a_missing_file_or_folder_is_refused_unless_created_on_purpose(tmp_path: Path) -> None:
    no_folder = tmp_path / "typo" / "pmdesk.sqlite3"
    result = run_pmdesk("--database", f"sqlite:///{no_folder}", "db", "upgrade")
    assert_one_line(result, "does not exist")
    assert not no_folder.parent.exists()
    no_file = tmp_path / "pmdeks.sqlite3"
    result = run_pmdesk("--database", f"sqlite:///{no_file}", "db", "status")
    assert_one_line(result, "no such file")
    assert "db upgrade --create" in result.stderr
    assert not no_file.exists()
    made = run_pmdesk("--database", f"sqlite:///{no_file}", "db", "upgrade", "--create")
    assert made.returncode == 0, made.stderr
    assert "upgraded from empty" in made.stdout
    again = run_pmdesk("--database", f"sqlite:///{no_file}", "db", "status")
    assert again.returncode == 0 and "up to date" in again.stdout, again.stderr
    # The environment variable is checked the same way.
    env = {"PMDESK_DATABASE_URL": f"sqlite:///{no_folder}"}
    assert_one_line(run_pmdesk("db", "status", env=env), "PMDESK_DATABASE_URL")


def test_the_default_database_is_still_made_without_asking(isolated_paths: Path) -> None:
    result = run_pmdesk("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert (isolated_paths / "pmdesk-data" / "pmdesk.sqlite3").exists()


@pytest.mark.parametrize("where", ["cannot-create", "a-file"])
def test_an_outbox_folder_that_cannot_be_written_is_refused(
    ctx: CoreContext, tmp_path: Path, where: str
) -> None:
    if where == "cannot-create":
        if not Path("/proc/self").is_dir():
            pytest.skip("needs /proc")
        folder = "/proc/pmdesk-outbox"
    else:
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        folder = str(blocker / "outbox")
    service = SecurityService(ctx)
    current = service.get(ADMIN)
    wanted = replace(current.delivery, method="outbox", outbox_folder=folder)
    with pytest.raises(ValidationError) as refused:
        service.update_delivery(ADMIN, wanted)
    assert "outbox_folder" in refused.value.errors
    assert "cannot be created or written" in refused.value.errors["outbox_folder"]
    assert service.get(ADMIN).delivery.outbox_folder == current.delivery.outbox_folder
    good = tmp_path / "new" / "outbox"
    service.update_delivery(ADMIN, replace(wanted, outbox_folder=str(good)))
    assert good.is_dir() and list(good.iterdir()) == []


# --- j. a sentence of its own for each kind of refusal -----------------------------------------


def _provoke_read_only(db: Database) -> DBAPIError:
    with db.engine.connect() as conn:
        try:
            if db.backend == "sqlite":
                conn.exec_driver_sql("PRAGMA query_only=ON")
            elif db.backend == "mariadb":
                conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
                conn.commit()
            else:
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            conn.exec_driver_sql("UPDATE security_settings SET version = version")
        except DBAPIError as exc:
            return exc
        finally:
            conn.rollback()
            if db.backend == "sqlite":
                conn.exec_driver_sql("PRAGMA query_only=OFF")
            elif db.backend == "mariadb":
                conn.exec_driver_sql("SET SESSION TRANSACTION READ WRITE")
            conn.invalidate()
    raise AssertionError("the write was not refused")


def test_a_read_only_database_is_worded_as_such_on_every_engine(db: Database) -> None:
    from pmdesk.core.db import database_error_message, database_problem

    exc = _provoke_read_only(db)
    message = database_error_message(db.url, exc)
    assert "is read-only here" in message and "Cannot reach" not in message
    assert database_problem(exc) is not None


def test_a_read_only_file_from_the_command_line(sqlite_db: Database) -> None:
    path = sqlite_db.url.database
    sqlite_db.dispose()
    url = f"sqlite:///file:{path}?mode=ro&uri=true"
    result = run_pmdesk(
        "--database",
        url,
        "user",
        "add",
        "first",
        "--email",
        "first@example.com",
        "--group",
        "Administrator",
        "--password-stdin",
        stdin="A-good-long-password\n",
    )
    assert_one_line(result, "is read-only here")


def test_a_number_out_of_the_columns_range_is_worded_as_such_on_every_engine(
    db: Database,
) -> None:
    from pmdesk.core.errors import DatabaseRefused

    value = 2**40 if db.backend != "sqlite" else 2**64  # SQLite integers are 64-bit
    update = text("UPDATE security_settings SET version = :v")
    with (
        pytest.raises(DatabaseRefused, match="A number is too large") as refused,
        db.session() as s,
    ):
        s.execute(update, {"v": value})
    assert "Cannot reach" not in str(refused.value)
    with db.session() as s:
        assert s.execute(text("SELECT max(version) FROM security_settings")).scalar_one() < 2**31


def test_permission_denied_is_worded_as_such_on_every_engine(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pmdesk.core.db import database_error_message
    from pmdesk.core.errors import DatabaseRefused

    if db.backend == "sqlite":
        # A file this account may not write (root may write anything: the check is faked).
        exc = _provoke_read_only(db)
        monkeypatch.setattr(os, "access", lambda *_a, **_k: False)
        message = database_error_message(db.url, exc)
        assert message.startswith("No permission to change the database file"), message
        return
    if db.backend == "postgresql":
        with pytest.raises(DatabaseRefused) as refused, db.session() as s:
            s.execute(text("CREATE ROLE pmdesk_test_no_rights NOLOGIN"))  # rolled back
            s.execute(text("SET LOCAL ROLE pmdesk_test_no_rights"))
            s.execute(text("SELECT count(*) FROM personnel"))
    else:
        user = "pmdesk_no_rights"
        name = db.url.database
        with db.engine.connect() as conn:
            conn.execute(text(f"DROP USER IF EXISTS '{user}'@'%'"))
            conn.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'x-pass-1'"))
            conn.execute(text(f"GRANT SELECT ON `{name}`.alembic_version TO '{user}'@'%'"))
            conn.commit()
        other = Database(db.url.set(username=user, password="x-pass-1"))
        try:
            with pytest.raises(DatabaseRefused) as refused, other.session() as s:
                s.execute(text("SELECT count(*) FROM personnel"))
        finally:
            other.dispose()
            with db.engine.connect() as conn:
                conn.execute(text(f"DROP USER IF EXISTS '{user}'@'%'"))
                conn.commit()
    message = str(refused.value)
    assert "has no permission" in message and "Cannot reach" not in message, message


def test_the_desktop_app_words_a_database_refusal_the_same_way(db: Database) -> None:
    pytest.importorskip("PySide6")
    from pmdesk.ui.errors import error_text

    exc = _provoke_read_only(db)
    assert "is read-only here" in error_text(exc, "Something went wrong")
