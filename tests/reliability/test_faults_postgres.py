"""PostgreSQL goes away in the middle of a save.

Without touching the shared server: the session's own backend is terminated from another
connection (``pg_terminate_backend``) just as the save sends its UPDATE or INSERT, as a server
restart or a DBA would. And with a private PostgreSQL instance (initdb in a temporary folder):
stopped and started under a running app. Each time the call fails with one clear
DatabaseUnavailable, nothing half-done is stored, a code sent for an attempt that was not
stored does not work, and the next call reconnects by itself (a pooled connection idle for a
while is pinged before use) and works.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, func, select, text

from pmdesk.core import migrate
from pmdesk.core.auth import CodeNeeded, SignedIn
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.errors import DatabaseUnavailable
from pmdesk.core.models import AuditEvent, LoginChallenge
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.secrets import MemoryStore
from tests.helpers.login import CollectingDelivery, add_user, enable_two_factor, service

ADMIN = Actor.command_line()


class Terminator:
    """Kills the backend of the connection that is about to run a matching statement."""

    def __init__(self, db: Database) -> None:
        self.admin = create_engine(
            db.url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT"
        )
        self.prefix: str | None = None
        self.killed: list[str] = []
        event.listen(db.engine, "before_cursor_execute", self._before)

    def arm(self, prefix: str) -> None:
        self.prefix = prefix

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        prefix = self.prefix
        if prefix is None or not statement.lstrip().startswith(prefix):
            return
        self.prefix = None
        pid = cursor.connection.info.backend_pid
        with self.admin.connect() as admin:
            assert admin.execute(text("SELECT pg_terminate_backend(:p, 5000)"), {"p": pid}).scalar()
        self.killed.append(prefix)

    def close(self) -> None:
        self.admin.dispose()


@pytest.fixture
def pg_ctx(
    db: Database, owner_db: Database, tmp_path: Path
) -> Iterator[tuple[CoreContext, Terminator]]:
    # A Database of its own (the session-wide one is shared with other tests). The command line
    # without a sign-in holds the database's own credentials: on a hardened one, the owner's.
    own = Database(owner_db.url)
    terminator = Terminator(own)
    ctx = CoreContext(
        db=own, secrets=MemoryStore(), outbox_default=tmp_path / "ob", clock=ShiftedClock()
    )
    try:
        yield ctx, terminator
    finally:
        terminator.close()
        own.dispose()


def audit_count(ctx: CoreContext) -> int:
    with ctx.db.session() as s:
        return int(s.execute(select(func.count()).select_from(AuditEvent)).scalar_one())


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_save_whose_session_is_killed(pg_ctx: tuple[CoreContext, Terminator]) -> None:
    ctx, terminator = pg_ctx
    people = PersonnelService(ctx)
    person = people.create(ADMIN, PersonForm(last_name="Before", hourly_cost="10"))
    audited = audit_count(ctx)

    terminator.arm("UPDATE personnel")
    with pytest.raises(DatabaseUnavailable) as info:
        people.update(ADMIN, person.id, person.version, replace(person.form, last_name="After"))
    assert terminator.killed == ["UPDATE personnel"]
    message = str(info.value)
    assert message.startswith("Cannot reach the database postgresql"), message
    assert "\n" not in message

    # Nothing half-done: the old values, the old version, no audit row.
    current = people.get(ADMIN, person.id)
    assert (current.form.last_name, current.version) == ("Before", person.version)
    assert audit_count(ctx) == audited
    # The same save again, on a fresh connection the pool made by itself.
    saved = people.update(ADMIN, person.id, person.version, replace(person.form, last_name="After"))
    assert saved.form.last_name == "After"


@pytest.mark.not_hardened(
    "kills the client's INSERT INTO login_challenges, which a hardened sign-in never sends: "
    "the server's sign_in stores the attempt in the same one call"
)
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_a_login_whose_session_is_killed(pg_ctx: tuple[CoreContext, Terminator]) -> None:
    ctx, terminator = pg_ctx
    add_user(ctx, "alice", "Alice-Password-1")
    enable_two_factor(ctx)
    delivery = CollectingDelivery()
    login = service(ctx, delivery)

    terminator.arm("INSERT INTO login_challenges")
    with pytest.raises(DatabaseUnavailable):
        login.begin("alice", "Alice-Password-1")
    # On a server the code goes out under the person's lock and is stored with the record of
    # its sending (code_sending): the attempt was not stored, so the code that went out does
    # not work, and nothing makes the person wait before asking again.
    lost = [m.code for m in delivery.sent]
    with ctx.db.session() as s:
        assert s.execute(select(func.count()).select_from(LoginChallenge)).scalar_one() == 0

    needed = login.begin("alice", "Alice-Password-1")
    assert isinstance(needed, CodeNeeded) and needed.delivery_error is None
    assert delivery.last_code not in lost
    for code in lost:
        refused = login.verify(needed.challenge_id, code, False)
        assert not isinstance(refused, SignedIn), "a code from an attempt that was not stored"
    terminator.arm("UPDATE login_challenges SET used_at")
    with pytest.raises(DatabaseUnavailable):
        login.verify(needed.challenge_id, delivery.last_code, False)
    # The code was not used up by the failed attempt: typing it again signs in.
    assert isinstance(login.verify(needed.challenge_id, delivery.last_code, False), SignedIn)


# ----- a private instance, stopped and started ----------------------------------------------


# The ``private_postgres`` fixture comes from tests/helpers/private_postgres.py.


@pytest.mark.slow
def test_the_server_stops_and_starts_under_a_running_app(
    private_postgres: Any, tmp_path: Path
) -> None:
    db = Database(private_postgres.url)
    try:
        migrate.upgrade(db)
        ctx = CoreContext(
            db=db, secrets=MemoryStore(), outbox_default=tmp_path / "ob", clock=ShiftedClock()
        )
        people = PersonnelService(ctx)
        add_user(ctx, "alice", "Alice-Password-1")
        enable_two_factor(ctx)
        delivery = CollectingDelivery()
        login = service(ctx, delivery)
        person = people.create(ADMIN, PersonForm(last_name="Before"))

        private_postgres.stop("fast")
        with pytest.raises(DatabaseUnavailable, match="Cannot reach the database"):
            people.update(ADMIN, person.id, person.version, replace(person.form, last_name="X"))
        with pytest.raises(DatabaseUnavailable, match="Cannot reach the database"):
            login.begin("alice", "Alice-Password-1")
        assert delivery.sent == []
        private_postgres.start()

        # Same Database object, same pool: it reconnects by itself.
        saved = people.update(ADMIN, person.id, person.version, replace(person.form, last_name="X"))
        assert saved.version == person.version + 1
        needed = login.begin("alice", "Alice-Password-1")
        assert isinstance(needed, CodeNeeded)
        assert isinstance(login.verify(needed.challenge_id, delivery.last_code, False), SignedIn)
    finally:
        db.dispose()
