"""The attack suite, the log of people (docs/server-enforced.md §5.2, §9 4c): a clerk's session
with Maintenance Edit (and Delete) that adds, changes and deletes a person with raw SQL leaves
the same log rows PersonnelService writes, named by the server from the session, and cannot
switch that log off.

Raw SQL over psycopg as the workstation role, presenting the clerk's real token as pmdesk
does. pmdesk's code only sets the stage, as the owner; the owner reads the log back.
"""

from __future__ import annotations

from typing import Any

import psycopg

from pmdesk.core.server.personnel_audit_sql import TRIGGER
from tests.helpers.databases import HardenedDatabase
from tests.helpers.pg import connect, sql
from tests.helpers.staff import FAKE_HASH
from tests.server.test_attacks_writes import NO_RIGHT, attempt, hardened, office

# The attack suite's office: an administrator and a clerk (Maintenance Read/Edit), each with a
# command-line session from a real sign-in at workstation "ws-attack".
__all__ = ["hardened", "office"]

CLERK = "clerk (cli)"
# Every column the table needs, as a raw INSERT must give them (the ORM's defaults are the
# client's).
MALLORY = (
    "INSERT INTO pmdesk.personnel (last_name, first_name, number, street, postcode, city, "
    "country, phone, mobile, email, email_newsletter, email_invoicing, visible, "
    "access_planning, access_notifications, access_inspection, access_webservice, "
    "access_courtesy_car, access_reception, failed_logins, lock_count, created_at, "
    "updated_at, version) VALUES ('Mallory', '', '', '', '', '', '', '', '', '', false, "
    "false, true, false, false, false, false, false, false, 0, 0, now(), now(), 1)"
)
PERSON_LOG = (
    "SELECT event, actor, subject, address, workstation, detail FROM pmdesk.audit_events "
    "WHERE id > %s AND event LIKE 'person.%%' ORDER BY id"
)


def last_log_id(hardened: HardenedDatabase) -> int:
    [(last,)] = sql(hardened.owner_url, "SELECT coalesce(max(id), 0) FROM pmdesk.audit_events")
    return int(last)


def person_log(hardened: HardenedDatabase, since: int) -> list[tuple[str, ...]]:
    return [tuple(row) for row in sql(hardened.owner_url, PERSON_LOG, since)]


def server_seen_address(hardened: HardenedDatabase) -> str:
    """The test's address as the server sees it (the workstation connects from the same)."""
    [(address,)] = sql(hardened.owner_url, "SELECT pmdesk.client_address()")
    return str(address or "")


def may_delete_people(hardened: HardenedDatabase, office: dict[str, Any]) -> None:
    sql(
        hardened.owner_url,
        "UPDATE pmdesk.group_permissions SET can_delete = true "
        "WHERE group_id = %s AND module_key = 'maintenance'",
        office["group"],
    )


def test_a_clerks_raw_sql_on_people_is_logged_as_the_clerk(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    may_delete_people(hardened, office)
    clerk, url = office["tokens"]["clerk"], hardened.workstation_url
    mark = last_log_id(hardened)
    assert attempt(url, clerk, MALLORY) == 1
    changed = attempt(
        url,
        clerk,
        "UPDATE pmdesk.personnel SET city = 'Gent', email = 'm@insypro.com', "
        "number_key = 'x', login = '' WHERE last_name = 'Mallory'",
    )
    assert changed == 1
    assert attempt(url, clerk, "DELETE FROM pmdesk.personnel WHERE last_name = 'Mallory'") == 1
    # The detail names the form's fields that changed: not a search key, and no login is
    # still no login ('' and NULL alike, as the form shows them).
    here = server_seen_address(hardened)
    assert person_log(hardened, mark) == [
        ("person.created", CLERK, "Mallory", here, "ws-attack", ""),
        ("person.updated", CLERK, "Mallory", here, "ws-attack", "city, email"),
        ("person.deleted", CLERK, "Mallory", here, "ws-attack", ""),
    ]


def test_changing_the_session_setting_within_the_statement_does_not_rename_the_actor(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    """The session is read before the row is written, where the guard read it: a RETURNING
    that blanks ``pmdesk.session`` or presents the administrator's token comes too late."""
    clerk, admin = office["tokens"]["clerk"], office["tokens"]["admin"]
    url = hardened.workstation_url
    mark = last_log_id(hardened)
    for token in ("", admin):
        with connect(url) as conn:
            conn.execute("SELECT set_config('pmdesk.session', %s, false)", (clerk,))
            cur = conn.execute(
                "UPDATE pmdesk.personnel SET city = city || 'x' WHERE login = 'clerk' "
                "RETURNING set_config('pmdesk.session', %s, false)",
                (token,),
            )
            assert cur.rowcount == 1
    assert [row[:3] for row in person_log(hardened, mark)] == [
        ("person.updated", CLERK, "clerk"),
        ("person.updated", CLERK, "clerk"),
    ]


def switch_offs() -> list[str]:
    return [
        f"ALTER TABLE pmdesk.personnel DISABLE TRIGGER {TRIGGER}",
        "ALTER TABLE pmdesk.personnel DISABLE TRIGGER ALL",
        f"DROP TRIGGER {TRIGGER} ON pmdesk.personnel",
        "DROP FUNCTION pmdesk.audit_person() CASCADE",
        "CREATE OR REPLACE FUNCTION pmdesk.audit_person() RETURNS trigger "
        "LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
        "SET session_replication_role = replica",
        "ALTER ROLE CURRENT_USER SET session_replication_role = replica",
    ]


def test_the_workstation_cannot_switch_the_log_of_people_off(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    """Not even with the administrator's session: each way is refused, the trigger stays on,
    and the next change is logged."""
    url = hardened.workstation_url
    trigger = (
        "SELECT t.tgenabled, p.proname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
        "WHERE t.tgname = %s AND t.tgrelid = 'pmdesk.personnel'::regclass"
    )
    before = sql(hardened.owner_url, trigger, TRIGGER)
    assert before == [("O", "audit_person")]
    for token in (office["tokens"]["clerk"], office["tokens"]["admin"]):
        for statement in switch_offs():
            with connect(url) as conn:
                conn.execute("SELECT set_config('pmdesk.session', %s, false)", (token,))
                try:
                    conn.execute(statement)
                except psycopg.Error as exc:
                    assert exc.sqlstate in NO_RIGHT, (exc.sqlstate, statement)
                else:
                    raise AssertionError(f"accepted: {statement}")
                # Even if one had passed, the change on the same connection must be logged.
                mark = last_log_id(hardened)
                conn.execute("UPDATE pmdesk.personnel SET city = city || 'x' WHERE login = 'clerk'")
                assert [row[0] for row in person_log(hardened, mark)] == ["person.updated"]
    assert sql(hardened.owner_url, trigger, TRIGGER) == before


def test_the_owner_and_the_servers_own_bookkeeping_log_no_person_rows(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    """As before the trigger: the sign-ins (last login), a wrong password (the failure count),
    the owner's own change and one's own new password are no person.* row (a new password is
    password.changed)."""
    # A wrong password, as the server's sign-in takes it (an argon2 proof that does not match).
    [(answer,)] = sql(
        hardened.workstation_url,
        "SELECT pmdesk.sign_in('clerk', %s, NULL, 'ws-attack', 'cli', '')",
        "A" * 43,
    )
    assert "token" not in answer, answer
    sql(hardened.owner_url, "UPDATE pmdesk.personnel SET city = 'Owner' WHERE login = 'clerk'")
    own = (
        "UPDATE pmdesk.personnel SET password_hash = %s, password_changed_at = now() "
        "WHERE login = 'clerk'"
    )
    [(failures,)] = sql(
        hardened.owner_url, "SELECT failed_logins FROM pmdesk.personnel WHERE login = 'clerk'"
    )
    assert failures == 1
    mark = last_log_id(hardened)
    assert attempt(hardened.workstation_url, office["tokens"]["clerk"], own, FAKE_HASH) == 1
    assert person_log(hardened, 0) == []
    events = sql(hardened.owner_url, "SELECT event FROM pmdesk.audit_events WHERE id > %s", mark)
    assert events == [("password.changed",)]
