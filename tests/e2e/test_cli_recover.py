"""Break-glass recovery: open to the database owner only, confirmed by typing the login again,
audited as ``break-glass``. The attacks: a workstation's database login (a role that can read
and write every table but owns none) and, on SQLite, an account without write access."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import URL

from pmdesk.core.audit import Event
from pmdesk.core.clock import DatabaseClock
from pmdesk.core.db import Database
from pmdesk.core.models import AuditEvent, Person, SecuritySettings
from tests.helpers.cli import database_arg, run_pmdesk
from tests.helpers.databases import (
    ADMIN_URLS,
    stage,
)
from tests.helpers.staff import add_person


def lock(db: Database, person_id: int) -> None:
    with stage(db) as s:
        now = DatabaseClock().now(s)
        s.execute(
            update(Person)
            .where(Person.id == person_id)
            .values(locked_until=now + timedelta(minutes=15), failed_logins=0, lock_count=3)
        )


def state(db: Database) -> tuple[object, ...]:
    with stage(db) as s:
        people = s.execute(
            select(Person.login, Person.locked_until, Person.lock_count).order_by(Person.id)
        ).all()
        two_factor = s.execute(select(SecuritySettings.two_factor_enabled)).scalar()
        glass = s.execute(
            select(AuditEvent.subject, AuditEvent.detail).where(
                AuditEvent.event == Event.BREAK_GLASS.value
            )
        ).all()
    return tuple(people), two_factor, tuple(glass)


@pytest.fixture
def workstation_url(db: Database, owner_db: Database) -> Iterator[str]:
    """A login that may read and write every pmdesk table, as a workstation's would, but owns
    nothing and may grant nothing (on a hardened database: its workstation role)."""
    if owner_db is not db:
        yield database_arg(db)
        return
    name = f"pmdesk_ws_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN_URLS[db.backend], isolation_level="AUTOCOMMIT")
    database = db.url.database
    with admin.connect() as conn:
        if db.backend == "postgresql":
            conn.execute(text(f"CREATE ROLE {name} LOGIN"))
    if db.backend == "postgresql":
        with db.engine.connect() as conn:
            conn.execute(
                text(
                    f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public "
                    f"TO {name}; GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {name}"
                )
            )
            conn.commit()
    else:
        with admin.connect() as conn:
            for host in ("localhost", "127.0.0.1"):
                conn.execute(text(f"CREATE USER '{name}'@'{host}'"))
                grant = "GRANT SELECT, INSERT, UPDATE, DELETE"
                conn.execute(text(f"{grant} ON `{database}`.* TO '{name}'@'{host}'"))
    try:
        yield db.url.set(username=name, password=None).render_as_string(hide_password=False)
    finally:
        if db.backend == "postgresql":
            with db.engine.connect() as conn:  # its grants live in the test database
                conn.execute(text(f"DROP OWNED BY {name}"))
                conn.commit()
        with admin.connect() as conn:
            if db.backend == "postgresql":
                conn.execute(text(f"DROP ROLE {name}"))
            else:
                for host in ("localhost", "127.0.0.1"):
                    conn.execute(text(f"DROP USER '{name}'@'{host}'"))
        admin.dispose()


def test_the_owner_unlocks_with_the_login_typed_again(db: Database, owner_db: Database) -> None:
    admin = add_person(db, "admin")
    lock(db, admin)
    result = run_pmdesk(
        "recover", "unlock", "admin", "--database", database_arg(owner_db), stdin="admin\n"
    )
    assert result.returncode == 0, result.stderr
    assert "Unlocked admin" in result.stdout
    people, _two_factor, glass = state(db)
    assert people == (("admin", None, 0),)
    assert glass == (("admin", "recover unlock: account unlocked"),)


def test_a_mistyped_confirmation_changes_nothing(db: Database, owner_db: Database) -> None:
    admin = add_person(db, "admin")
    lock(db, admin)
    before = state(db)
    result = run_pmdesk(
        "recover", "unlock", "admin", "--database", database_arg(owner_db), stdin="amdin\n"
    )
    assert result.returncode == 1
    assert "does not match: nothing was changed" in result.stderr
    assert state(db) == before


def test_the_owner_turns_two_step_login_off(db: Database, owner_db: Database) -> None:
    add_person(db, "admin")
    with stage(db) as s:
        s.execute(update(SecuritySettings).values(two_factor_enabled=True))
    result = run_pmdesk(
        "recover", "disable-2fa", "--database", database_arg(owner_db), stdin="admin\nadmin\n"
    )
    assert result.returncode == 0, result.stderr
    _people, two_factor, glass = state(db)
    assert two_factor is False
    assert glass == (
        (
            "two-step authentication",
            "recover disable-2fa: two-step authentication turned off for admin",
        ),
    )


# SQLite has no database logins: its attack is the file-access test below.
@pytest.mark.parametrize("db", ["postgresql", "mariadb"], indirect=True)
def test_a_workstations_login_cannot_recover(db: Database, workstation_url: str) -> None:
    admin = add_person(db, "admin")
    lock(db, admin)
    with stage(db) as s:
        s.execute(update(SecuritySettings).values(two_factor_enabled=True))
    before = state(db)
    for args, stdin in ((("unlock", "admin"), "admin\n"), (("disable-2fa",), "admin\nadmin\n")):
        result = run_pmdesk("recover", *args, "--database", workstation_url, stdin=stdin)
        assert result.returncode == 1, result.stdout
        assert "Recovery needs the database owner's URL" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert state(db) == before


def test_on_sqlite_an_account_without_write_access_cannot_recover(sqlite_db: Database) -> None:
    """Another account on the computer that can read the file but not write it is refused."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run pmdesk as another account")
    nobody = pwd.getpwnam("nobody")
    admin = add_person(sqlite_db, "admin")
    lock(sqlite_db, admin)
    sqlite_db.dispose()
    # Outside pytest's private temporary folder, which the other account cannot enter.
    base = Path(tempfile.mkdtemp(prefix="pmdesk-other-account-"))
    try:
        base.chmod(0o755)
        path = base / "shared.sqlite3"
        shutil.copyfile(str(sqlite_db.url.database), path)
        path.chmod(0o644)
        db = Database(URL.create("sqlite+pysqlite", database=str(path)))
        before = state(db)
        home = base / "home"
        home.mkdir()
        shutil.chown(home, nobody.pw_uid, nobody.pw_gid)
        env = {
            **os.environ,
            "PMDESK_CONFIG_DIR": str(home / "config"),
            "PMDESK_DATA_DIR": str(home / "data"),
            "PMDESK_LOG_DIR": str(home / "log"),
            "HOME": str(home),
        }
        result = subprocess.run(
            [
                "setpriv",
                f"--reuid={nobody.pw_uid}",
                f"--regid={nobody.pw_gid}",
                "--clear-groups",
                sys.executable,
                "-m",
                "pmdesk",
                "recover",
                "unlock",
                "admin",
                "--database",
                str(db.url),
            ],
            input="admin\n",
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
            cwd=base,
        )
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Recovery needs write access" in result.stderr
        assert state(db) == before
        db.dispose()
    finally:
        shutil.rmtree(base, ignore_errors=True)
