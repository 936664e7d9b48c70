"""Hardening level 6 before a sign-in: the workstation reads no row, and ``server_info()``
answers what start-up, first run and the login dialog need (real PostgreSQL, pmdesk connected
as the workstation role, as a desktop app is before anyone signs in).

Each test first shows that reading the table itself gives nothing (so the answer can only come
from the function), then that pmdesk still decides as it does on every other database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from pmdesk.core.auth import LoginService
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.delivery import health
from pmdesk.core.models import Person, SecuritySettings
from pmdesk.core.personnel import AlreadyInitialised, PersonForm, PersonnelService
from pmdesk.core.probe import driver_target, ready_for_login
from pmdesk.core.revisions import head_from_files
from pmdesk.core.server import info
from pmdesk.core.trusted_ips import why_not_trustable
from pmdesk.secrets import MemoryStore
from tests.helpers.databases import HardenedDatabase, hardened_or_skip
from tests.helpers.login import add_user, cheap_passwords
from tests.helpers.pg import sql

PASSWORD = "anne's long secret"


@pytest.fixture(scope="module")
def hardened() -> Iterator[HardenedDatabase]:
    with hardened_or_skip() as made:
        yield made


@pytest.fixture
def ws(hardened: HardenedDatabase, tmp_path: Path) -> Iterator[CoreContext]:
    """pmdesk as the workstation role with no session, on a database the owner cleared (also
    of what ``server init`` logged: the first test of the module sees no more than the rest)."""
    clear(hardened)
    db = Database(hardened.workstation_url)
    yield CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path)
    db.dispose()
    clear(hardened)


def clear(hardened: HardenedDatabase) -> None:
    for statement in (
        "DELETE FROM pmdesk.personnel",
        "DELETE FROM pmdesk.audit_events",
        "DELETE FROM pmdesk.delivery_outcomes",
        "DELETE FROM pmdesk.relay_heartbeat",
        "UPDATE pmdesk.security_settings SET two_factor_enabled = false",
    ):
        sql(hardened.owner_url, statement)


@pytest.fixture
def owner_ctx(hardened: HardenedDatabase, tmp_path: Path) -> Iterator[CoreContext]:
    db = Database(hardened.owner_url)
    yield CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path)
    db.dispose()


def rows_seen(ctx: CoreContext, model: type[object]) -> list[object]:
    with ctx.db.session() as s:
        return list(s.execute(select(model)).scalars())


def ready(url: object) -> bool:
    head = head_from_files()
    assert head is not None
    target = driver_target(str(url.render_as_string(hide_password=False)), Path())
    assert target is not None
    return ready_for_login(target, head)


def test_whether_anyone_can_sign_in_comes_from_the_server(
    hardened: HardenedDatabase, ws: CoreContext, owner_ctx: CoreContext
) -> None:
    people = PersonnelService(ws, cheap_passwords())
    assert ws.db.server_reads
    assert not people.has_users() and not people.anyone_can_sign_in()
    assert not ready(hardened.workstation_url)
    add_user(owner_ctx, "anne", PASSWORD)
    assert rows_seen(ws, Person) == []  # the table shows nothing without a session …
    assert people.has_users() and people.anyone_can_sign_in()  # … the function answers
    assert ready(hardened.workstation_url), "the start-up probe enables Login at once"


def test_first_run_works_once_without_a_session(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    """While nobody can sign in, the workstation adds the first administrator (and sees the
    groups it needs for it); once one exists, the second gets today's sentence."""
    people = PersonnelService(ws, cheap_passwords())
    form = PersonForm(
        last_name="Smets",
        group_id=1,
        login="alice",
        password="correct horse battery",
        password_confirm="correct horse battery",
    )
    people.create_first_administrator(Actor.system("first run"), form)
    assert sql(hardened.owner_url, "SELECT login FROM pmdesk.personnel") == [("alice",)]
    assert sql(hardened.owner_url, "SELECT event FROM pmdesk.audit_events") == [("person.created",)]
    assert rows_seen(ws, Person) == []  # from now on, nothing without a session
    with pytest.raises(AlreadyInitialised, match="Sign in with that account"):
        people.create_first_administrator(
            Actor.system("first run"), PersonForm(**{**form.__dict__, "login": "bob"})
        )
    assert sql(hardened.owner_url, "SELECT count(*) FROM pmdesk.personnel") == [(1,)]


def test_the_login_dialogs_delivery_warning_comes_from_the_server(
    hardened: HardenedDatabase, ws: CoreContext, owner_ctx: CoreContext
) -> None:
    owner = hardened.owner_url
    add_user(owner_ctx, "anne", PASSWORD)  # someone can sign in: nothing shows without a session
    service = LoginService(ws, passwords=cheap_passwords())
    sql(
        owner,
        "UPDATE pmdesk.security_settings SET two_factor_enabled = true, delivery_method = 'smtp'",
    )
    sql(
        owner,
        "INSERT INTO pmdesk.delivery_outcomes (method, last_at, ok, step, message, "
        "failures_in_row) VALUES ('smtp', now(), false, 'connect', 'refused', 1)",
    )
    assert rows_seen(ws, SecuritySettings) == []
    assert service.delivery_warning() == health.LOGIN_WARNING
    sql(owner, "UPDATE pmdesk.delivery_outcomes SET ok = true, step = '', failures_in_row = 0")
    assert service.delivery_warning() is None
    sql(owner, "UPDATE pmdesk.delivery_outcomes SET ok = false, step = 'send', failures_in_row = 2")
    assert service.delivery_warning() == health.LOGIN_WARNING
    sql(owner, "UPDATE pmdesk.security_settings SET two_factor_enabled = false")
    assert service.delivery_warning() is None  # no codes are sent at all


def test_the_relay_and_this_addresss_trust_are_told_before_a_sign_in(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    with ws.db.session() as s:
        before = info.read(s)
        address = ws.db.client_address(s)
    assert before.relay_host is None and before.relay_last_seen_s is None
    # The sentence the client says for this address (loopback here), word for word.
    assert before.trust_refusal == why_not_trustable("postgresql", address)
    assert before.trust_refusal is not None
    sql(
        hardened.owner_url,
        "INSERT INTO pmdesk.relay_heartbeat (instance, host, pid, version, started_at, "
        "last_seen_at) VALUES (gen_random_uuid(), 'mail01', 1, 'x', pmdesk.now(), "
        "pmdesk.now() - interval '5 seconds')",
    )
    with ws.db.session() as s:
        after = info.read(s)
    assert after.relay_host == "mail01"
    assert after.relay_last_seen_s is not None and 4 <= after.relay_last_seen_s <= 60
    assert after.hardening == 6 and after.schema == head_from_files()
