"""Run the real ``pmdesk`` command in a subprocess, as a deployment script would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import datetime

import pytest
from sqlalchemy import select

from pmdesk.core import sessions
from pmdesk.core.audit import Event
from pmdesk.core.clock import DatabaseClock
from pmdesk.core.db import Database
from pmdesk.core.models import AuditEvent, Person
from pmdesk.core.sessions import COMMAND_LINE
from pmdesk.core.validation import login_key
from pmdesk.secrets import SERVICE, KeyringStore, SecretStoreError, session_key
from tests.helpers.databases import (
    owner_url_of,
    servers_required,
    stage,
)
from tests.helpers.pg import sql
from tests.helpers.staff import ADMIN_GROUP_ID, add_person

# The administrator a helpdesk test signs in as (tests/helpers/staff: a fake hash, no argon2).
HELPDESK = "helpdesk"


def database_arg(db: Database) -> str:
    return db.url.render_as_string(hide_password=False)


def run_pmdesk(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pmdesk", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def pmdesk_on(db: Database, *args: str, stdin: str = "") -> tuple[int, str, str]:
    """``pmdesk --database URL ARGS…``: (exit status, stdout, stderr)."""
    result = run_pmdesk("--database", database_arg(db), *args, stdin=stdin)
    return result.returncode, result.stdout, result.stderr


def database_now(db: Database) -> datetime:
    with stage(db) as s:
        return DatabaseClock().now(s)


def audit_of(db: Database, event: Event) -> list[AuditEvent]:
    """The audit rows of one kind, oldest first."""
    with stage(db) as s:
        return list(
            s.execute(
                select(AuditEvent).where(AuditEvent.event == event.value).order_by(AuditEvent.id)
            ).scalars()
        )


def real_keyring(service: str = SERVICE) -> KeyringStore:
    """The OS keyring the ``pmdesk`` processes use (a throwaway one under
    scripts/with-test-env); skips (fails in CI) when there is none."""
    store = KeyringStore(service=service)
    try:
        store.backend_name()
    except SecretStoreError as exc:
        if servers_required():
            pytest.fail(f"no real keyring backend in CI: {exc}")
        pytest.skip(f"no real keyring backend here (run under scripts/with-test-env): {exc}")
    return store


def session_key_of(db: Database) -> str:
    return session_key(db.url.render_as_string(hide_password=True))


def sign_in_as(db: Database, login: str, *, kind: str = COMMAND_LINE) -> str:
    """Start a command-line session for ``login`` as ``pmdesk login`` would after its two steps,
    and keep its token in the real keyring where the ``pmdesk`` processes look for it.

    For tests about what signed-in commands do (``pmdesk login`` itself is tested end to end in
    tests/e2e/test_cli_login.py): no argon2, no code round trip."""
    store = real_keyring()
    if db.server_sessions:
        token = _server_session(db, login, kind)
    else:
        with db.write_session() as s:
            person = s.execute(
                select(Person).where(Person.login_key == login_key(login))
            ).scalar_one()
            token, _ = sessions.start(
                s,
                DatabaseClock().now(s),
                person,
                kind,
                address=db.client_address(s),
                workstation=socket.gethostname(),
            )
    store.set(session_key_of(db), token)
    return token


def _server_session(db: Database, login: str, kind: str) -> str:
    """A session started by the server, as its sign-in would (hardening level 4): the owner
    calls the internal function the workstation may not, from the address the ``pmdesk``
    processes connect from (127.0.0.1)."""
    [(answer,)] = sql(
        owner_url_of(db),
        "SELECT pmdesk.start_session(p.id, %s, %s, %s) FROM pmdesk.personnel p "
        "WHERE p.login_key = %s",
        kind,
        socket.gethostname(),
        sessions.os_user(),
        login_key(login),
    )
    return str(answer["token"])


def sign_in_admin(db: Database, login: str = HELPDESK, *, group_id: int = ADMIN_GROUP_ID) -> str:
    """Add ``login`` (an administrator unless ``group_id`` says otherwise) and sign in as them;
    returns the name the audit trail gives the signed-in commands: ``LOGIN (cli)``."""
    add_person(db, login, group_id=group_id, first_name="Help", last_name="Desk")
    sign_in_as(db, login)
    return sessions.actor_name(login, COMMAND_LINE)


def sign_out_all(db: Database) -> None:
    """Forget this database's session in the keyring (the next command is not signed in)."""
    real_keyring().delete(session_key_of(db))
