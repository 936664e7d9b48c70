"""Hardening level 4 on a real PostgreSQL: sessions are made and kept by the server.

A sign-in through pmdesk (connected as the workstation role, as a desktop app would) gets a
token the server drew; the server keeps only its hash, in a table the workstation can neither
read nor write. A connection presents the token in the setting ``pmdesk.session``, and
``pmdesk.current_person()`` checks it again on every call with every rule of
``sessions._why_not``. The attacks use raw SQL with the workstation's login (psycopg, no pmdesk
code); whatever was refused is read back as the owner to show that nothing changed.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL

from pmdesk.core import lockout, sessions
from pmdesk.core.auth import CodeNeeded, LoginService, SignedIn
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.db import PRESENT_SESSION, Database
from pmdesk.core.errors import NotFound, NotSignedIn, PermissionDenied
from pmdesk.core.modules import MAINTENANCE, Action
from pmdesk.core.permissions import require, require_within_own_rights
from pmdesk.core.personnel import PersonnelService
from pmdesk.core.server import setup
from pmdesk.core.server.meta import HARDENING_LEVEL
from pmdesk.core.sessions import COMMAND_LINE, DESKTOP, DESKTOP_LEASE, SessionService
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.secrets import MemoryStore
from tests.helpers.databases import HardenedDatabase
from tests.helpers.login import add_user, cheap_passwords
from tests.helpers.pg import sql
from tests.helpers.relay import hardened_for_relay
from tests.helpers.staff import actor, add_group

PASSWORD = "anne's long secret"
WORKSTATION = "ws-test"


@pytest.fixture(scope="module")
def hardened() -> Iterator[HardenedDatabase]:
    with hardened_for_relay() as made:
        yield made


@pytest.fixture
def ws(hardened: HardenedDatabase, clock: ShiftedClock, tmp_path: Path) -> Iterator[CoreContext]:
    """pmdesk as the workstation role, two-step login off; people (their sessions with them),
    groups and the audit trail removed after."""
    db = Database(hardened.workstation_url)
    owner(hardened, "UPDATE pmdesk.security_settings SET two_factor_enabled = false")
    yield CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path, clock=clock)
    db.dispose()
    owner(hardened, "DELETE FROM pmdesk.personnel")
    owner(hardened, "DELETE FROM pmdesk.user_groups WHERE id <> 1")
    owner(hardened, "DELETE FROM pmdesk.audit_events")


def owner(hardened: HardenedDatabase, statement: str, *params: object) -> list[tuple[Any, ...]]:
    return sql(hardened.owner_url, statement, *params)


def as_workstation(
    url: URL,
    token: str | None,
    statement: str,
    *params: object,
    host: str | None = None,
    first: str | None = None,
) -> list[tuple[Any, ...]]:
    """``statement`` on a connection of its own that presents ``token`` as pmdesk does (and
    runs ``first`` before it)."""
    with psycopg.connect(
        host=host or url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        dbname=url.database,
        autocommit=True,
    ) as conn:
        if token is not None:
            conn.execute(PRESENT_SESSION, {"token": token})
        if first is not None:
            conn.execute(first)
        cur = conn.execute(statement, params or None)  # type: ignore[arg-type]
        return list(cur.fetchall()) if cur.description else []


def current_person(hardened: HardenedDatabase, token: str | None, **kwargs: Any) -> object:
    return as_workstation(
        hardened.workstation_url, token, "SELECT pmdesk.current_person()", **kwargs
    )[0][0]


def sign_in(ctx: CoreContext, login: str = "anne", kind: str | None = COMMAND_LINE) -> SignedIn:
    service = LoginService(
        ctx, passwords=cheap_passwords(), workstation=WORKSTATION, session_kind=kind
    )
    result = service.begin(login, PASSWORD)
    assert isinstance(result, SignedIn), result
    return result


def token_of(signed: SignedIn) -> str:
    assert signed.session_token is not None
    return signed.session_token


def session_rows(hardened: HardenedDatabase) -> list[tuple[Any, ...]]:
    return owner(
        hardened,
        "SELECT id, person_id, kind, address, workstation, created_at, expires_at, "
        "last_used_at FROM pmdesk.user_sessions ORDER BY id",
    )


def events(hardened: HardenedDatabase, event: str) -> list[tuple[Any, ...]]:
    return owner(
        hardened,
        "SELECT actor, subject, address, workstation, detail FROM pmdesk.audit_events "
        "WHERE event = %s ORDER BY id",
        event,
    )


def refused_reason(ctx: CoreContext, token: str) -> str:
    with pytest.raises(NotSignedIn) as caught:
        SessionService(ctx).resolve(token, workstation=WORKSTATION)
    return caught.value.reason


# --- the session the sign-in starts -------------------------------------------------------------


def test_a_sign_in_gets_a_session_the_server_made_and_keeps_only_its_hash(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    anne = add_user(ws, "anne", PASSWORD, first_name="Anne", last_name="Adams")
    signed = sign_in(ws)
    token = token_of(signed)
    assert sessions._TOKEN.fullmatch(token)
    [row] = owner(
        hardened,
        "SELECT token_hash, person_id, kind, address, workstation, os_user, "
        "expires_at - created_at, last_used_at = created_at FROM pmdesk.user_sessions",
    )
    assert row[0] == hashlib.sha256(token.encode()).hexdigest() == sessions.hash_token(token)
    assert row[1:6] == (anne, COMMAND_LINE, "127.0.0.1", WORKSTATION, sessions.os_user())
    assert row[6] == timedelta(hours=8) and row[7]
    [(expires_at,)] = owner(
        hardened, "SELECT expires_at AT TIME ZONE 'UTC' FROM pmdesk.user_sessions"
    )
    assert signed.session_expires_at == expires_at


def test_the_session_the_server_started_is_the_processs_identity(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    anne = add_user(ws, "anne", PASSWORD, first_name="Anne", last_name="Adams")
    signed = sign_in(ws)
    token = token_of(signed)
    assert ws.db.session_token == token
    with ws.db.session() as s:
        assert s.execute(text("SELECT pmdesk.current_person()")).scalar() == anne
    # The token is nowhere in the database: not in a row, not in the audit trail.
    dumped = owner(
        hardened,
        "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM pmdesk.user_sessions) t "
        "UNION ALL SELECT string_agg(a::text, ' ') FROM pmdesk.audit_events a",
    )
    assert all(token not in str(text_) for (text_,) in dumped)
    assert [e[:2] + e[3:] for e in events(hardened, "session.started")] == [
        ("anne", "anne", WORKSTATION, "Command line")
    ]
    active = SessionService(ws).resolve(token, workstation=WORKSTATION)
    assert (active.login, active.display_name, active.actor.name) == (
        "anne",
        "Anne Adams",
        "anne (cli)",
    )
    assert active.actor.person_id == anne and active.kind == COMMAND_LINE


def test_a_desktop_session_is_a_five_minute_lease(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    sign_in(ws, kind=DESKTOP)
    [(kind, lasts)] = owner(
        hardened, "SELECT kind, expires_at - created_at FROM pmdesk.user_sessions"
    )
    assert (kind, lasts) == (DESKTOP, DESKTOP_LEASE)
    assert events(hardened, "session.started")[0][-1] == "Desktop app"


def test_the_session_length_is_the_security_setting(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    owner(hardened, "UPDATE pmdesk.security_settings SET session_hours = 2")
    try:
        sign_in(ws)
    finally:
        owner(hardened, "UPDATE pmdesk.security_settings SET session_hours = 8")
    assert owner(hardened, "SELECT expires_at - created_at FROM pmdesk.user_sessions") == [
        (timedelta(hours=2),)
    ]


def test_a_sign_in_without_a_session_kind_starts_none(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    signed = sign_in(ws, kind=None)
    assert signed.session_token is None and signed.session_expires_at is None
    assert session_rows(hardened) == [] and events(hardened, "session.started") == []
    assert ws.db.session_token is None


def test_the_code_step_starts_the_session_too(hardened: HardenedDatabase, ws: CoreContext) -> None:
    anne = add_user(ws, "anne", PASSWORD)
    owner(hardened, "UPDATE pmdesk.security_settings SET two_factor_enabled = true")
    service = LoginService(
        ws, passwords=cheap_passwords(), workstation=WORKSTATION, session_kind=DESKTOP
    )
    needed = service.begin("anne", PASSWORD)
    assert isinstance(needed, CodeNeeded)
    assert session_rows(hardened) == []
    [(code,)] = owner(
        hardened, "SELECT code FROM pmdesk.code_queue WHERE challenge_id = %s", needed.challenge_id
    )
    signed = service.verify(needed.challenge_id, str(code), False)
    assert isinstance(signed, SignedIn)
    assert current_person(hardened, token_of(signed)) == anne
    owner(hardened, "DELETE FROM pmdesk.code_queue")


# --- current_person(): every rule, on every statement ------------------------------------------


def test_current_person_is_null_without_the_right_token(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    anne = add_user(ws, "anne", PASSWORD)
    token = token_of(sign_in(ws))
    assert current_person(hardened, token) == anne
    stored_hash = sessions.hash_token(token)
    for presented in (None, "", "guess", token[:-1], token + "x", stored_hash, token.upper()):
        assert current_person(hardened, presented) is None, presented
    # SET and set_config carry a secret, not a claim: a guess is a guess at 256 bits.
    url = hardened.workstation_url
    for guess in ("guess", stored_hash):
        assert as_workstation(
            url, None, "SELECT pmdesk.current_person()", first=f"SET pmdesk.session = '{guess}'"
        ) == [(None,)]
    assert as_workstation(
        url, None, "SELECT set_config('pmdesk.session', 'x', false), pmdesk.current_person()"
    ) == [("x", None)]


def test_the_workstation_cannot_preset_the_token_for_other_connections(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    url = hardened.workstation_url
    role = url.username
    for statement in (
        f"ALTER ROLE {role} SET pmdesk.session = 'planted'",
        f"ALTER ROLE {role} IN DATABASE {url.database} SET pmdesk.session = 'planted'",
        f"ALTER DATABASE {url.database} SET pmdesk.session = 'planted'",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            as_workstation(url, None, statement)
    assert owner(
        hardened,
        "SELECT count(*) FROM pg_db_role_setting WHERE array_to_string(setconfig, ',') "
        "LIKE '%%pmdesk.session%%'",
    ) == [(0,)]
    assert as_workstation(url, None, "SELECT current_setting('pmdesk.session', true)") == [(None,)]


def _spoil(hardened: HardenedDatabase, how: str, person: int) -> None:
    statements = {
        "expired": "UPDATE pmdesk.user_sessions SET expires_at = pmdesk.now() - interval '1 s'",
        "address": "UPDATE pmdesk.user_sessions SET address = '192.0.2.7'",
        "locked": "UPDATE pmdesk.personnel SET locked_until = pmdesk.now() + interval '15 min' "
        "WHERE id = %s",
        "password": "UPDATE pmdesk.personnel SET password_changed_at = pmdesk.now() WHERE id = %s",
        "deleted": "UPDATE pmdesk.personnel SET login = NULL, login_key = NULL WHERE id = %s",
    }
    statement = statements[how]
    owner(hardened, statement, *((person,) if "%s" in statement else ()))


SPOILS = ("expired", "address", "locked", "password", "deleted")


@pytest.mark.parametrize("how", SPOILS)
def test_a_session_that_no_longer_holds_opens_nothing_and_is_refused(
    hardened: HardenedDatabase, ws: CoreContext, how: str
) -> None:
    anne = add_user(ws, "anne", PASSWORD)
    token = token_of(sign_in(ws))
    _spoil(hardened, how, anne)
    assert current_person(hardened, token) is None
    with ws.db.session() as s:  # the process still presents it: the server says no one
        assert s.execute(text("SELECT pmdesk.current_person()")).scalar() is None

    assert refused_reason(ws, token) == how
    assert session_rows(hardened) == [], "a session refused is removed"
    login = "unknown" if how == "deleted" else "anne"
    assert events(hardened, "session.refused") == [
        (f"{login} (cli)", login, "127.0.0.1", WORKSTATION, f"Command line session: {how}")
    ]
    assert ws.db.session_token is None, "the process no longer presents it"
    assert refused_reason(ws, token) == "ended"


def test_a_lock_ends_every_session_at_once(hardened: HardenedDatabase, ws: CoreContext) -> None:
    anne = add_user(ws, "anne", PASSWORD)
    cli = token_of(sign_in(ws))
    desktop = token_of(sign_in(ws, kind=DESKTOP))
    service = LoginService(ws, passwords=cheap_passwords(), workstation=WORKSTATION)
    # A lock from this address alone ends nothing; the hundredth failure locks everywhere.
    for _ in range(lockout.MAX_FAILURES):
        service.begin("anne", "wrong password")
    assert len(session_rows(hardened)) == 2
    owner(hardened, "UPDATE pmdesk.personnel SET failed_logins = %s", lockout.PERSON_CAP - 1)
    owner(hardened, "DELETE FROM pmdesk.login_failures")
    service.begin("anne", "wrong password")
    assert session_rows(hardened) == []
    assert current_person(hardened, cli) is None and current_person(hardened, desktop) is None
    assert owner(
        hardened, "SELECT locked_until IS NOT NULL FROM pmdesk.personnel WHERE id = %s", anne
    ) == [(True,)]


def test_a_token_replayed_from_another_address_opens_nothing(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    """Signed in over TCP (the server sees 127.0.0.1); the same token presented over the
    server's Unix socket (no address at all) is another place."""
    anne = add_user(ws, "anne", PASSWORD)
    token = token_of(sign_in(ws))
    socket_dir = _unix_socket(hardened)
    assert current_person(hardened, token) == anne
    assert current_person(hardened, token, host=socket_dir) is None
    assert len(session_rows(hardened)) == 1


def _unix_socket(hardened: HardenedDatabase) -> str:
    for folder in ("/var/run/postgresql", "/tmp"):
        try:
            as_workstation(hardened.workstation_url, None, "SELECT 1", host=folder)
        except psycopg.OperationalError:
            continue
        return folder
    pytest.skip("the PostgreSQL server takes no Unix-socket connections from the test role here")


def test_a_new_password_ends_every_session_and_says_how_many(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    anne = add_user(ws, "anne", PASSWORD)
    bob = add_user(ws, "bob", PASSWORD)
    annes = [token_of(sign_in(ws)), token_of(sign_in(ws, kind=DESKTOP))]
    bobs = token_of(sign_in(ws, "bob"))
    admin = SessionService(ws).resolve(bobs, workstation=WORKSTATION).actor
    PersonnelService(ws, cheap_passwords()).set_password(
        admin, anne, "another long password", "another long password"
    )
    assert [row[1] for row in session_rows(hardened)] == [bob]
    assert all(current_person(hardened, token) is None for token in annes)
    [changed] = events(hardened, "password.changed")
    assert changed[-1] == "trusted addresses removed: 0; sessions ended: 2"


def test_the_workstation_can_only_clear_sessions_that_already_ended(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    anne = add_user(ws, "anne", PASSWORD)
    sign_in(ws)
    before = session_rows(hardened)
    url = hardened.workstation_url
    assert as_workstation(url, None, "SELECT pmdesk.end_lapsed_sessions(%s)", anne) == [(0,)]
    assert session_rows(hardened) == before
    owner(hardened, "UPDATE pmdesk.user_sessions SET expires_at = pmdesk.now()")
    assert as_workstation(url, None, "SELECT pmdesk.end_lapsed_sessions(%s)", anne) == [(1,)]
    assert session_rows(hardened) == []


# --- resume, sign_out --------------------------------------------------------------------------


def test_resume_renews_a_desktop_lease_at_most_every_30_seconds(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    token = token_of(sign_in(ws, kind=DESKTOP))
    # Used again within 30 s: nothing written.
    before = session_rows(hardened)
    SessionService(ws).resolve(token, workstation=WORKSTATION)
    assert session_rows(hardened) == before
    # Four minutes later, a minute left on the lease: renewed for five more.
    owner(
        hardened,
        "UPDATE pmdesk.user_sessions SET created_at = created_at - interval '4 min', "
        "last_used_at = last_used_at - interval '4 min', "
        "expires_at = expires_at - interval '4 min'",
    )
    active = SessionService(ws).resolve(token, workstation=WORKSTATION)
    [(left, used_ago)] = owner(
        hardened,
        "SELECT expires_at - pmdesk.now(), pmdesk.now() - last_used_at FROM pmdesk.user_sessions",
    )
    assert DESKTOP_LEASE - timedelta(seconds=5) < left <= DESKTOP_LEASE
    assert used_ago < timedelta(seconds=5)
    assert (
        active.expires_at
        == owner(hardened, "SELECT expires_at AT TIME ZONE 'UTC' FROM pmdesk.user_sessions")[0][0]
    )


def test_resume_touches_a_command_line_session_but_never_extends_it(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    token = token_of(sign_in(ws))
    owner(
        hardened,
        "UPDATE pmdesk.user_sessions SET last_used_at = last_used_at - interval '1 min'",
    )
    [(_, _, _, _, _, created, expires, _)] = session_rows(hardened)
    SessionService(ws).resolve(token, workstation=WORKSTATION)
    [(_, _, _, _, _, created_after, expires_after, used)] = session_rows(hardened)
    assert (created_after, expires_after) == (created, expires)
    assert used > created


def test_resume_with_hostile_arguments_is_a_refusal(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    sign_in(ws)
    before = session_rows(hardened)
    url = hardened.workstation_url
    for token, workstation in (
        (None, None),
        ("x" * 100_000, "w" * 100_000),
        ("'; DELETE FROM pmdesk.user_sessions; --", "w"),
        ("A" * 43, ""),
    ):
        [(answer,)] = as_workstation(url, None, "SELECT pmdesk.resume(%s, %s)", token, workstation)
        assert answer == {"outcome": "refused", "reason": "ended"}
    for token in (None, "", "x" * 500, "no such token", "\x00\ud800"):
        assert refused_reason(ws, token) in {"none", "ended"}  # type: ignore[arg-type]
    assert session_rows(hardened) == before
    assert events(hardened, "session.refused") == []


def test_sign_out_ends_the_session(hardened: HardenedDatabase, ws: CoreContext) -> None:
    add_user(ws, "anne", PASSWORD)
    token = token_of(sign_in(ws))
    kept = token_of(sign_in(ws, kind=DESKTOP))  # the process now presents this one
    assert SessionService(ws).end(token) is True
    assert [row[2] for row in session_rows(hardened)] == [DESKTOP]
    assert current_person(hardened, token) is None
    assert ws.db.session_token == kept, "ending another session keeps this process's identity"
    assert events(hardened, "session.ended") == [
        ("anne (cli)", "anne", "127.0.0.1", WORKSTATION, "Command line session: signed out")
    ]
    assert SessionService(ws).end(token) is False
    assert SessionService(ws).end(kept) is True
    assert ws.db.session_token is None and session_rows(hardened) == []
    # Without a session, sign_out ends nothing.
    assert as_workstation(hardened.workstation_url, None, "SELECT pmdesk.sign_out()") == [
        ({"ended": False},)
    ]


# --- what the workstation login alone can do ----------------------------------------------------


def test_the_workstation_login_cannot_touch_user_sessions(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    anne = add_user(ws, "anne", PASSWORD)
    token = token_of(sign_in(ws))
    before = session_rows(hardened)
    url = hardened.workstation_url
    forged = sessions.hash_token("a" * 43)
    for statement in (
        "SELECT token_hash FROM pmdesk.user_sessions",
        "SELECT count(*) FROM pmdesk.user_sessions",
        "UPDATE pmdesk.user_sessions SET expires_at = expires_at + interval '1 year'",
        "DELETE FROM pmdesk.user_sessions",
        "INSERT INTO pmdesk.user_sessions (token_hash, person_id, kind, address, workstation, "
        f"os_user, created_at, expires_at, last_used_at) VALUES ('{forged}', {anne}, 'cli', "
        "'127.0.0.1', 'w', '', now(), now() + interval '1 day', now())",
    ):
        for presented in (None, token):  # signed in or not
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                as_workstation(url, presented, statement)
    # The internal function that makes sessions is not open to it either.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_workstation(url, token, "SELECT pmdesk.start_session(%s, 'cli', 'w', '')", anne)
    assert session_rows(hardened) == before
    assert current_person(hardened, "a" * 43) is None


def test_the_workstation_cannot_check_passwords_outside_the_sign_in(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    """check_password answers guesses without counting them: only sign_in may call it."""
    anne = add_user(ws, "anne", PASSWORD)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        as_workstation(
            hardened.workstation_url, None, "SELECT pmdesk.check_password(%s, 'x', NULL)", anne
        )


def test_an_unknown_session_kind_is_refused_before_anything_is_checked(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    [(answer,)] = as_workstation(
        hardened.workstation_url,
        None,
        "SELECT pmdesk.sign_in(%s, %s, NULL, 'w', 'root', 'x')",
        "anne",
        "proof",
    )
    assert answer == {"outcome": "refused", "reason": "invalid_kind"}
    assert session_rows(hardened) == []
    assert owner(hardened, "SELECT failed_logins FROM pmdesk.personnel") == [(0,)]


# --- rights: may(), within_own_rights(), list and end sessions ----------------------------------


def _clerks(hardened: HardenedDatabase, ws: CoreContext) -> tuple[int, int, int, int]:
    """admin (Administrator), carol and dave (Maintenance Read+Edit): their ids and the
    clerks' group."""
    clerks = add_group(ws.db, "Clerks", {"maintenance": "re"})
    admin = add_user(ws, "admin", PASSWORD)
    carol = add_user(ws, "carol", PASSWORD)
    dave = add_user(ws, "dave", PASSWORD)
    owner(hardened, "UPDATE pmdesk.personnel SET group_id = %s WHERE id <> %s", clerks, admin)
    return admin, carol, dave, clerks


def test_may_and_within_own_rights_read_the_signed_in_persons_group(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    _, _, _, clerks = _clerks(hardened, ws)
    url = hardened.workstation_url
    carols = token_of(sign_in(ws, "carol"))
    admins = token_of(sign_in(ws, "admin"))
    query = (
        "SELECT pmdesk.may('maintenance', 'edit'), pmdesk.may('maintenance', 'delete'), "
        "pmdesk.may('system.security', 'read'), pmdesk.within_own_rights(%s), "
        "pmdesk.within_own_rights(%s), pmdesk.within_own_rights(NULL)"
    )
    assert as_workstation(url, carols, query, clerks, 1) == [
        (True, False, False, True, False, True)
    ]
    assert as_workstation(url, admins, query, clerks, 1) == [(True, True, True, True, True, True)]
    assert as_workstation(url, None, query, clerks, 1) == [
        (False, False, False, False, False, True)
    ]


def test_a_clerk_cannot_end_an_administrators_sessions(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    admin, carol, dave, _ = _clerks(hardened, ws)
    sign_in(ws, "admin")
    sign_in(ws, "dave")
    clerk = sign_in(ws, "carol")  # the process now acts as carol
    before = session_rows(hardened)
    with ws.db.session() as s, pytest.raises(PermissionDenied) as client_side:
        require_within_own_rights(s, clerk.actor, 1, doing="end this person's sessions")

    with pytest.raises(PermissionDenied) as refused:
        SessionService(ws).end_for_person(clerk.actor, admin)
    assert str(refused.value) == str(client_side.value)
    # Whatever actor the client claims, the server acts for the session's person.
    with pytest.raises(PermissionDenied):
        SessionService(ws).end_for_person(actor(admin), admin)
    with pytest.raises(psycopg.Error) as raw:
        as_workstation(
            hardened.workstation_url, token_of(clerk), "SELECT pmdesk.end_sessions(%s)", admin
        )
    assert raw.value.sqlstate == "PMD01"
    assert session_rows(hardened) == before
    assert events(hardened, "session.ended") == []

    # A colleague with the same rights, and oneself: allowed.
    assert SessionService(ws).end_for_person(clerk.actor, dave) == 1
    assert events(hardened, "session.ended") == [
        ("carol (cli)", "dave", "127.0.0.1", WORKSTATION, "End sessions: 1 ended")
    ]
    assert SessionService(ws).end_for_person(clerk.actor, carol) == 1
    assert [row[1] for row in session_rows(hardened)] == [admin]
    # Carol's own session was among them: the server no longer knows her.
    with pytest.raises(NotSignedIn):
        SessionService(ws).for_person(clerk.actor, carol)


def test_list_sessions_is_ones_own_or_maintenance_read(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    nobody = add_group(ws.db, "Nothing", {})
    admin = add_user(ws, "admin", PASSWORD)
    erin = add_user(ws, "erin", PASSWORD)
    owner(hardened, "UPDATE pmdesk.personnel SET group_id = %s WHERE id = %s", nobody, erin)
    sign_in(ws, "admin", kind=DESKTOP)
    sign_in(ws, "admin")
    mine = sign_in(ws, "erin")

    with ws.db.session() as s, pytest.raises(PermissionDenied) as client_side:
        require(s, mine.actor, MAINTENANCE, Action.READ)
    with pytest.raises(PermissionDenied) as refused:
        SessionService(ws).for_person(mine.actor, admin)
    assert str(refused.value) == str(client_side.value)
    with pytest.raises(PermissionDenied):
        SessionService(ws).end_for_person(mine.actor, admin)
    [own] = SessionService(ws).for_person(mine.actor, erin)
    assert (own.kind_label, own.workstation, own.address) == (
        "Command line",
        WORKSTATION,
        "127.0.0.1",
    )
    assert own.os_user == sessions.os_user()

    administrator = sign_in(ws, "admin")
    listed = SessionService(ws).for_person(administrator.actor, admin)
    assert [r.kind_label for r in listed] == ["Command line", "Command line", "Desktop app"]
    assert SessionService(ws).for_person(administrator.actor, erin) == [own]
    with pytest.raises(NotFound, match="no longer exists"):
        SessionService(ws).end_for_person(administrator.actor, 999_999)


def test_without_a_session_the_session_functions_say_sign_in_first(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    admin = add_user(ws, "admin", PASSWORD)
    sign_in(ws, "admin")
    before = session_rows(hardened)
    url = hardened.workstation_url
    for call in ("list_sessions(%s)", "end_sessions(%s)"):
        with pytest.raises(psycopg.errors.InvalidAuthorizationSpecification):
            as_workstation(url, None, f"SELECT pmdesk.{call}", admin)
    ws.db.use_session(None)
    with pytest.raises(NotSignedIn) as refused:
        SessionService(ws).end_for_person(actor(admin), admin)
    assert refused.value.reason == "none" and "sign in again" in str(refused.value)
    assert session_rows(hardened) == before


# --- the client: how a connection presents the token --------------------------------------------


def test_connections_present_the_token_as_a_bound_parameter(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    """psycopg's client-side cursors would write the token into the statement, where any
    workstation reads it in pg_stat_activity (docs/server-enforced.md §7, Binding)."""
    add_user(ws, "anne", PASSWORD)
    db = ws.db
    with db.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        assert not issubclass(raw.cursor_factory, psycopg.ClientCursor)
        with raw.cursor() as cursor:
            assert not isinstance(cursor, psycopg.ClientCursor)
    token = token_of(sign_in(ws))
    with db.engine.connect() as connection:  # a new connection: it presents the token
        raw = connection.connection.dbapi_connection
        assert raw is not None
        pid = raw.info.backend_pid
        [(query,)] = owner(hardened, "SELECT query FROM pg_stat_activity WHERE pid = %s", pid)
        assert query == PRESENT_SESSION.replace("%(token)s", "$1")

        seen: list[str] = []

        def watch() -> None:
            # The BEGIN goes in the same pipeline and may be what is seen active first.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not seen:
                found = owner(
                    hardened,
                    "SELECT query FROM pg_stat_activity WHERE pid = %s AND state = 'active'",
                    pid,
                )
                seen.extend(str(q) for (q,) in found if "resume" in str(q))
                time.sleep(0.02)

        watcher = threading.Thread(target=watch)
        watcher.start()
        connection.execute(
            text("SELECT pmdesk.resume(:token, :ws), pg_sleep(0.5)"),
            {"token": token, "ws": WORKSTATION},
        )
        watcher.join()
    assert seen and "$1" in seen[0] and token not in seen[0]


def test_a_new_identity_replaces_every_pooled_connection(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    anne = add_user(ws, "anne", PASSWORD)
    bob = add_user(ws, "bob", PASSWORD)
    db = ws.db
    query = text("SELECT pmdesk.current_person()")
    with db.session() as s:
        assert s.execute(query).scalar() is None
    annes = token_of(sign_in(ws, "anne"))
    with db.session() as s:
        assert s.execute(query).scalar() == anne
    sign_in(ws, "bob")
    with db.session() as s:
        assert s.execute(query).scalar() == bob
    db.use_session(annes)
    with db.session() as s, db.reading() as r:  # two connections at once
        assert s.execute(query).scalar() == anne == r.execute(query).scalar()
    db.use_session(None)
    with db.session() as s:
        assert s.execute(query).scalar() is None
        assert s.execute(text("SELECT current_setting('pmdesk.session', true)")).scalar() is None


def test_elsewhere_use_session_changes_nothing(sqlite_db: Database) -> None:
    sqlite_db.use_session("a" * 43)
    assert sqlite_db.session_token is None and not sqlite_db.server_sessions


def test_the_sweep_leaves_sessions_to_the_relay(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    add_user(ws, "anne", PASSWORD)
    sign_in(ws, kind=DESKTOP)
    owner(hardened, "UPDATE pmdesk.user_sessions SET expires_at = pmdesk.now() - interval '1 s'")
    assert SessionService(ws).purge_expired() == 0
    assert TrustedIpService(ws).swept_by_relay
    assert len(session_rows(hardened)) == 1
    assert owner(hardened, "SELECT pmdesk.expire(1000, 'test')")
    assert session_rows(hardened) == []


# --- init raises a level-3 database to level 4 --------------------------------------------------


def test_init_ends_sessions_workstations_made_before_level_4(
    hardened: HardenedDatabase, ws: CoreContext
) -> None:
    anne = add_user(ws, "anne", PASSWORD)
    kept = token_of(sign_in(ws))
    # Level 3 let the workstation write user_sessions: any row may be forged.
    owner(hardened, "UPDATE pmdesk.server_meta SET value = '3' WHERE key = 'hardening_level'")
    owner(
        hardened,
        "INSERT INTO pmdesk.user_sessions (token_hash, person_id, kind, address, workstation, "
        "os_user, created_at, expires_at, last_used_at) VALUES (%s, %s, 'cli', '127.0.0.1', "
        "'w', '', pmdesk.now(), pmdesk.now() + interval '1 day', pmdesk.now())",
        sessions.hash_token("f" * 43),
        anne,
    )
    setup.initialise(hardened.owner_url, prefix=hardened.prefix)
    assert session_rows(hardened) == []
    assert current_person(hardened, "f" * 43) is None and current_person(hardened, kept) is None
    assert [(e[0], e[4]) for e in events(hardened, "session.ended")] == [
        (
            "server init",
            "sessions are kept by the server from now on: 2 sessions started by workstations ended",
        )
    ]
    assert owner(
        hardened, "SELECT value FROM pmdesk.server_meta WHERE key = 'hardening_level'"
    ) == [(str(HARDENING_LEVEL),)]
    # Run again at level 4: nothing more is ended.
    token_of(sign_in(ws))
    setup.initialise(hardened.owner_url, prefix=hardened.prefix)
    assert len(session_rows(hardened)) == 1
    assert owner(
        hardened,
        "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'pmdesk' AND p.proname IN ('sign_in', 'check_code', 'signed_in')",
    ) == [(3,)]
