"""The embedded database is held locked by another program (a backup tool, a second copy of
pmdesk stuck mid-write): a save waits for the busy timeout, then fails with one clear message
(DatabaseUnavailable, never a raw ``OperationalError``), leaves no half-written row, and works
as soon as the lock is gone. The same through the real command line.

The busy timeout (15 s in production) is cut to a fraction of a second here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import func, select

import pmdesk.core.db as core_db
from pmdesk.core.auth import CodeNeeded
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.errors import DatabaseUnavailable
from pmdesk.core.models import AuditEvent, Person
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.secrets import MemoryStore
from tests.helpers.cli import database_arg, sign_in_admin
from tests.helpers.login import CollectingDelivery, add_user, enable_two_factor, service

BUSY_MS = 300

# Another program: takes the write lock and holds it until its stdin is closed.
_HOLDER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("UPDATE security_settings SET trust_days = trust_days")
    print("locked", flush=True)
    sys.stdin.read()
    conn.execute("ROLLBACK")
    """
)


@contextmanager
def held_locked(path: Path) -> Iterator[None]:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        yield
    finally:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.close()
        holder.wait(30)
        holder.stdout.close()


@pytest.fixture
def short_busy_ctx(
    sqlite_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[CoreContext]:
    monkeypatch.setattr(core_db, "SQLITE_BUSY_TIMEOUT_MS", BUSY_MS)
    db = Database(sqlite_db.url)
    try:
        yield CoreContext(
            db=db, secrets=MemoryStore(), outbox_default=tmp_path / "ob", clock=ShiftedClock()
        )
    finally:
        db.dispose()


def counts(db: Database) -> tuple[int, int]:
    with db.session() as s:
        people = s.execute(select(func.count()).select_from(Person)).scalar_one()
        audit = s.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    return int(people), int(audit)


def db_file(db: Database) -> Path:
    assert db.url.database is not None
    return Path(db.url.database)


def test_a_save_against_a_locked_database_fails_clearly_and_leaves_nothing(
    short_busy_ctx: CoreContext,
) -> None:
    ctx = short_busy_ctx
    people = PersonnelService(ctx)
    before = counts(ctx.db)
    form = PersonForm(last_name="Locked", first_name="Out", email="lo@example.com")
    with held_locked(db_file(ctx.db)):
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as info:
            people.create(Actor.command_line(), form)
        waited = time.monotonic() - started
        # Reading still works meanwhile (WAL): the list stays on screen.
        assert people.count(Actor.command_line()) == before[0]
    message = str(info.value)
    assert "busy" in message and "try again" in message, message
    assert "\n" not in message and "OperationalError" not in message
    assert BUSY_MS / 1000 * 0.8 <= waited < 10, "waited for the busy timeout, then gave up"
    assert counts(ctx.db) == before, "no half-written person, no orphan audit row"
    # The lock is gone: the same save works.
    saved = people.create(Actor.command_line(), form)
    assert counts(ctx.db) == (before[0] + 1, before[1] + 1)
    assert saved.form.last_name == "Locked"


def test_a_login_against_a_locked_database_fails_clearly(short_busy_ctx: CoreContext) -> None:
    ctx = short_busy_ctx
    add_user(ctx, "alice", "Alice-Password-1")
    enable_two_factor(ctx)
    delivery = CollectingDelivery()
    login = service(ctx, delivery)
    with held_locked(db_file(ctx.db)), pytest.raises(DatabaseUnavailable, match="busy"):
        login.begin("alice", "Alice-Password-1")
    assert delivery.sent == [], "no code went out for an attempt that was not stored"
    assert isinstance(login.begin("alice", "Alice-Password-1"), CodeNeeded)


_CLI = textwrap.dedent(
    """
    import sys
    import pmdesk.core.db
    pmdesk.core.db.SQLITE_BUSY_TIMEOUT_MS = int(sys.argv[1])
    from pmdesk.cli import main
    raise SystemExit(main(sys.argv[2:]))
    """
)


@pytest.mark.slow
def test_the_command_line_says_so_in_one_line(sqlite_db: Database) -> None:
    url = database_arg(sqlite_db)
    sign_in_admin(sqlite_db)
    args = [sys.executable, "-c", _CLI, str(BUSY_MS), "--database", url, "user", "add", "carol"]
    args += ["--email", "carol@example.com", "--group", "Administrator", "--password-stdin"]
    run = {"input": "Carol-Password-1\n", "capture_output": True, "text": True, "timeout": 120}
    listing = [sys.executable, "-c", _CLI, str(BUSY_MS), "--database", url, "user", "list"]
    with held_locked(db_file(sqlite_db)):
        locked = subprocess.run(args, check=False, env=os.environ, **run)  # type: ignore[call-overload]
        # Reading needs no write lock: the list still shows (statistics refresh is skipped).
        listed = subprocess.run(listing, check=False, env=os.environ, **run)  # type: ignore[call-overload]
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("Login")
    assert locked.returncode == 1
    assert locked.stdout == ""
    lines = locked.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pmdesk: "), locked.stderr
    assert "busy" in lines[0] and "Traceback" not in locked.stderr
    after = subprocess.run(args, check=False, env=os.environ, **run)  # type: ignore[call-overload]
    assert after.returncode == 0, after.stderr
    with sqlite_db.session() as s:
        # The helpdesk who runs the commands, and carol, added once the lock was gone.
        assert s.execute(select(Person.login).order_by(Person.id)).scalars().all() == [
            "helpdesk",
            "carol",
        ]
