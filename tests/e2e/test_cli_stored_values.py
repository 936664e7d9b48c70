"""Values saved under the older hand-written checks that email-validator and libphonenumber now
refuse: `db upgrade` says how many (to anyone, numbers only), `user check` lists them for a
signed-in person who may read Personnel (issue 14, item 4)."""

from __future__ import annotations

from sqlalchemy import update

from pmdesk.core import migrate
from pmdesk.core.db import Database
from pmdesk.core.models import Person
from tests.helpers.cli import pmdesk_on, sign_in_admin, sign_out_all
from tests.helpers.staff import add_person


def test_upgrade_counts_and_check_lists_what_todays_checks_refuse(sqlite_db: Database) -> None:
    sign_in_admin(sqlite_db)
    bob = add_person(sqlite_db, "bob", first_name="Bob", last_name="Maes")
    with sqlite_db.session() as s:  # as an older pmdesk stored them
        s.execute(
            update(Person)
            .where(Person.id == bob)
            .values(mobile="+324701234", email="bob@localhost")
        )

    # A newer pmdesk upgrading the schema counts them once, with no names (open to anyone).
    migrate.downgrade(sqlite_db, "0006")
    code, out, err = pmdesk_on(sqlite_db, "db", "upgrade")
    assert code == 0, err
    assert "Database upgraded from 0006" in out
    assert "2 stored e-mail or phone values no longer pass the checks" in out
    assert "bob" not in out and "+324701234" not in out, "no names to someone not signed in"
    # Up to date, it reads nobody, unless asked.
    code, out, err = pmdesk_on(sqlite_db, "db", "upgrade")
    assert code == 0 and "no longer pass" not in out, err
    code, out, err = pmdesk_on(sqlite_db, "db", "upgrade", "--check-values")
    assert "2 stored e-mail or phone values no longer pass the checks" in out, err

    code, out, err = pmdesk_on(sqlite_db, "user", "check")
    assert code == 1, err
    lines = [line for line in out.splitlines() if line.startswith("bob")]
    assert len(lines) == 2
    assert any("Mobile" in line and "+324701234" in line for line in lines)
    assert any("Email" in line and "bob@localhost" in line for line in lines)

    with sqlite_db.session() as s:
        s.execute(
            update(Person).where(Person.id == bob).values(mobile="+32470123456", email="bob@x.be")
        )
    code, out, _err = pmdesk_on(sqlite_db, "user", "check")
    assert (code, out.strip()) == (
        0,
        "Every stored e-mail address and phone number passes the checks.",
    )
    code, out, _err = pmdesk_on(sqlite_db, "db", "upgrade", "--check-values")
    assert "no longer pass" not in out


def test_check_needs_a_session(sqlite_db: Database) -> None:
    sign_in_admin(sqlite_db)
    sign_out_all(sqlite_db)
    code, out, err = pmdesk_on(sqlite_db, "user", "check")
    assert (code, out) == (3, "")
    assert "Sign in first" in err
