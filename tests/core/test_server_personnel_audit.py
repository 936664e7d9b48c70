"""The log of people on a hardened PostgreSQL (pmdesk/core/server/personnel_audit_sql.py):
the server writes ``person.created`` / ``person.updated`` / ``person.deleted`` for each change a
session makes, and ``PersonnelService`` no longer does, so each change is logged once, with the
rows the client writes on the other engines.

Each scenario runs through pmdesk's own services on SQLite (the client's rows) and on a
hardened PostgreSQL as the workstation role with a real session (the server's rows), and the
two trails are compared: event, actor, subject, workstation and detail.
"""

from __future__ import annotations

from dataclasses import fields, replace

from sqlalchemy import text

from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.core.server import status
from pmdesk.core.server.personnel_audit_sql import FORM_COLUMNS, STATEMENTS, TRIGGER
from pmdesk.core.sessions import COMMAND_LINE, SessionService
from tests.core.test_server_rules import (
    NEW_PASSWORD,
    WORKSTATION,
    acting,
    hardened,
    hardened_ctx,
    last_audit_id,
    office,
    on_both,
    plain_ctx,
    sign_in,
    trail_since,
)
from tests.helpers.databases import HardenedDatabase, stage
from tests.helpers.login import cheap_passwords
from tests.helpers.pg import sql

# The fixtures of the rules' comparison: a hardened database for this module, a workstation
# context on it, and a SQLite one.
__all__ = ["hardened", "hardened_ctx", "plain_ctx"]

PERSON_EVENTS = ("person.created", "person.updated", "person.deleted")
PASSWORD_AGAIN = "yet another long secret"
CARL = PersonForm(
    first_name="Carl",
    last_name="Peeters",
    number="17",
    email="carl@insypro.com",
    login="carl",
    password=NEW_PASSWORD,
    password_confirm=NEW_PASSWORD,
)


def group_named(ctx: CoreContext, name: str) -> int:
    with stage(ctx.db) as s:
        return int(
            s.execute(text("SELECT id FROM user_groups WHERE name = :n"), {"n": name}).scalar_one()
        )


def logged_by(actor: str, *rows: tuple[str, str, str]) -> list[tuple[str, ...]]:
    """The log rows (event, subject, detail) of ``actor`` at the test's workstation."""
    return [(event, actor, subject, WORKSTATION, detail) for event, subject, detail in rows]


def test_the_form_fields_the_server_names_are_the_forms() -> None:
    """The detail names the same fields as PersonnelService.update: every field of the form
    but the password and its confirmation, in the same (alphabetical) order."""
    expected = sorted(f.name for f in fields(PersonForm) if "password" not in f.name)
    assert list(FORM_COLUMNS) == expected


def test_creating_changing_and_deleting_a_person_is_logged_alike(
    plain_ctx: CoreContext, hardened_ctx: CoreContext
) -> None:
    """An administrator adds Carl, changes several of his fields, moves him to another group,
    saves him unchanged, sets his password, unlocks him and deletes him."""

    def scenario(ctx: CoreContext) -> list[tuple[str, ...]]:
        office(ctx)
        clerks = group_named(ctx, "Clerks")
        boss = acting(ctx, "boss")
        service = PersonnelService(ctx, cheap_passwords())
        mark = last_audit_id(ctx)
        carl = service.create(boss, replace(CARL, group_id=clerks))
        changed = replace(
            carl.form,
            first_name="Karel",
            city="Gent",
            email="karel@insypro.com",
            hourly_cost="42.50",
            visible=False,
            access_planning=True,
        )
        carl = service.update(boss, carl.id, carl.version, changed)
        carl = service.update(boss, carl.id, carl.version, replace(carl.form, group_id=1))
        carl = service.update(boss, carl.id, carl.version, carl.form)
        service.set_password(boss, carl.id, PASSWORD_AGAIN, PASSWORD_AGAIN)
        service.unlock(boss, carl.id)
        carl = service.get(boss, carl.id)
        service.delete(boss, carl.id, carl.version)
        return trail_since(ctx, mark)

    on_both(plain_ctx, hardened_ctx, scenario)
    assert trail_since(hardened_ctx, 0, *PERSON_EVENTS) == logged_by(
        "boss",
        ("person.created", "carl", ""),
        (
            "person.updated",
            "carl",
            "access_planning, city, email, first_name, hourly_cost, visible",
        ),
        ("person.updated", "carl", "group_id"),
        ("person.updated", "carl", ""),
        ("person.deleted", "carl", ""),
    )


def test_a_clerk_on_the_command_line_is_named_as_such_even_renaming_herself(
    plain_ctx: CoreContext, hardened_ctx: CoreContext
) -> None:
    """A clerk (Maintenance Read/Edit) signed in on the command line: 'anne (cli)', also for
    the change that renames her own login (the log names who signed in); a person without a
    login is named by name."""

    def scenario(ctx: CoreContext) -> list[tuple[str, ...]]:
        office(ctx)
        # As a command does: the session resolved from its token (sessions.actor_name).
        token = sign_in(ctx, "anne", COMMAND_LINE).session_token
        anne = SessionService(ctx).resolve(token, workstation=WORKSTATION).actor
        service = PersonnelService(ctx, cheap_passwords())
        mark = last_audit_id(ctx)
        nameless = service.create(anne, PersonForm(last_name="Janssens"))
        service.update(
            anne, nameless.id, nameless.version, replace(nameless.form, first_name="Els")
        )
        me = service.get(anne, anne.person_id or 0)
        service.update(
            anne, me.id, me.version, replace(me.form, login="anna", street="Kerkstraat 1")
        )
        return trail_since(ctx, mark)

    on_both(plain_ctx, hardened_ctx, scenario)
    assert trail_since(hardened_ctx, 0, *PERSON_EVENTS) == logged_by(
        "anne (cli)",
        ("person.created", "Janssens", ""),
        ("person.updated", "Els Janssens", "first_name"),
        ("person.updated", "anna", "login, street"),
    )


def test_the_first_administrator_is_logged_once_by_the_client(
    plain_ctx: CoreContext, hardened_ctx: CoreContext
) -> None:
    """First run adds the first administrator without a session: there is nobody the server
    could name, so the client logs it, once, as on the other engines."""

    def scenario(ctx: CoreContext) -> list[tuple[str, ...]]:
        mark = last_audit_id(ctx)
        PersonnelService(ctx, cheap_passwords()).create_first_administrator(
            Actor(name="system (first run)", workstation=WORKSTATION),
            replace(CARL, login="first", group_id=1),
        )
        return trail_since(ctx, mark)

    on_both(plain_ctx, hardened_ctx, scenario)
    assert trail_since(hardened_ctx, 0, *PERSON_EVENTS) == logged_by(
        "system (first run)", ("person.created", "first", "")
    )


def test_server_status_says_when_the_log_of_people_is_off(hardened: HardenedDatabase) -> None:
    """A trigger switched off by whoever administers the server (the workstation cannot:
    tests/server/test_attacks_audit.py) or never installed is a problem, until init again."""

    def triggers_line() -> status.Line:
        db = Database(hardened.owner_url)
        try:
            return next(line for line in status.report(db) if line.topic == "Triggers")
        finally:
            db.dispose()

    assert triggers_line().level is status.Level.OK
    on_personnel = f"ALTER TABLE pmdesk.personnel %s TRIGGER {TRIGGER}"
    sql(hardened.owner_url, on_personnel % "DISABLE")
    try:
        line = triggers_line()
    finally:
        sql(hardened.owner_url, on_personnel % "ENABLE")
    assert line.level is status.Level.PROBLEM
    assert line.text == f"{TRIGGER} on personnel is disabled: run server init again"
    sql(hardened.owner_url, f"DROP TRIGGER {TRIGGER} ON pmdesk.personnel")
    try:
        line = triggers_line()
    finally:
        for statement in STATEMENTS:
            sql(hardened.owner_url, statement)
    assert line.text == f"{TRIGGER} on personnel is missing: run server init again"
    assert triggers_line().level is status.Level.OK


def test_an_unlock_written_by_hand_is_logged_as_an_unlock(
    hardened: HardenedDatabase, hardened_ctx: CoreContext
) -> None:
    """An administrator's session unlocking someone with raw SQL, not through pmdesk: the
    server logs it as PersonnelService.unlock does (the client then writes no row of its own)."""
    office(hardened_ctx)
    boss = acting(hardened_ctx, "boss")
    carl = PersonnelService(hardened_ctx, cheap_passwords()).create(
        boss, replace(CARL, group_id=group_named(hardened_ctx, "Clerks"))
    )
    sql(
        hardened.owner_url,
        "UPDATE pmdesk.personnel SET failed_logins = 10, lock_count = 1, "
        "locked_until = pmdesk.now() + interval '15 minutes' WHERE id = %s",
        carl.id,
    )
    mark = last_audit_id(hardened_ctx)
    with hardened_ctx.db.write_session() as s:  # the boss's session presented, raw SQL
        s.execute(
            text(
                "UPDATE personnel SET locked_until = NULL, failed_logins = 0, lock_count = 0 "
                "WHERE id = :id"
            ),
            {"id": carl.id},
        )
    assert trail_since(hardened_ctx, mark) == logged_by("boss", ("account.unlocked", "carl", ""))
