"""Hardening level 6, the rules (pmdesk/core/server/rules_sql.py) through pmdesk's own services:
the same refusal, the same audit rows as the client writes on the other engines, written once.

Each scenario runs on SQLite (the client's rules) and on a hardened PostgreSQL, as the
workstation role with a real session (the server's), and the two trails are compared.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text

from pmdesk.core.auth import LoginService
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.errors import LastAdministratorError
from pmdesk.core.login_results import SignedIn
from pmdesk.core.models import AuditEvent, TrustedIp, UserSession
from pmdesk.core.permissions import ADMINISTERED, last_administrator_message
from pmdesk.core.personnel import PersonnelService
from pmdesk.core.sessions import COMMAND_LINE, DESKTOP, SessionService
from pmdesk.secrets import MemoryStore
from tests.helpers.databases import HardenedDatabase, hardened_or_skip, stage
from tests.helpers.login import add_user, cheap_passwords, set_security
from tests.helpers.pg import sql
from tests.helpers.staff import add_group

PASSWORD = "a long enough secret"
NEW_PASSWORD = "another long secret"
WORKSTATION = "ws-rules"


@pytest.fixture(scope="module")
def hardened() -> Iterator[HardenedDatabase]:
    with hardened_or_skip() as made:
        yield made


@pytest.fixture
def hardened_ctx(hardened: HardenedDatabase, tmp_path: Path) -> Iterator[CoreContext]:
    db = Database(hardened.workstation_url)
    yield CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path)
    db.dispose()
    for table in ("trusted_ips", "user_sessions", "audit_events", "personnel"):
        sql(hardened.owner_url, f"DELETE FROM pmdesk.{table}")
    sql(hardened.owner_url, "DELETE FROM pmdesk.user_groups WHERE id <> 1")


@pytest.fixture
def plain_ctx(sqlite_db: Database, tmp_path: Path) -> CoreContext:
    return CoreContext(db=sqlite_db, secrets=MemoryStore(), outbox_default=tmp_path)


def office(ctx: CoreContext) -> dict[str, int]:
    """boss (Administrator) and anne (a clerk: Maintenance Read/Edit), two-step login off."""
    set_security(ctx, two_factor_enabled=False)
    clerks = add_group(ctx.db, "Clerks", {"maintenance": "re"})
    ids = {"boss": add_user(ctx, "boss", PASSWORD), "anne": add_user(ctx, "anne", PASSWORD)}
    with stage(ctx.db) as s:
        s.execute(
            text("UPDATE personnel SET group_id = :g WHERE id = :p"),
            {"g": clerks, "p": ids["anne"]},
        )
    return ids


def sign_in(ctx: CoreContext, login: str, kind: str = COMMAND_LINE) -> SignedIn:
    signed = LoginService(
        ctx, passwords=cheap_passwords(), workstation=WORKSTATION, session_kind=kind
    ).begin(login, PASSWORD)
    assert isinstance(signed, SignedIn), signed
    return signed


def acting(ctx: CoreContext, login: str, kind: str = DESKTOP) -> Actor:
    """The signed-in person's actor; on a hardened database the connections present the
    session, as the desktop app's and the command line's do."""
    signed = sign_in(ctx, login, kind)
    if ctx.db.server_sessions:
        ctx.db.use_session(signed.session_token)
    return signed.actor


def trail_since(ctx: CoreContext, first_id: int, *events: str) -> list[tuple[str, ...]]:
    with stage(ctx.db) as s:
        rows = s.execute(
            select(AuditEvent).where(AuditEvent.id > first_id).order_by(AuditEvent.id)
        ).scalars()
        return [
            (r.event, r.actor, r.subject, r.workstation, r.detail)
            for r in rows
            if not events or r.event in events
        ]


def last_audit_id(ctx: CoreContext) -> int:
    with stage(ctx.db) as s:
        return int(s.execute(select(AuditEvent.id).order_by(AuditEvent.id.desc())).scalar() or 0)


def trust(ctx: CoreContext, person: int, *addresses: str) -> None:
    with stage(ctx.db) as s:
        now = ctx.clock.now(s)
        for address in addresses:
            s.add(TrustedIp(person_id=person, address=address, created_at=now, last_used_at=now))


def trusted(ctx: CoreContext, person: int) -> int:
    with stage(ctx.db) as s:
        return len(s.execute(select(TrustedIp).where(TrustedIp.person_id == person)).all())


Scenario = Callable[[CoreContext], list[tuple[str, ...]]]


def on_both(plain: CoreContext, hardened: CoreContext, scenario: Scenario) -> None:
    assert not plain.db.server_sessions and hardened.db.hardening_level >= 6
    assert scenario(plain) == scenario(hardened)


@pytest.mark.parametrize("setter", ["boss", "anne"])
def test_a_new_password_ends_trust_and_sessions_and_is_audited_once_alike(
    plain_ctx: CoreContext, hardened_ctx: CoreContext, setter: str
) -> None:
    """An administrator sets anne's password (with a session of hers open), or anne her own
    (ending the session she sets it in): one session ended either way."""

    def scenario(ctx: CoreContext) -> list[tuple[str, ...]]:
        ids = office(ctx)
        trust(ctx, ids["anne"], "10.2.0.1", "10.2.0.2")
        if setter != "anne":
            sign_in(ctx, "anne")  # a session of hers the new password ends
        who = acting(ctx, setter)
        mark = last_audit_id(ctx)
        PersonnelService(ctx, cheap_passwords()).set_password(
            who, ids["anne"], NEW_PASSWORD, NEW_PASSWORD
        )
        assert trusted(ctx, ids["anne"]) == 0
        return trail_since(ctx, mark)

    on_both(plain_ctx, hardened_ctx, scenario)
    assert trail_since(hardened_ctx, 0, "password.changed") == [
        (
            "password.changed",
            setter,
            "anne",
            WORKSTATION,
            "trusted addresses removed: 2; sessions ended: 1",
        )
    ]


def test_the_last_administrator_is_refused_with_the_same_sentence(
    plain_ctx: CoreContext, hardened_ctx: CoreContext, hardened: HardenedDatabase
) -> None:
    everything = last_administrator_message(label for _, label in ADMINISTERED)
    for ctx in (plain_ctx, hardened_ctx):
        ids = office(ctx)
        boss = acting(ctx, "boss")
        service = PersonnelService(ctx, cheap_passwords())
        record = service.get(boss, ids["boss"])
        with pytest.raises(LastAdministratorError) as caught:
            service.update(
                boss, ids["boss"], record.version, replace(record.form, group_id=None, login="")
            )
        assert str(caught.value) == everything
    # Past the client's check (its own SQL on the same connection), the server refuses at
    # commit, and pmdesk says the same sentence.
    with pytest.raises(LastAdministratorError) as caught, hardened_ctx.db.write_session() as s:
        s.execute(
            text("DELETE FROM group_permissions WHERE group_id = 1 AND module_key = 'system'")
        )
    assert str(caught.value) == last_administrator_message(["Permissions (System)"])
    [(kept,)] = sql(
        hardened.owner_url,
        "SELECT count(*) FROM pmdesk.group_permissions "
        "WHERE group_id = 1 AND module_key = 'system'",
    )
    assert kept == 1


def test_a_sign_out_after_the_session_ended_elsewhere_is_audited_alike(
    plain_ctx: CoreContext, hardened_ctx: CoreContext, hardened: HardenedDatabase
) -> None:
    """What the desktop app does on Sign out (app._record_sign_out): end the session, and
    when it had already ended (here: the lease lapsed and was swept), record the sign-out."""

    def scenario(ctx: CoreContext) -> list[tuple[str, ...]]:
        office(ctx)
        signed = sign_in(ctx, "anne", DESKTOP)
        live = sign_in(ctx, "boss", DESKTOP)
        sessions = SessionService(ctx)
        login = LoginService(ctx, passwords=cheap_passwords(), workstation=WORKSTATION)
        mark = last_audit_id(ctx)
        if not sessions.end(live.session_token, live.actor):
            login.sign_out(live.actor)
        with stage(ctx.db) as s:
            s.execute(delete(UserSession).where(UserSession.person_id == signed.actor.person_id))
        if not sessions.end(signed.session_token, signed.actor):
            login.sign_out(signed.actor)
        return trail_since(ctx, mark)

    trail = scenario(plain_ctx)
    assert [row[0] for row in trail] == ["session.ended", "signed_out"]
    assert scenario(hardened_ctx) == trail


def test_ones_own_password_through_the_personnel_form(
    plain_ctx: CoreContext, hardened_ctx: CoreContext
) -> None:
    """Saving one's own record with a new password: the change and its two log rows land,
    though on a hardened server the new password ends the session that saves it."""

    def scenario(ctx: CoreContext) -> list[tuple[str, ...]]:
        ids = office(ctx)
        trust(ctx, ids["anne"], "10.2.0.5")
        anne = acting(ctx, "anne")
        service = PersonnelService(ctx, cheap_passwords())
        record = service.get(anne, ids["anne"])
        mark = last_audit_id(ctx)
        form = replace(
            record.form, first_name="Anne", password=NEW_PASSWORD, password_confirm=NEW_PASSWORD
        )
        saved = service.update(anne, ids["anne"], record.version, form)
        assert saved.form.first_name == "Anne" and saved.version == record.version + 1
        assert trusted(ctx, ids["anne"]) == 0
        return trail_since(ctx, mark)

    on_both(plain_ctx, hardened_ctx, scenario)
    assert [
        row[0] for row in trail_since(hardened_ctx, 0, "person.updated", "password.changed")
    ] == [
        "person.updated",
        "password.changed",
    ]


def test_codes_are_compared_through_hmacs_under_a_fresh_key(hardened: HardenedDatabase) -> None:
    """check_code's comparison (its right and wrong codes are tested in test_server_login):
    equal only for the same text, never for a missing one."""
    [row] = sql(
        hardened.owner_url,
        "SELECT pmdesk.same_secret('hmac-sha256$ab', 'hmac-sha256$ab'), "
        "pmdesk.same_secret('hmac-sha256$ab', 'hmac-sha256$ac'), "
        "pmdesk.same_secret('hmac-sha256$ab', 'hmac-sha256$a'), "
        "pmdesk.same_secret(NULL, 'x'), pmdesk.same_secret(NULL, NULL)",
    )
    assert row == (True, False, False, False, False)
    [(body,)] = sql(hardened.owner_url, "SELECT prosrc FROM pg_proc WHERE proname = 'check_code'")
    assert "same_secret(c.code_hash" in body and "c.code_hash =" not in body
