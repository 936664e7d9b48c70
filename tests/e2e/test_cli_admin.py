"""The helpdesk's command line: security, trusted IPs, unlock and password, as real processes,
signed in as an administrator (a command-line session in the real keyring, see
tests/helpers/cli.sign_in_as; ``pmdesk login`` itself is tested in test_cli_login.py)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from pmdesk.core import audit
from pmdesk.core.audit import Event
from pmdesk.core.clock import DatabaseClock
from pmdesk.core.context import Actor
from pmdesk.core.db import Database
from pmdesk.core.models import LoginFailure, Person, SecuritySettings, TrustedIp
from pmdesk.core.passwords import Passwords
from tests.helpers.cli import audit_of as events
from tests.helpers.cli import database_now as now
from tests.helpers.cli import pmdesk_on as pmdesk
from tests.helpers.cli import sign_in_admin
from tests.helpers.databases import stage
from tests.helpers.staff import add_person
from tests.helpers.trusted_ips import trust_addresses

DAY = timedelta(days=1)


def two_factor_on(db: Database) -> bool:
    with stage(db) as s:
        settings = s.get(SecuritySettings, 1)
        assert settings is not None
        return settings.two_factor_enabled


def test_status_and_ip_list_on_each_engine(db: Database) -> None:
    sign_in_admin(db)
    alice = add_person(db, "alice", first_name="Alice", last_name="Adams")
    trust_addresses(db, [(alice, "192.0.2.44", DAY)])

    code, out, err = pmdesk(db, "security", "status")
    assert code == 0, err
    assert "Two step authentication:  Disabled" in out
    assert "Trust an address for:     30 days" in out
    assert "Codes are delivered by:   Outbox folder" in out
    if db.is_sqlite:
        assert "Database link encrypted:  n/a (embedded" in out
    else:
        assert "Database link encrypted:  NO" in out
        assert "This workstation's IP:    127.0.0.1" in out

    code, out, err = pmdesk(db, "ip", "list")
    assert code == 0, err
    header, row, footer = out.splitlines()
    assert header.split() == [
        "Id",
        "IP",
        "Network",
        "Created",
        "(UTC)",
        "User",
        "Name",
        "Expires",
        "(UTC)",
    ]
    assert "192.0.2.44" in row and "alice" in row and "Alice Adams" in row
    assert "Outside office networks" in row
    assert footer == "Viewing items 1-1 of 1"


def test_enable_2fa_refuses_while_people_would_be_shut_out(sqlite_db: Database) -> None:
    db = sqlite_db
    actor = sign_in_admin(db)
    add_person(db, "alice")
    add_person(db, "nomail", email="", first_name="No", last_name="Mail")

    code, out, err = pmdesk(db, "security", "enable-2fa")
    assert code == 1
    assert "1 people could not receive a security code" in out
    assert "nomail" in out and "no e-mail address" in out
    assert err.startswith("pmdesk: Two step authentication stays off") and err.count("\n") == 1
    assert not two_factor_on(db)

    code, out, err = pmdesk(db, "security", "enable-2fa", "--yes")
    assert code == 0, err
    assert "now enabled" in out
    assert two_factor_on(db)
    (row,) = events(db, Event.TWO_FACTOR_ENABLED)
    assert row.actor == actor and "nomail" in row.detail
    code, out, _ = pmdesk(db, "security", "status")
    assert "Two step authentication:  Enabled" in out

    code, out, err = pmdesk(db, "security", "disable-2fa")
    assert code == 0, err
    assert not two_factor_on(db)
    assert [e.actor for e in events(db, Event.TWO_FACTOR_DISABLED)] == [actor]


def test_security_settings_are_validated(sqlite_db: Database) -> None:
    sign_in_admin(sqlite_db)
    code, out, err = pmdesk(sqlite_db, "security", "set", "--trust-days", "91")
    assert code == 1
    assert err.strip() == (
        "pmdesk: Trust an address for must be a whole number of days from 1 to 90."
    )
    code, out, err = pmdesk(sqlite_db, "security", "set", "--trust-days", "14")
    assert code == 0, err
    assert "trusted for 14 days" in out
    code, out, err = pmdesk(sqlite_db, "security", "set", "--session-hours", "0")
    assert code == 1
    assert (
        "The length of a command-line session must be a whole number of hours from 1 to 168." in err
    )
    code, out, err = pmdesk(sqlite_db, "security", "set", "--session-hours", "4")
    assert code == 0, err
    assert "A command-line session lasts 4 hours." in out
    code, out, err = pmdesk(sqlite_db, "security", "status")
    assert "Command-line sessions:    4 hours" in out


def test_the_lockout_thresholds_from_the_command_line(sqlite_db: Database) -> None:
    sign_in_admin(sqlite_db)
    code, out, err = pmdesk(sqlite_db, "security", "set", "--lock-after", "101")
    assert code == 1
    assert err.strip() == (
        "pmdesk: Failures before a lock must be a whole number of failures from 3 to 100."
    )
    code, out, err = pmdesk(
        sqlite_db, "security", "set", "--lock-after", "5", "--max-lock-minutes", "60"
    )
    assert code == 0, err
    assert "Lockout: after 5 failures from one address, 1 to 60 minutes." in out
    code, out, err = pmdesk(sqlite_db, "security", "status")
    assert "Lockout:                  after 5 failures from one address, 1 to 60 minutes" in out


def test_the_helpdesk_mailbox_for_trust_alerts(sqlite_db: Database) -> None:
    sign_in_admin(sqlite_db)
    code, out, err = pmdesk(
        sqlite_db, "security", "set", "--helpdesk-mailbox", "a@example.com, b@example.com"
    )
    assert code == 1
    assert err.strip() == "pmdesk: The helpdesk mailbox: enter one e-mail address only."
    code, out, err = pmdesk(
        sqlite_db, "security", "set", "--helpdesk-mailbox", "Helpdesk <help@example.com>"
    )
    assert code == 0, err
    assert "Trust alerts also go to: Helpdesk <help@example.com>" in out
    code, out, err = pmdesk(sqlite_db, "security", "status")
    assert "Helpdesk mailbox:         Helpdesk <help@example.com>" in out
    assert [e.detail for e in events(sqlite_db, Event.SETTING_CHANGED)][-1] == (
        "helpdesk_mailbox '' → 'Helpdesk <help@example.com>'"
    )


def test_ip_list_remove_and_expire(sqlite_db: Database) -> None:
    db = sqlite_db
    actor = sign_in_admin(db)
    alice = add_person(db, "alice")
    bob = add_person(db, "bob")
    ids = trust_addresses(
        db,
        [
            (alice, "198.51.100.1", DAY),
            (alice, "198.51.100.2", 2 * DAY),
            (bob, "203.0.113.9", 3 * DAY),
            (bob, "203.0.113.10", 31 * DAY),  # expired, not swept yet
        ],
    )

    code, out, err = pmdesk(db, "ip", "list", "--user", "BOB")
    assert code == 0, err
    assert "203.0.113.9" in out and "198.51.100" not in out
    assert out.splitlines()[-1] == "Viewing items 1-2 of 2"
    code, out, err = pmdesk(db, "ip", "list", "--filter", "198.51", "--page-size", "1")
    assert out.splitlines()[1].split()[1] == "198.51.100.1"
    assert out.splitlines()[-1] == "Viewing items 1-1 of 2"
    code, out, err = pmdesk(db, "ip", "list", "--user", "nobody")
    assert (code, err.strip()) == (
        1,
        "pmdesk: No user with the login 'nobody'. See: pmdesk user list",
    )

    code, out, err = pmdesk(db, "ip", "remove", str(ids[0]), "999999")
    assert code == 0, err
    assert out.splitlines() == [
        "Removed 1 trusted address.",
        "1 of the Ids given were not found (already removed?).",
    ]
    code, out, err = pmdesk(db, "ip", "remove", str(ids[0]))
    assert (code, err.strip()) == (1, "pmdesk: No trusted address with that Id.")
    (removed,) = events(db, Event.IP_REMOVED)
    assert removed.subject == "alice" and "198.51.100.1" in removed.detail
    assert removed.actor == actor

    code, out, err = pmdesk(db, "ip", "expire")
    assert code == 0, err
    assert out.strip() == "Removed 1 expired trusted address."
    with stage(db) as s:
        left = sorted(s.execute(select(TrustedIp.address)).scalars())
    assert left == ["198.51.100.2", "203.0.113.9"]
    assert len(events(db, Event.IP_EXPIRED)) == 1

    code, out, err = pmdesk(db, "ip", "trust", "alice", "::ffff:10.20.30.40")
    assert code == 0, err
    assert out.startswith("10.20.30.40 is trusted for alice until ")


def test_user_unlock(sqlite_db: Database) -> None:
    db = sqlite_db
    actor = sign_in_admin(db)
    carol = add_person(db, "carol")
    with stage(db) as s:
        person = s.get(Person, carol)
        assert person is not None
        person.locked_until = now(db) + timedelta(minutes=5)
        person.failed_logins = 10
        person.lock_count = 1

    code, out, err = pmdesk(db, "user", "unlock", "Carol")
    assert code == 0, err
    assert out.strip() == "Unlocked carol: they can sign in again."
    with stage(db) as s:
        person = s.get(Person, carol)
        assert person is not None
        assert (person.locked_until, person.failed_logins) == (None, 0)
    (row,) = events(db, Event.ACCOUNT_UNLOCKED)
    assert row.subject == "carol" and row.actor == actor


def test_user_locked_lists_the_locks_and_unlock_all_clears_them(sqlite_db: Database) -> None:
    db = sqlite_db
    sign_in_admin(db)
    carol = add_person(db, "carol")
    erik = add_person(db, "erik")
    with stage(db) as s:
        person = s.get(Person, carol)
        assert person is not None
        person.locked_until = now(db) + timedelta(minutes=5)
        person.lock_count = 1
        s.add(
            LoginFailure(
                person_id=erik,
                address="203.0.113.9",
                failed=0,
                lock_count=2,
                locked_until=now(db) + timedelta(minutes=2),
            )
        )

    code, out, err = pmdesk(db, "user", "locked")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["Login", "Name", "Where"]
    assert lines[1].split()[0] == "carol" and "everywhere" in lines[1] and "5 min" in lines[1]
    assert lines[2].split()[0] == "erik" and "203.0.113.9" in lines[2] and "2 min" in lines[2]

    code, out, err = pmdesk(db, "user", "unlock")
    assert code == 1 and "--all" in err
    code, out, err = pmdesk(db, "user", "unlock", "--all")
    assert code == 0, err
    assert out.strip().startswith("Unlocked 2: ")
    assert len(events(db, Event.ACCOUNT_UNLOCKED)) == 2
    code, out, err = pmdesk(db, "user", "locked")
    assert (code, out.strip()) == (0, "Nobody is locked now.")


def test_user_unlock_without_a_session_changes_nothing(sqlite_db: Database) -> None:
    db = sqlite_db
    carol = add_person(db, "carol")
    with stage(db) as s:
        person = s.get(Person, carol)
        assert person is not None
        person.locked_until = now(db) + timedelta(minutes=5)
    for args in (("user", "unlock", "--all"), ("user", "unlock", "carol"), ("user", "locked")):
        code, _out, err = pmdesk(db, *args)
        assert code != 0 and "pmdesk login" in err, (args, err)
    with stage(db) as s:
        person = s.get(Person, carol)
        assert person is not None and person.locked_until is not None


def test_user_passwd_sets_the_password_and_ends_trust(sqlite_db: Database) -> None:
    db = sqlite_db
    password = "a brand new secret"
    actor = sign_in_admin(db)
    dave = add_person(db, "dave")
    trust_addresses(db, [(dave, "192.0.2.1", timedelta()), (dave, "192.0.2.2", timedelta())])

    code, out, err = pmdesk(db, "user", "passwd", "dave", "--password-stdin", stdin="short\n")
    assert code == 1
    assert err.strip() == "pmdesk: The password must have at least 8 characters."

    code, out, err = pmdesk(db, "user", "passwd", "dave", "--password-stdin", stdin=password + "\n")
    assert code == 0, err
    assert out.startswith("Password changed for dave; 2 trusted addresses removed")
    assert password not in out + err
    with stage(db) as s:
        person = s.get(Person, dave)
        assert person is not None
        assert Passwords().verify(person.password_hash, password)
        assert s.execute(select(TrustedIp).where(TrustedIp.person_id == dave)).first() is None
    (changed,) = events(db, Event.PASSWORD_CHANGED)
    assert changed.subject == "dave" and password not in changed.detail
    assert changed.actor == actor

    # Without --password-stdin and without a terminal there is nobody to ask.
    code, out, err = pmdesk(db, "user", "passwd", "dave")
    assert code == 1 and "use --password-stdin" in err


def test_ip_trace_names_everyone_and_every_event_at_an_address(sqlite_db: Database) -> None:
    """Issue 16, item 5: ``pmdesk ip trace ADDRESS``, the helpdesk's view of one address."""
    db = sqlite_db
    sign_in_admin(db)
    alice = add_person(db, "alice")
    bob = add_person(db, "bob")
    trust_addresses(db, [(alice, "83.134.100.157", DAY), (bob, "83.134.100.157", 2 * DAY)])
    trust_addresses(db, [(bob, "203.0.113.9", DAY)])
    with stage(db) as s:
        for who, address in (("alice", "83.134.100.157"), ("carol", "203.0.113.9")):
            from_there = Actor(who, person_id=None, address=address, workstation="WS-07")
            audit.record(s, DatabaseClock(), from_there, Event.LOGIN_SUCCEEDED, subject=who)

    code, out, err = pmdesk(db, "ip", "trace", "::ffff:83.134.100.157")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "83.134.100.157 (Outside office networks)"
    assert lines[1] == "Trusted for 2 people:"
    assert " alice " in lines[3] and " bob " in lines[4], "newest first"
    assert "203.0.113.9" not in out, "only that address"
    assert "Events at this address (1, newest first):" in lines
    (event,) = [line for line in lines if "Login succeeded" in line]
    assert "alice" in event and "WS-07" in event
    assert lines[-1] == "Seen there: alice, bob"

    code, out, err = pmdesk(db, "ip", "trace", "192.0.2.")
    assert (code, out) == (2, "")
    assert err.strip() == "pmdesk: '192.0.2.' is not an IP address (192.0.2.10)."
