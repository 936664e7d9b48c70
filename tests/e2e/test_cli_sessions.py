"""Command-line sessions, as real processes on every engine: ``pmdesk login`` starts one (token in
the OS keyring, its hash in user_sessions), ``whoami`` names it, ``logout`` ends it; without a
valid one the commands that change people, trust, security or delivery refuse with exit 3 and
change nothing; with one they act with that person's rights and in their name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from pmdesk.core.audit import Event
from pmdesk.core.clock import DatabaseClock
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.errors import PermissionDenied
from pmdesk.core.models import (
    Person,
    SecuritySettings,
    TrustedIp,
    UserSession,
)
from pmdesk.core.security import SecurityService
from pmdesk.secrets import MemoryStore
from tests.helpers.cli import audit_of as events
from tests.helpers.cli import database_now as now
from tests.helpers.cli import pmdesk_on as pmdesk
from tests.helpers.cli import (
    real_keyring,
    session_key_of,
    sign_in_admin,
    sign_in_as,
    sign_out_all,
)
from tests.helpers.databases import stage
from tests.helpers.login import cheap_passwords
from tests.helpers.staff import actor as staff_actor
from tests.helpers.staff import add_group, add_person

SIGN_IN_FIRST = "pmdesk: Sign in first: pmdesk login LOGIN\n"
NOT_SIGNED_IN = "Not signed in. Sign in with: pmdesk login LOGIN"
PASSWORD = "Granite-Lantern-Orchard-58"


def session_rows(db: Database) -> list[UserSession]:
    with stage(db) as s:
        rows = list(s.execute(select(UserSession).order_by(UserSession.id)).scalars())
        s.expunge_all()
        return rows


def set_two_factor(db: Database, enabled: bool) -> None:
    with stage(db) as s:
        s.execute(update(SecuritySettings).values(two_factor_enabled=enabled))


def two_factor_on(db: Database) -> bool:
    with stage(db) as s:
        return bool(s.execute(select(SecuritySettings.two_factor_enabled)).scalar_one())


def snapshot(db: Database) -> dict[str, Any]:
    """What the attacks below aim at: settings, trusted addresses, passwords and locks."""
    with stage(db) as s:
        columns = [c.key for c in SecuritySettings.__table__.columns]
        settings = [
            tuple(getattr(row, c) for c in columns)
            for row in s.execute(select(SecuritySettings).order_by(SecuritySettings.id)).scalars()
        ]
        trusted = [
            (t.id, t.person_id, t.address, t.created_at)
            for t in s.execute(select(TrustedIp).order_by(TrustedIp.id)).scalars()
        ]
        people = [
            (
                p.id,
                p.login,
                p.password_hash,
                p.password_changed_at,
                p.locked_until,
                p.failed_logins,
                p.lock_count,
            )
            for p in s.execute(select(Person).order_by(Person.id)).scalars()
        ]
    return {"security_settings": settings, "trusted_ips": trusted, "personnel": people}


# --- pmdesk login, whoami, logout ------------------------------------------------------------


@pytest.mark.slow
def test_login_whoami_and_logout_on_each_engine(db: Database, owner_db: Database) -> None:
    keyring = real_keyring()
    sign_out_all(db)  # nothing left from an earlier test on this server database
    code, out, err = pmdesk(
        db,
        "user", "add", "boss", "--email", "boss@example.com", "--group", "Administrator",
        "--first-name", "Bea", "--last-name", "Boss", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert code == 0, err  # the first administrator: nobody could sign in yet

    code, out, err = pmdesk(db, "whoami")
    assert (code, out, err.strip()) == (1, "", NOT_SIGNED_IN)

    code, out, err = pmdesk(db, "login", "boss", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 0, err
    assert out.splitlines()[0] == "Signed in as boss"
    assert "Commands run as boss until " in out and "pmdesk logout" in out
    assert PASSWORD not in out + err
    token = keyring.get(session_key_of(db))
    assert token, "the session's token is in the keyring"
    (row,) = session_rows(owner_db)  # a hardened server lets no workstation read them
    assert row.kind == "cli"
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert row.expires_at - row.created_at == timedelta(hours=8)

    code, out, err = pmdesk(db, "whoami")
    assert code == 0, err
    match = re.fullmatch(
        r"Signed in as boss \(Bea Boss\) until (\d{4}-\d\d-\d\d \d\d:\d\d)", out.rstrip("\n")
    )
    assert match, out
    until = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M")
    assert abs(until - (datetime.now() + timedelta(hours=8))) < timedelta(minutes=5)

    code, out, err = pmdesk(db, "user", "list")  # signed in: open to boss
    assert code == 0, err
    assert out.splitlines()[1].split()[0] == "boss"

    code, out, err = pmdesk(db, "logout")
    assert (code, out.strip()) == (0, "Signed out."), err
    assert keyring.get(session_key_of(db)) is None
    assert session_rows(owner_db) == []

    code, out, err = pmdesk(db, "whoami")
    assert (code, out, err.strip()) == (1, "", NOT_SIGNED_IN)
    code, out, err = pmdesk(db, "user", "list")
    assert (code, out, err) == (3, "", SIGN_IN_FIRST)
    code, out, err = pmdesk(db, "logout")
    assert (code, out.strip()) == (0, "No session was open: nothing to sign out of."), err


# --- without a session ----------------------------------------------------------------------


@pytest.mark.slow
def test_without_a_session_the_attacks_change_nothing(
    db: Database, owner_db: Database, tmp_path: Path
) -> None:
    """The security review's attacks, with a workstation's database URL and no sign-in."""
    keyring = real_keyring()
    admin = add_person(db, "admin", first_name="Ada", last_name="Admin")
    bob = add_person(db, "bob")
    with stage(db) as s:
        person = s.get(Person, bob)
        assert person is not None
        person.locked_until = now(db) + timedelta(minutes=15)
        person.failed_logins = 5
        person.lock_count = 1
        s.add(TrustedIp(person_id=admin, address="192.0.2.10", created_at=now(db)))
    set_two_factor(db, True)
    sign_out_all(db)
    outbox = tmp_path / "stolen-codes"
    attacks: list[tuple[tuple[str, ...], str]] = [
        (("security", "disable-2fa"), ""),
        (("ip", "trust", "admin", "203.0.113.9"), ""),
        (("user", "passwd", "admin", "--password-stdin"), "x\n"),
        (("user", "unlock", "bob"), ""),
        (("mail", "configure", "--method", "outbox", "--folder", str(outbox)), ""),
        (("security", "set", "--trust-days", "90"), ""),
        (("ip", "remove", "1", "2", "3"), ""),
        (
            ("user", "add", "mallory", "--email", "m@example.com", "--group", "Administrator",
             "--password-stdin"),
            PASSWORD + "\n",
        ),
    ]  # fmt: skip
    before = snapshot(db)

    def attempt(what: str, count: int = len(attacks)) -> None:
        for args, stdin in attacks[:count]:
            code, out, err = pmdesk(db, *args, stdin=stdin)
            assert (code, out, err) == (3, "", SIGN_IN_FIRST), f"{what}: pmdesk {args}"
        assert snapshot(db) == before, what
        assert two_factor_on(db)
        assert not outbox.exists()

    attempt("no session at all")

    # A made-up token, and the hash of admin's real session read from user_sessions.
    keyring.set(session_key_of(db), "made-up-token")
    attempt("a made-up token", 2)
    sign_in_as(db, "admin")
    with owner_db.session() as s:  # read by the owner: a hardened server shows no workstation
        stolen = s.execute(select(UserSession.token_hash)).scalar_one()
    keyring.set(session_key_of(db), stolen)
    before = snapshot(db)
    for args, stdin in attacks[:2]:
        code, out, err = pmdesk(db, *args, stdin=stdin)
        assert (code, out, err) == (3, "", SIGN_IN_FIRST), f"a stolen hash: pmdesk {args}"
    assert snapshot(db) == before
    assert two_factor_on(db)
    sign_out_all(db)


def expire(db: Database, person_id: int) -> None:
    with stage(db) as s:
        s.execute(
            update(UserSession).values(expires_at=DatabaseClock().now(s) - timedelta(minutes=1))
        )


def lock(db: Database, person_id: int) -> None:
    with stage(db) as s:
        person = s.get(Person, person_id)
        assert person is not None
        person.locked_until = DatabaseClock().now(s) + timedelta(minutes=15)


def remove(db: Database, person_id: int) -> None:
    with stage(db) as s:
        s.execute(delete(Person).where(Person.id == person_id))


def change_password(db: Database, person_id: int) -> None:
    """As if set elsewhere without ending the session (the check itself, not the clean-up)."""
    with stage(db) as s:
        started = s.execute(select(UserSession.created_at)).scalar_one()
        person = s.get(Person, person_id)
        assert person is not None
        person.password_hash = cheap_passwords().hash("another password entirely")
        person.password_changed_at = started + timedelta(seconds=1)


def move(db: Database, person_id: int) -> None:
    with stage(db) as s:
        s.execute(update(UserSession).values(address="192.0.2.200"))


@pytest.mark.parametrize(
    "spoil",
    [expire, lock, remove, change_password, move],
    ids=["expired", "locked", "deleted", "password-changed", "other-address"],
)
def test_a_session_that_no_longer_holds_is_refused(
    db: Database, owner_db: Database, spoil: Callable[[Database, int], None]
) -> None:
    sign_in_admin(db)
    with stage(db) as s:
        helpdesk = s.execute(select(Person.id).where(Person.login == "helpdesk")).scalar_one()
    set_two_factor(db, True)
    code, out, err = pmdesk(db, "whoami")
    assert code == 0 and out.startswith("Signed in as helpdesk (Help Desk) until"), err

    spoil(owner_db, helpdesk)  # as the owner: a hardened server lets no workstation do it
    before = snapshot(db)
    code, out, err = pmdesk(db, "security", "disable-2fa")

    assert (code, out, err) == (3, "", SIGN_IN_FIRST)
    assert two_factor_on(db)
    assert snapshot(db) == before
    assert events(db, Event.TWO_FACTOR_DISABLED) == []
    assert session_rows(owner_db) == [], "a session refused is ended"
    code, out, err = pmdesk(db, "whoami")
    assert (code, err.strip()) == (1, NOT_SIGNED_IN)


# --- signed in: that person's rights, that person's name --------------------------------------


def test_signed_in_commands_run_with_that_persons_rights_and_name(
    db: Database, tmp_path: Path
) -> None:
    clerks = add_group(db, "Clerks", {"maintenance": "re", "job": "red"})
    set_two_factor(db, True)

    clerk = sign_in_admin(db, "clerk", group_id=clerks)
    assert clerk == "clerk (cli)"
    with stage(db) as s:
        clerk_id = s.execute(select(Person.id).where(Person.login == "clerk")).scalar_one()
    ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path / "outbox")
    with pytest.raises(PermissionDenied) as refused:
        SecurityService(ctx).get(staff_actor(clerk_id))  # what the core says in the GUI
    before = snapshot(db)

    code, out, err = pmdesk(db, "security", "disable-2fa")

    assert (code, out, err) == (1, "", f"pmdesk: {refused.value}\n")
    assert "System" in err
    assert two_factor_on(db) and snapshot(db) == before
    assert events(db, Event.TWO_FACTOR_DISABLED) == []

    admin = sign_in_admin(db)  # replaces the clerk's session in the keyring
    code, out, err = pmdesk(db, "security", "disable-2fa")
    assert code == 0, err
    assert not two_factor_on(db)
    (row,) = events(db, Event.TWO_FACTOR_DISABLED)
    assert row.actor == admin == "helpdesk (cli)"
    code, out, err = pmdesk(db, "ip", "trust", "clerk", "203.0.113.9")
    assert code == 0, err
    (trusted,) = events(db, Event.IP_TRUSTED)
    assert trusted.actor == admin and trusted.subject == "clerk"
