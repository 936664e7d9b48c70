"""Hardening level 3 on a real PostgreSQL: the server decides every sign-in step.

pmdesk's LoginService runs connected as the workstation role, as a desktop app would; what the
relay would do with a queued code is done here as the database owner (read the code, mark the
row), so these tests see exactly what the server hands out and keeps back. The relay itself is
tested in test_relay*.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from pmdesk.core import codes, lockout
from pmdesk.core.auth import CodeNeeded, LoginService, RefusalReason, Refused, SignedIn
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.errors import DatabaseRefused
from pmdesk.core.login_results import GENERIC_REFUSAL
from pmdesk.core.models import Person
from pmdesk.core.security import SecurityService
from pmdesk.core.server.meta import HARDENING_LEVEL
from pmdesk.core.server.relay_status import NO_RELAY_YET, relay_down
from pmdesk.core.sessions import COMMAND_LINE, SessionService
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.secrets import MemoryStore
from tests.helpers.databases import (
    HardenedDatabase,
    hardened_or_skip,
    stage,
)
from tests.helpers.login import add_user, cheap_passwords
from tests.helpers.pg import sql

PASSWORD = "anne's long secret"
WORKSTATION = "ws-test"


@pytest.fixture(scope="module")
def hardened() -> Iterator[HardenedDatabase]:
    with hardened_or_skip() as made:
        yield made


@pytest.fixture
def ws(hardened: HardenedDatabase, clock: ShiftedClock, tmp_path: Path) -> Iterator[CoreContext]:
    """pmdesk as the workstation role, two-step login on; people and codes removed after."""
    db = Database(hardened.workstation_url)
    owner(hardened, "UPDATE pmdesk.security_settings SET two_factor_enabled = true")
    yield CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path, clock=clock)
    owner(hardened, "DELETE FROM pmdesk.relay_heartbeat")
    owner(hardened, "DELETE FROM pmdesk.code_queue")
    with stage(db) as s:
        s.query(Person).delete()
    db.dispose()


def owner(hardened: HardenedDatabase, statement: str, *params: object) -> list[tuple[object, ...]]:
    return sql(hardened.owner_url, statement, *params)


def service(ctx: CoreContext, workstation: str = WORKSTATION) -> LoginService:
    return LoginService(ctx, passwords=cheap_passwords(), workstation=workstation)


def relay_alive(hardened: HardenedDatabase, seconds_ago: int = 0) -> None:
    owner(
        hardened,
        "INSERT INTO pmdesk.relay_heartbeat (instance, host, pid, version, started_at, "
        "last_seen_at) VALUES (gen_random_uuid(), 'mail01', 1, 'test', pmdesk.now(), "
        "pmdesk.now() - make_interval(secs => %s))",
        seconds_ago,
    )


def queued_code(hardened: HardenedDatabase, challenge: str) -> str:
    """What the relay would read: the newest code queued for this challenge."""
    rows = owner(
        hardened,
        "SELECT code FROM pmdesk.code_queue WHERE challenge_id = %s ORDER BY id DESC LIMIT 1",
        challenge,
    )
    assert rows and rows[0][0], "no code was queued"
    return str(rows[0][0])


def code_needed(ctx: CoreContext, login: str = "anne") -> CodeNeeded:
    result = service(ctx).begin(login, PASSWORD)
    assert isinstance(result, CodeNeeded), result
    return result


def events(hardened: HardenedDatabase) -> list[str]:
    return [
        f"{event} {detail}"
        for event, detail in owner(
            hardened, "SELECT event, detail FROM pmdesk.audit_events ORDER BY id"
        )
    ]


def test_the_limits_the_installed_server_enforces_are_the_clients(
    hardened: HardenedDatabase,
) -> None:
    """What server init installed (read as the workstation), against the client's constants:
    a database set up by another version, or a hand-edited function, would differ."""
    ((installed,),) = sql(hardened.workstation_url, "SELECT pmdesk.limits()")
    assert installed == {
        "max_code_attempts": codes.MAX_CODE_ATTEMPTS,
        "resend_interval_s": codes.RESEND_INTERVAL.total_seconds(),
        "max_challenge_age_s": codes.MAX_CHALLENGE_AGE.total_seconds(),
        "person_cap": lockout.PERSON_CAP,
        "reset_after_s": lockout.RESET_AFTER.total_seconds(),
    }


def test_a_code_is_made_on_the_server_and_the_workstation_never_sees_it(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    started = time.monotonic()
    needed = code_needed(ws)
    # No relay has ever run: said at once, not after waiting for one.
    assert needed.delivery_error == NO_RELAY_YET
    assert time.monotonic() - started < 3
    assert needed.destination == "a***@insypro.com"
    assert needed.attempts_left == codes.MAX_CODE_ATTEMPTS
    assert needed.trust_refused is not None and "loopback" in needed.trust_refused
    code = queued_code(hardened, needed.challenge_id)
    # Stored as an HMAC with a key no login role reads; neither table is open to the workstation.
    stored = owner(
        hardened, "SELECT code_hash FROM pmdesk.login_challenges WHERE id = %s", needed.challenge_id
    )
    assert str(stored[0][0]).startswith("hmac-sha256$") and code not in str(stored[0][0])
    for table in ("login_challenges", "code_queue", "relay_heartbeat", "server_secret"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            sql(hardened.workstation_url, f"SELECT * FROM pmdesk.{table}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            sql(hardened.workstation_url, f"DELETE FROM pmdesk.{table}")

    signed = service(ws).verify(needed.challenge_id, code, trust_this_ip=False)
    assert isinstance(signed, SignedIn) and signed.login == "anne"
    assert signed.display_name == "Anne"
    log = events(hardened)
    assert "login.code_required code valid 10 min" in log
    assert "login.succeeded security code" in log
    # Single use.
    again = service(ws).verify(needed.challenge_id, code, trust_this_ip=False)
    assert isinstance(again, Refused) and "already been used" in again.message


def test_the_sign_in_reports_how_the_relay_fared_with_the_code(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    relay_alive(hardened)
    outcomes = iter(("sent", "failed"))

    def relay_stand_in() -> None:
        """Marks each queued code as the relay would, while the sign-in waits for it."""
        for outcome in outcomes:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                done = owner(
                    hardened,
                    "UPDATE pmdesk.code_queue SET state = %s, code = NULL, error = "
                    "CASE WHEN %s = 'failed' THEN 'The mail server refused the message.' END "
                    "WHERE state = 'queued' RETURNING id",
                    outcome,
                    outcome,
                )
                if done:
                    break
                time.sleep(0.05)

    worker = threading.Thread(target=relay_stand_in)
    worker.start()
    try:
        first = code_needed(ws)
        assert first.delivery_error is None  # sent: the dialog just asks for the code
        owner(hardened, "UPDATE pmdesk.login_challenges SET last_sent_at = NULL")
        second = service(ws).resend(first.challenge_id)
        assert isinstance(second, CodeNeeded)
        assert second.delivery_error == "The mail server refused the message."
    finally:
        worker.join()


def test_a_silent_relay_is_named_with_how_long_ago_it_was_seen(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    relay_alive(hardened, seconds_ago=7 * 60)
    needed = code_needed(ws)
    assert needed.delivery_error == "Codes cannot be sent: the relay was last seen 7 minutes ago."
    assert relay_down(30) is None and relay_down(None) == NO_RELAY_YET


def test_five_wrong_codes_void_it_and_count_towards_the_lockout(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    needed = code_needed(ws)
    code = queued_code(hardened, needed.challenge_id)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    answers = [service(ws).verify(needed.challenge_id, wrong, False) for _ in range(4)]
    assert [a.attempts_left for a in answers if isinstance(a, Refused)] == [4, 3, 2, 1]
    assert isinstance(answers[-1], Refused) and answers[-1].message.endswith("1 attempt left.")
    malformed = service(ws).verify(needed.challenge_id, "１２３４５６", False)  # full-width
    assert isinstance(malformed, Refused) and malformed.reason is RefusalReason.CODE_VOIDED
    # Voided: even the right code no longer works.
    late = service(ws).verify(needed.challenge_id, code, False)
    assert isinstance(late, Refused) and late.reason is RefusalReason.CODE_VOIDED
    assert owner(hardened, "SELECT failed_logins FROM pmdesk.personnel") == [(5,)]
    log = events(hardened)
    assert "code.failed malformed code, attempt 5 of 5" in log
    assert "code.voided after 5 wrong codes" in log


def test_ten_failures_lock_the_account_on_the_server(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    owner(hardened, "UPDATE pmdesk.security_settings SET two_factor_enabled = false")
    add_user(ws, "anne", PASSWORD)
    for _ in range(lockout.MAX_FAILURES):
        refused = service(ws).begin("anne", "wrong")
        assert isinstance(refused, Refused) and refused.message == GENERIC_REFUSAL
    # Locked: the right password is refused with the same sentence.
    locked = service(ws).begin("anne", PASSWORD)
    assert isinstance(locked, Refused) and locked.message == GENERIC_REFUSAL
    until, count = owner(
        hardened,
        "SELECT locked_until - pmdesk.now(), lock_count FROM pmdesk.login_failures",
    )[0]
    assert count == 1 and timedelta(seconds=50) < until <= timedelta(minutes=1)  # type: ignore[operator]
    log = events(hardened)
    assert "account.locked from 127.0.0.1 after 10 failures; lock 1, 1 min" in log
    assert log[-1] == "login.refused reason=locked"
    # The lock over (moved into the past by the owner), the right password signs in.
    owner(hardened, "UPDATE pmdesk.login_failures SET locked_until = pmdesk.now()")
    assert isinstance(service(ws).begin("anne", PASSWORD), SignedIn)
    assert owner(hardened, "SELECT failed_logins, lock_count FROM pmdesk.personnel") == [(0, 0)]
    assert owner(hardened, "SELECT count(*) FROM pmdesk.login_failures") == [(0,)]


def test_a_new_code_waits_30_seconds_and_replaces_the_old_one(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    needed = code_needed(ws)
    first = queued_code(hardened, needed.challenge_id)
    soon = service(ws).resend(needed.challenge_id)
    assert isinstance(soon, Refused) and soon.reason is RefusalReason.TOO_SOON
    assert soon.message.startswith("A new code can be sent in ")
    again = service(ws).begin("anne", PASSWORD)  # typing the password again is no way round
    assert isinstance(again, Refused) and "Sign in again in" in again.message
    owner(
        hardened,
        "UPDATE pmdesk.login_challenges SET last_sent_at = pmdesk.now() - interval '31 seconds'",
    )
    renewed = service(ws).resend(needed.challenge_id)
    assert isinstance(renewed, CodeNeeded) and renewed.challenge_id == needed.challenge_id
    second = queued_code(hardened, needed.challenge_id)
    if second != first:  # one in a million draws the same code again
        stale = service(ws).verify(needed.challenge_id, first, False)
        assert isinstance(stale, Refused) and stale.reason is RefusalReason.WRONG_CODE
    assert isinstance(service(ws).verify(needed.challenge_id, second, False), SignedIn)


def test_a_code_only_works_from_the_workstation_that_asked(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    needed = code_needed(ws)
    code = queued_code(hardened, needed.challenge_id)
    elsewhere = service(ws, workstation="other-pc").verify(needed.challenge_id, code, False)
    assert isinstance(elsewhere, Refused) and elsewhere.reason is RefusalReason.INVALID_CHALLENGE
    assert "login.refused reason=invalid_challenge (other address or workstation)" in events(
        hardened
    )


def test_trust_this_ip_is_refused_by_the_server_for_a_loopback_address(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    needed = code_needed(ws)
    code = queued_code(hardened, needed.challenge_id)
    assert isinstance(service(ws).verify(needed.challenge_id, code, True), SignedIn)
    assert owner(hardened, "SELECT count(*) FROM pmdesk.trusted_ips") == [(0,)]
    assert any(e.startswith("ip.not_trusted address 127.0.0.1: ") for e in events(hardened))


def test_hostile_arguments_get_a_refusal_not_an_error(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    url = hardened.workstation_url
    for statement, args in (
        (
            "SELECT pmdesk.sign_in(%s, %s, %s, %s, %s, %s)",
            ("x" * 100_000, "p" * 100_000, None, "w", "cli", "u" * 100_000),
        ),
        ("SELECT pmdesk.sign_in(%s, %s, %s, %s, %s, %s)", (None,) * 6),
        (
            "SELECT pmdesk.check_code(%s, %s, %s, %s, %s, %s)",
            ("'; DROP TABLE x; --", "1", True, "w", "x" * 100_000, None),
        ),
        ("SELECT pmdesk.check_code(%s, %s, %s, %s, %s, %s)", (None,) * 6),
        ("SELECT pmdesk.resend_code(%s, %s)", ("a" * 43, "w")),
        ("SELECT pmdesk.code_status(%s, %s, %s)", ("a" * 43, "w", 2_000_000_000)),
    ):
        (answer,) = sql(url, statement, *args)[0]
        assert isinstance(answer, dict)
        assert answer.get("outcome", "refused") == "refused" or answer.get("state") == "gone"
    assert owner(hardened, "SELECT failed_logins FROM pmdesk.personnel") == [(0,)]


def test_workstations_leave_the_expiry_sweep_to_the_relay(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    person = add_user(ws, "anne", PASSWORD)
    owner(
        hardened,
        "INSERT INTO pmdesk.trusted_ips (person_id, address, created_at) "
        "VALUES (%s, '10.1.2.3', pmdesk.now() - interval '400 days')",
        person,
    )
    service = TrustedIpService(ws)
    assert service.swept_by_relay
    # The workstation may not touch login attempts any more: its sweep would fail half-way.
    assert service.expire() == 0
    assert owner(hardened, "SELECT count(*) FROM pmdesk.trusted_ips") == [(1,)]
    (removed,) = owner(hardened, "SELECT pmdesk.expire(1000, 'test')")[0]
    assert removed == 1
    assert owner(hardened, "SELECT count(*) FROM pmdesk.trusted_ips") == [(0,)]


def test_the_security_screen_reads_the_relays_heartbeat(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    anne = add_user(ws, "anne", PASSWORD)  # group 1: the administrators
    owner(hardened, "UPDATE pmdesk.security_settings SET two_factor_enabled = false")
    signed = LoginService(
        ws, passwords=cheap_passwords(), workstation=WORKSTATION, session_kind=COMMAND_LINE
    ).begin("anne", PASSWORD)
    assert isinstance(signed, SignedIn)  # the server reads the heartbeat for Security Read
    actor = Actor(name="anne", person_id=anne, workstation=WORKSTATION)
    status = SecurityService(ws).connection_status(actor)
    assert status.relay is not None and status.relay.text == NO_RELAY_YET
    relay_alive(hardened, seconds_ago=5)
    status = SecurityService(ws).connection_status(actor)
    assert status.relay is not None and status.relay.running
    assert status.relay.text == "relay on mail01, last seen 5 s ago"


def test_signing_out_is_audited_by_the_server_once(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    owner(hardened, "UPDATE pmdesk.security_settings SET two_factor_enabled = false")
    add_user(ws, "anne", PASSWORD)
    service = LoginService(
        ws, passwords=cheap_passwords(), workstation=WORKSTATION, session_kind=COMMAND_LINE
    )
    signed = service.begin("anne", PASSWORD)
    assert isinstance(signed, SignedIn) and signed.session_token
    sessions = SessionService(ws)
    assert sessions.end(signed.session_token, signed.actor)
    # As the desktop app does when the session had already ended elsewhere: no error, and the
    # server's own row is the only one.
    assert not sessions.end(signed.session_token, signed.actor)
    service.sign_out(signed.actor)
    assert [e for e in events(hardened) if e.startswith("session.ended")] == [
        "session.ended Command line session: signed out"
    ]


def test_a_database_hardened_by_a_newer_pmdesk_says_so(hardened: HardenedDatabase) -> None:
    owner(hardened, "UPDATE pmdesk.server_meta SET value = '99' WHERE key = 'hardening_level'")
    db = Database(hardened.workstation_url)
    try:
        with pytest.raises(DatabaseRefused) as refused:
            LoginService(
                CoreContext(db=db, secrets=MemoryStore(), outbox_default=Path(".")),
                passwords=cheap_passwords(),
            ).begin("anne", PASSWORD)
        assert "set up for server-enforced mode by a newer pmdesk (hardening 99" in str(
            refused.value
        )
    finally:
        db.dispose()
        owner(
            hardened,
            "UPDATE pmdesk.server_meta SET value = %s WHERE key = 'hardening_level'",
            str(HARDENING_LEVEL),
        )


def test_a_lock_from_another_address_leaves_this_one_free_on_the_server(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    """The server sees the tests at 127.0.0.1 only: failures from elsewhere are counted by
    the server's own record_failure, called as the owner as sign_in would from there."""
    owner(hardened, "UPDATE pmdesk.security_settings SET two_factor_enabled = false")
    anne = add_user(ws, "anne", PASSWORD)
    for _ in range(lockout.MAX_FAILURES):
        owner(
            hardened,
            "SELECT pmdesk.record_failure(%s, 'anne', '198.51.100.7', 'ws-far', pmdesk.now())",
            anne,
        )
    locked_there = owner(
        hardened,
        "SELECT address, locked_until > pmdesk.now() FROM pmdesk.login_failures",
    )
    assert locked_there == [("198.51.100.7", True)]
    assert isinstance(service(ws).begin("anne", PASSWORD), SignedIn)
    # Signing in here forgot the person's count, not the other address's lock.
    assert owner(hardened, "SELECT failed_logins, locked_until FROM pmdesk.personnel") == [
        (0, None)
    ]
    assert owner(hardened, "SELECT address FROM pmdesk.login_failures") == [("198.51.100.7",)]


def test_the_server_locks_everywhere_at_a_hundred_failures(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    owner(hardened, "UPDATE pmdesk.security_settings SET two_factor_enabled = false")
    add_user(ws, "anne", PASSWORD)
    owner(hardened, "UPDATE pmdesk.personnel SET failed_logins = %s", lockout.PERSON_CAP - 1)
    refused = service(ws).begin("anne", "wrong")
    assert isinstance(refused, Refused) and refused.message == GENERIC_REFUSAL
    ((everywhere,),) = owner(hardened, "SELECT locked_until > pmdesk.now() FROM pmdesk.personnel")
    assert everywhere is True
    assert owner(hardened, "SELECT failed, locked_until FROM pmdesk.login_failures") == [(1, None)]
    assert "account.locked everywhere after 100 failures; lock 1, 1 min" in events(hardened)
    assert isinstance(service(ws).begin("anne", PASSWORD), Refused)


def test_the_server_takes_the_thresholds_from_the_settings(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    owner(
        hardened,
        "UPDATE pmdesk.security_settings SET two_factor_enabled = false, "
        "lock_after_failures = 3, first_lock_minutes = 5, max_lock_minutes = 30",
    )
    try:
        add_user(ws, "anne", PASSWORD)
        for _ in range(3):
            assert isinstance(service(ws).begin("anne", "wrong"), Refused)
        ((left,),) = owner(
            hardened, "SELECT locked_until - pmdesk.now() FROM pmdesk.login_failures"
        )
        assert timedelta(minutes=4) < left <= timedelta(minutes=5)  # type: ignore[operator]
        assert "account.locked from 127.0.0.1 after 3 failures; lock 1, 5 min" in events(hardened)
    finally:
        owner(
            hardened,
            "UPDATE pmdesk.security_settings SET lock_after_failures = 10, "
            "first_lock_minutes = 1, max_lock_minutes = 15",
        )
