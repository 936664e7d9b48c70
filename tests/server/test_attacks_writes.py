"""The attack suite, writes (docs/server-enforced.md §8.1): what the issue's insider did with
the workstation's database login — insert a trusted address, switch two-step login off, reset a
password, rewrite the log — and what a signed-in clerk does to reach an administrator's rights.

Raw SQL over psycopg as the workstation role, with no session or with the clerk's (the token a
real sign-in gave, presented as pmdesk presents it). pmdesk's code only sets the stage, as the
owner; the owner then reads back that nothing changed. Each refusal is matched by a control
that the same statement works for someone allowed to make it, so no test passes by accident.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.helpers.attack_office import attempt, signed_in_office
from tests.helpers.databases import (
    HardenedDatabase,
    hardened_or_skip,
)
from tests.helpers.pg import sql
from tests.helpers.staff import FAKE_HASH

NOT_SIGNED_IN = {"28000"}  # "Sign in first"
NO_RIGHT = {"PMD01", "42501"}  # the server's permission refusal, or no grant at all
# Since hardening 6 a row the reader may not see is not there for an UPDATE or DELETE with a
# WHERE either (row-level security): the statement changes nothing, without an error.
HIDDEN = "no visible row"


@pytest.fixture(scope="module")
def hardened() -> Iterator[HardenedDatabase]:
    with hardened_or_skip() as made:
        yield made


@pytest.fixture
def office(hardened: HardenedDatabase, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An administrator and a clerk (Maintenance Read/Edit only), each with a session."""
    with signed_in_office(hardened, tmp_path, "clerk", "Clerks", {"maintenance": "re"}) as made:
        yield made
    sql(hardened.owner_url, "UPDATE pmdesk.security_settings SET two_factor_enabled = false")


def refusal(url: URL, token: str | None, statement: str, *params: object) -> str:
    """The SQLSTATE the server refuses this statement with (fails if it is accepted)."""
    try:
        changed = attempt(url, token, statement, *params)
    except psycopg.Error as exc:
        return str(exc.sqlstate)
    if changed == 0 and not statement.startswith("INSERT"):
        return HIDDEN
    raise AssertionError(f"accepted: {statement} {params}")


def state(hardened: HardenedDatabase) -> dict[str, Any]:
    """What the attacks are after, as the owner reads it."""
    return {
        "people": sql(
            hardened.owner_url,
            "SELECT id, login, group_id, password_hash, locked_until, failed_logins "
            "FROM pmdesk.personnel ORDER BY id",
        ),
        "credentials": sql(
            hardened.owner_url, "SELECT person_id, verifier FROM pmdesk.credentials ORDER BY 1"
        ),
        "trusted": sql(hardened.owner_url, "SELECT * FROM pmdesk.trusted_ips ORDER BY id"),
        "settings": sql(hardened.owner_url, "SELECT * FROM pmdesk.security_settings"),
        "rights": sql(hardened.owner_url, "SELECT * FROM pmdesk.group_permissions ORDER BY 1, 2"),
        "log": sql(hardened.owner_url, "SELECT id, event, detail FROM pmdesk.audit_events"),
        "groups": sql(hardened.owner_url, "SELECT id, name FROM pmdesk.user_groups ORDER BY id"),
        "deliveries": sql(hardened.owner_url, "SELECT * FROM pmdesk.delivery_outcomes"),
    }


def insider_statements(office: dict[str, Any]) -> list[tuple[str, tuple[object, ...]]]:
    admin, clerk = office["ids"]["admin"], office["ids"]["clerk"]
    return [
        (
            "INSERT INTO pmdesk.trusted_ips (person_id, address, created_at) "
            "VALUES (%s, '10.9.9.9', now())",
            (admin,),
        ),
        ("UPDATE pmdesk.security_settings SET two_factor_enabled = false, trust_days = 90", ()),
        ("UPDATE pmdesk.personnel SET password_hash = %s WHERE id = %s", (FAKE_HASH, admin)),
        ("UPDATE pmdesk.personnel SET group_id = 1 WHERE id = %s", (clerk,)),
        (
            "UPDATE pmdesk.personnel SET locked_until = NULL, failed_logins = 0 WHERE id = %s",
            (admin,),
        ),
        (
            "UPDATE pmdesk.group_permissions SET can_read = true, can_edit = true, "
            "can_delete = true WHERE group_id = %s",
            (office["group"],),
        ),
        (
            "INSERT INTO pmdesk.personnel (login, login_key, password_hash, group_id, last_name, "
            "first_name, created_at, updated_at, version) "
            "VALUES ('mole', 'mole', %s, 1, 'Mole', '', now(), now(), 1)",
            (FAKE_HASH,),
        ),
        ("DELETE FROM pmdesk.audit_events", ()),
        ("UPDATE pmdesk.audit_events SET detail = 'nothing happened'", ()),
        ("DELETE FROM pmdesk.personnel WHERE id = %s", (admin,)),
        (
            "INSERT INTO pmdesk.user_groups (name, name_key, version) VALUES ('Moles', 'moles', 1)",
            (),
        ),
        ("UPDATE pmdesk.modules SET name = 'x'", ()),
        (
            "INSERT INTO pmdesk.delivery_outcomes (method, last_at, ok, step, message, "
            "failures_in_row) VALUES ('smtp', now(), true, '', 'all well', 0)",
            (),
        ),
    ]


def test_without_a_session_the_workstation_login_changes_nothing(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    before = state(hardened)
    for statement, params in insider_statements(office):
        code = refusal(hardened.workstation_url, None, statement, *params)
        assert code in NOT_SIGNED_IN | NO_RIGHT | {HIDDEN}, (code, statement)
    assert state(hardened) == before


def test_a_clerk_cannot_reach_an_administrators_rights(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    before = state(hardened)
    clerk = office["tokens"]["clerk"]
    for statement, params in insider_statements(office):
        code = refusal(hardened.workstation_url, clerk, statement, *params)
        assert code in NO_RIGHT | {HIDDEN}, (code, statement)
    assert state(hardened) == before


def test_a_guessed_or_stolen_token_from_elsewhere_is_no_session(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    before = state(hardened)
    statement = "UPDATE pmdesk.security_settings SET two_factor_enabled = false"
    assert refusal(hardened.workstation_url, "A" * 43, statement) in NOT_SIGNED_IN
    # The administrator's real token, ended: no longer a session.
    sql(hardened.owner_url, "DELETE FROM pmdesk.user_sessions")
    assert refusal(hardened.workstation_url, office["tokens"]["admin"], statement) in NOT_SIGNED_IN
    assert state(hardened) == before


def test_the_same_writes_work_for_whoever_may_make_them(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    """The controls: an administrator's session may do what the attacks tried, and a clerk
    may change their own password."""
    admin, clerk = office["tokens"]["admin"], office["tokens"]["clerk"]
    url = hardened.workstation_url
    assert (
        attempt(
            url,
            clerk,
            "UPDATE pmdesk.personnel SET password_hash = %s, "
            "password_changed_at = now() WHERE login = 'clerk'",
            FAKE_HASH,
        )
        == 1
    )
    assert attempt(url, admin, "UPDATE pmdesk.security_settings SET two_factor_enabled = true") == 1
    assert (
        attempt(url, admin, "UPDATE pmdesk.personnel SET group_id = 1 WHERE login = 'clerk'") == 1
    )
    assert (
        attempt(
            url,
            admin,
            "INSERT INTO pmdesk.trusted_ips (person_id, address, created_at, trusted_by) "
            "VALUES (%s, '10.9.9.9', now(), 'helpdesk')",
            office["ids"]["admin"],
        )
        == 1
    )
    # ... but not in someone else's name: the row says who really trusted it.
    assert sql(
        hardened.owner_url,
        "SELECT trusted_by FROM pmdesk.trusted_ips WHERE address = '10.9.9.9'",
    ) == [("admin",)]
    # Even an administrator cannot trust an address nobody can be trusted at, nor rewrite the log.
    loopback = refusal(
        url,
        admin,
        "INSERT INTO pmdesk.trusted_ips (person_id, address, created_at) "
        "VALUES (%s, '127.0.0.1', now())",
        office["ids"]["admin"],
    )
    assert loopback == "PMD05"
    assert refusal(url, admin, "DELETE FROM pmdesk.audit_events") in NO_RIGHT
