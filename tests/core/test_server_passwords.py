"""Hardening level 2 on a real PostgreSQL: passwords are verified by the server and cannot be
read, written around, or told apart from unknown logins by their salt.

The attacks use raw SQL with the workstation's login (psycopg, no pmdesk code); the sign-ins go
through pmdesk's own LoginService connected as the workstation, as a desktop app would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from argon2 import PasswordHasher
from sqlalchemy import select

from pmdesk.core.auth import LoginService, Refused, SignedIn
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.models import Person
from pmdesk.core.personnel import PersonnelService
from pmdesk.core.server.meta import HARDENING_LEVEL
from pmdesk.core.sessions import COMMAND_LINE
from pmdesk.secrets import MemoryStore
from tests.helpers.cli import run_pmdesk
from tests.helpers.databases import (
    HardenedDatabase,
    hardened_or_skip,
    stage,
)
from tests.helpers.login import add_user, cheap_passwords
from tests.helpers.pg import sql
from tests.helpers.round_trips import count_round_trips
from tests.helpers.staff import add_person

PASSWORD = "anne's long secret"


@pytest.fixture(scope="module")
def hardened() -> Iterator[HardenedDatabase]:
    with hardened_or_skip() as made:
        yield made


@pytest.fixture
def ws(hardened: HardenedDatabase, clock: ShiftedClock, tmp_path: Path) -> Iterator[CoreContext]:
    """pmdesk connected as the workstation role; every person removed afterwards (by the
    owner: the workstation sees no row without a session)."""
    db = Database(hardened.workstation_url)
    yield CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path, clock=clock)
    db.dispose()
    sql(hardened.owner_url, "DELETE FROM pmdesk.personnel")


def login(ctx: CoreContext, name: str, password: str) -> SignedIn | Refused:
    result = LoginService(
        ctx, passwords=cheap_passwords(), workstation="ws-test", session_kind=COMMAND_LINE
    ).begin(name, password)
    assert isinstance(result, SignedIn | Refused), result
    return result


def stored(hardened: HardenedDatabase, login_name: str) -> tuple[object, ...]:
    rows = sql(
        hardened.owner_url,
        "SELECT p.password_hash, c.salt, c.params, c.verifier, p.failed_logins "
        "FROM pmdesk.personnel p LEFT JOIN pmdesk.credentials c ON c.person_id = p.id "
        "WHERE p.login = %s",
        login_name,
    )
    assert len(rows) == 1
    return rows[0]


def test_a_password_set_by_pmdesk_is_kept_by_the_server_and_signs_in(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    marker, salt, params, verifier, _failures = stored(hardened, "anne")
    assert marker == "server"
    assert params == "m=1024,t=1,p=1" and len(bytes(salt)) == 16  # type: ignore[arg-type]
    assert str(verifier).startswith("$2a$08$")  # bcrypt of the argon2 output, not the output
    assert isinstance(login(ws, "anne", PASSWORD), SignedIn)
    refused = login(ws, "anne", "not the password")
    assert isinstance(refused, Refused)
    assert stored(hardened, "anne")[4] == 1, "the wrong password was counted"


def test_the_workstation_cannot_read_or_write_credentials(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    url = hardened.workstation_url
    before = stored(hardened, "anne")
    for statement in (
        "SELECT * FROM pmdesk.credentials",
        "SELECT * FROM pmdesk.server_secret",
        "UPDATE pmdesk.credentials SET verifier = 'x'",
        "DELETE FROM pmdesk.credentials",
        "INSERT INTO pmdesk.server_secret VALUES (2, '\\x00', 'x')",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            sql(url, statement)
    # Without a session it sees no row; signed in, anne sees the marker, nothing to try
    # passwords against offline.
    assert sql(url, "SELECT password_hash FROM pmdesk.personnel WHERE login = 'anne'") == []
    assert isinstance(login(ws, "anne", PASSWORD), SignedIn)
    with ws.db.session() as s:
        assert s.execute(select(Person.password_hash)).scalars().all() == ["server"]
    assert stored(hardened, "anne") == before


def test_garbage_or_a_bare_marker_in_password_hash_changes_no_password(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    anne = add_user(ws, "anne", PASSWORD)
    add_user(ws, "bob", "bob's long secret")
    url = hardened.workstation_url
    before = stored(hardened, "anne")
    for value in ("x", "$argon2id$v=19$m=4194304,t=3,p=4$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43):
        # Without a session the workstation does not even see the row (it changes nothing,
        # checked below); even the owner, who may, cannot store anything but a well-formed
        # argon2id hash within bounds.
        change = "UPDATE pmdesk.personnel SET password_hash = %s WHERE id = %s"
        sql(url, change, value, anne)
        with pytest.raises(psycopg.Error) as caught:
            sql(hardened.owner_url, change, value, anne)
        assert caught.value.sqlstate == "PMD05"
    assert stored(hardened, "anne") == before
    assert isinstance(login(ws, "anne", PASSWORD), SignedIn)
    # A person without a credential cannot be made to "have a password" by writing the marker.
    eve = add_person(ws.db, "eve", password=False)
    sql(
        hardened.owner_url,
        "UPDATE pmdesk.personnel SET password_hash = 'server' WHERE id = %s",
        eve,
    )
    assert stored(hardened, "eve")[0] is None


def test_unknown_logins_get_a_stable_salt_like_a_real_one(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    url = hardened.workstation_url
    real = sql(url, "SELECT salt, params FROM pmdesk.password_salt('anne')")[0]
    made = sql(url, "SELECT salt, params FROM pmdesk.password_salt('nobody')")[0]
    again = sql(url, "SELECT salt, params FROM pmdesk.password_salt('nobody')")[0]
    other = sql(url, "SELECT salt, params FROM pmdesk.password_salt('somebody')")[0]
    assert made == again != other
    assert len(str(made[0])) == len(str(real[0])) == 22
    assert made[1] == real[1], "the same parameters as the people who exist"
    assert isinstance(login(ws, "nobody", PASSWORD), Refused)


def test_a_new_password_replaces_the_old_one_on_the_server(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    anne = add_user(ws, "anne", PASSWORD)
    old_verifier = stored(hardened, "anne")[3]
    assert isinstance(login(ws, "anne", PASSWORD), SignedIn)  # her own password: signed in
    PersonnelService(ws, passwords=cheap_passwords()).set_password(
        Actor(name="anne", person_id=anne), anne, "a brand new secret", "a brand new secret"
    )
    assert stored(hardened, "anne")[0] == "server"
    assert stored(hardened, "anne")[3] != old_verifier
    assert isinstance(login(ws, "anne", PASSWORD), Refused)
    assert isinstance(login(ws, "anne", "a brand new secret"), SignedIn)


def test_a_salt_fetched_while_the_password_is_typed_makes_the_sign_in_one_call(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    """The dialog fetches the salt when the Username field is left (``get_ready``); the Login
    click is then the server's one call. If the password was changed in between, the server
    does not check the proof made with the old salt (no failure counted): the salt is fetched
    again and the new password signs in."""
    anne = add_user(ws, "anne", PASSWORD)
    login_service = LoginService(
        ws, passwords=cheap_passwords(), workstation="ws-test", session_kind=COMMAND_LINE
    )
    login_service.get_ready("anne")
    with count_round_trips(ws.db) as counter:
        assert isinstance(login_service.begin("anne", PASSWORD), SignedIn)
    assert counter.total == 1, counter.describe()

    login_service.get_ready("anne")
    PersonnelService(ws, passwords=cheap_passwords()).set_password(
        Actor(name="anne", person_id=anne), anne, "a brand new secret", "a brand new secret"
    )
    with count_round_trips(ws.db) as counter:
        assert isinstance(login_service.begin("anne", "a brand new secret"), SignedIn)
    assert counter.total == 3, "the stale salt's call, the salt again, the call again"
    assert stored(hardened, "anne")[4] == 0, "no failure counted for the stale salt"


def test_a_hash_of_the_password_as_typed_is_upgraded_at_sign_in(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    """A hash made before passwords were normalised (NFKC) still signs in, once with the
    password as typed, and is then stored again for its normal form."""
    typed = "ﬁne long secret"  # the 'ﬁ' ligature: NFKC makes it "fi"
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    anne = add_user(ws, "anne", "placeholder password")
    with stage(ws.db) as s:
        person = s.get(Person, anne)
        assert person is not None
        person.password_hash = hasher.hash(typed)  # not normalised, as old pmdesk did
    before = stored(hardened, "anne")
    assert isinstance(login(ws, "anne", typed), SignedIn)
    after = stored(hardened, "anne")
    assert after[3] != before[3], "a new credential, of the normalised password"
    assert isinstance(login(ws, "anne", "fine long secret"), SignedIn)


def test_the_login_code_reads_no_hash_on_a_hardened_database(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    assert isinstance(login(ws, "anne", PASSWORD), SignedIn)  # rows are read by a session
    with ws.db.session() as s:
        hashes = s.execute(select(Person.password_hash)).scalars().all()
    assert hashes == ["server"]
    assert ws.db.hardening_level == HARDENING_LEVEL


def test_status_flags_a_hash_written_around_the_trigger_and_init_repairs_it(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    anne = add_user(ws, "anne", PASSWORD)
    owner = hardened.owner_url
    phc = cheap_passwords().hash(PASSWORD)
    sql(
        owner,
        "ALTER TABLE pmdesk.personnel DISABLE TRIGGER pmdesk_take_password_hash; "
        f"UPDATE pmdesk.personnel SET password_hash = '{phc}' WHERE id = {anne}; "
        "ALTER TABLE pmdesk.personnel ENABLE TRIGGER pmdesk_take_password_hash",
    )
    owner_text = owner.render_as_string(hide_password=False)
    status = run_pmdesk("server", "status", "--database", owner_text)
    assert status.returncode == 1
    assert "1 readable password hashes in personnel" in status.stdout
    again = run_pmdesk("server", "init", "--database", owner_text, "--role-prefix", hardened.prefix)
    assert again.returncode == 0, again.stderr + again.stdout
    assert "Passwords: 1 now verified by the server" in again.stdout
    assert stored(hardened, "anne")[0] == "server"
    assert isinstance(login(ws, "anne", PASSWORD), SignedIn)
