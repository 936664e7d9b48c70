"""The attack suite, the lockout (issue 16 §6): with the workstation's database login, raw SQL
cannot change the lockout's thresholds, nor clear the per-address failures and locks, nor
unlock someone beyond one's rights; each refusal has its control (the administrator's own
statement works)."""

from __future__ import annotations

from typing import Any

from tests.helpers.pg import sql
from tests.server import test_attacks_writes as writes
from tests.server.test_attacks_writes import HIDDEN, NO_RIGHT, NOT_SIGNED_IN, attempt, refusal

# The hardened database, and its administrator and clerk with their sessions.
hardened = writes.hardened
office = writes.office

ELSEWHERE = "198.51.100.7"


def lock_at_elsewhere(hardened: Any, person_id: int) -> None:
    sql(
        hardened.owner_url,
        "INSERT INTO pmdesk.login_failures (person_id, address, failed, lock_count, "
        "locked_until, last_failed_at) VALUES (%s, %s, 0, 1, pmdesk.now() + interval '15 min', "
        "pmdesk.now())",
        person_id,
        ELSEWHERE,
    )


def failures(hardened: Any) -> list[tuple[object, ...]]:
    return sql(
        hardened.owner_url,
        "SELECT person_id, address, failed, lock_count, locked_until FROM pmdesk.login_failures "
        "ORDER BY person_id",
    )


def thresholds(hardened: Any) -> list[tuple[object, ...]]:
    return sql(
        hardened.owner_url,
        "SELECT lock_after_failures, first_lock_minutes, max_lock_minutes "
        "FROM pmdesk.security_settings",
    )


def test_the_thresholds_change_only_with_the_right_and_within_bounds(
    hardened: Any, office: dict[str, Any]
) -> None:
    before = thresholds(hardened)
    loosen = (
        "UPDATE pmdesk.security_settings SET lock_after_failures = 100, "
        "first_lock_minutes = 1, max_lock_minutes = 1"
    )
    assert refusal(hardened.workstation_url, None, loosen) in NOT_SIGNED_IN | NO_RIGHT
    assert refusal(hardened.workstation_url, office["tokens"]["clerk"], loosen) in NO_RIGHT
    admin = office["tokens"]["admin"]
    # Even the administrator stays within the bounds (NIST's cap of 100).
    for beyond in (
        "UPDATE pmdesk.security_settings SET lock_after_failures = 1000",
        "UPDATE pmdesk.security_settings SET lock_after_failures = 2",
        "UPDATE pmdesk.security_settings SET first_lock_minutes = 0",
        "UPDATE pmdesk.security_settings SET max_lock_minutes = 100000",
    ):
        assert refusal(hardened.workstation_url, admin, beyond) == "PMD05", beyond
    assert thresholds(hardened) == before
    # The control: a change within the bounds, by the administrator, is taken.
    assert attempt(hardened.workstation_url, admin, loosen) == 1
    assert thresholds(hardened) == [(100, 1, 1)]
    sql(
        hardened.owner_url,
        "UPDATE pmdesk.security_settings SET lock_after_failures = 10, first_lock_minutes = 1, "
        "max_lock_minutes = 15",
    )


def test_nobody_clears_the_address_locks_by_hand(hardened: Any, office: dict[str, Any]) -> None:
    admin_id, clerk_id = office["ids"]["admin"], office["ids"]["clerk"]
    lock_at_elsewhere(hardened, admin_id)
    lock_at_elsewhere(hardened, clerk_id)
    before = failures(hardened)
    statements = [
        ("DELETE FROM pmdesk.login_failures", ()),
        ("UPDATE pmdesk.login_failures SET locked_until = NULL, failed = 0", ()),
        (
            "INSERT INTO pmdesk.login_failures (person_id, address, failed, lock_count) "
            "VALUES (%s, '10.9.9.9', 0, 0)",
            (clerk_id,),
        ),
    ]
    for token in (None, office["tokens"]["clerk"], office["tokens"]["admin"]):
        for statement, params in statements:
            code = refusal(hardened.workstation_url, token, statement, *params)
            assert code in NOT_SIGNED_IN | NO_RIGHT, (code, token, statement)
    # Without a session the list is not even visible.
    assert attempt(hardened.workstation_url, None, "SELECT * FROM pmdesk.login_failures") == 0
    # A clerk cannot unlock an administrator (beyond the clerk's rights).
    unlock = (
        "UPDATE pmdesk.personnel SET locked_until = NULL, failed_logins = 0, lock_count = 0 "
        "WHERE id = %s"
    )
    code = refusal(hardened.workstation_url, office["tokens"]["clerk"], unlock, admin_id)
    assert code in NO_RIGHT | {HIDDEN}
    assert failures(hardened) == before
    # The control: the administrator's unlock of the clerk clears the clerk's address lock
    # (the server does it, and logs the unlock), and only the clerk's.
    assert attempt(hardened.workstation_url, office["tokens"]["admin"], unlock, clerk_id) == 1
    assert [row[0] for row in failures(hardened)] == [admin_id]
    unlocked = sql(
        hardened.owner_url,
        "SELECT subject FROM pmdesk.audit_events WHERE event = 'account.unlocked'",
    )
    assert len(unlocked) == 1
    sql(hardened.owner_url, "DELETE FROM pmdesk.login_failures")
