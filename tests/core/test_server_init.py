"""`pmdesk server init` and `server status` on a real PostgreSQL: roles, schema, PUBLIC's
rights and the conversion of an existing database (passwords: test_server_passwords.py).

Each attack runs as an insider would: raw SQL with the workstation's login, or another login
that an older set-up gave rights on every table, and asserts that nothing changed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import URL, make_url

from pmdesk.core import migrate
from pmdesk.core.audit import Event
from pmdesk.core.auth import LoginService, SignedIn
from pmdesk.core.clock import DatabaseClock, ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.models import AuditEvent, LoginChallenge, Person, TrustedIp, UserSession
from pmdesk.core.server import meta, reads_sql
from pmdesk.core.server.roles import Roles
from pmdesk.core.server.setup import initialise
from pmdesk.secrets import MemoryStore
from tests.helpers.cli import run_pmdesk
from tests.helpers.databases import (
    ADMIN_URLS,
    _drop_database_then_roles,
    hardened_prefix,
    server_reachable,
    skip_or_fail,
    throwaway_server_database,
)
from tests.helpers.login import add_user, cheap_passwords
from tests.helpers.staff import add_person
from tests.helpers.trusted_ips import trust_addresses

NOT_ENFORCED = meta.LEVEL_DESCRIPTIONS[meta.HARDENING_LEVEL]


@dataclass
class Fresh:
    owner_url: URL
    prefix: str

    @property
    def owner(self) -> str:
        return Roles.from_prefix(self.prefix).owner

    @property
    def workstation(self) -> str:
        return Roles.from_prefix(self.prefix).workstation

    def as_role(self, role: str) -> URL:
        return self.owner_url.set(username=role, password=None)

    def url_text(self, url: URL | None = None) -> str:
        return (url or self.owner_url).render_as_string(hide_password=False)


@pytest.fixture
def fresh() -> Iterator[Fresh]:
    """An empty throwaway database; the roles init makes are dropped afterwards."""
    problem = server_reachable("postgresql")
    if problem:
        skip_or_fail(problem)
    prefix = hardened_prefix()
    with throwaway_server_database("postgresql") as url:
        made = Fresh(owner_url=url, prefix=prefix)
        try:
            yield made
        finally:
            _drop_database_then_roles(url, prefix)


def sql(url: URL, statement: str) -> list[tuple[object, ...]]:
    """Raw SQL with psycopg (no pmdesk code), as an insider with that login would run it."""
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    ) as conn:
        cur = conn.execute(statement)  # type: ignore[arg-type]
        return list(cur.fetchall()) if cur.description else []


def refused(url: URL, statement: str) -> str:
    with pytest.raises(psycopg.Error) as caught:
        sql(url, statement)
    return str(caught.value)


def init(fresh: Fresh, *extra: str) -> tuple[int, str, str]:
    result = run_pmdesk(
        "server", "init", "--database", fresh.url_text(), "--role-prefix", fresh.prefix, *extra
    )
    return result.returncode, result.stdout, result.stderr


def role_row(fresh: Fresh, role: str) -> tuple[object, ...]:
    rows = sql(
        fresh.owner_url,
        "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, "
        f"rolpassword IS NOT NULL FROM pg_authid WHERE rolname = '{role}'",
    )
    assert len(rows) == 1, f"{role} missing"
    return rows[0]


def test_init_on_an_empty_database_makes_three_roles_and_a_working_workstation_login(
    fresh: Fresh,
) -> None:
    code, out, err = init(fresh)
    assert code == 0, err + out
    assert role_row(fresh, fresh.owner) == (False, False, False, False, False, False)
    for role in (fresh.workstation, f"{fresh.prefix}_relay"):
        assert role_row(fresh, role) == (True, False, False, False, False, True)
    # The workstation's URL is printed once, with its password.
    printed = [line.strip() for line in out.splitlines() if f"//{fresh.workstation}:" in line]
    assert len(printed) == 1
    workstation_url = make_url(printed[0])
    assert workstation_url.password and len(workstation_url.password) >= 40
    assert "Enforcement" in out and NOT_ENFORCED in out  # status follows, and says so plainly
    # Tables live in schema pmdesk and belong to the owner role.
    owners = sql(
        fresh.owner_url,
        "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'pmdesk'",
    )
    assert owners == [(fresh.owner,)]
    assert sql(fresh.owner_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [
        (0,)
    ]
    # pmdesk itself works with the workstation's login: the first user, then a signed-in list.
    ws = run_pmdesk(
        "user",
        "add",
        "admin",
        "--email",
        "admin@example.com",
        "--group",
        "Administrator",
        "--password-stdin",
        "--database",
        workstation_url.render_as_string(hide_password=False),
        stdin="a long enough password\n",
    )
    assert ws.returncode == 0, ws.stderr
    assert sql(fresh.owner_url, "SELECT login FROM pmdesk.personnel") == [("admin",)]


def test_the_workstation_login_cannot_climb_out_of_its_role(fresh: Fresh) -> None:
    assert init(fresh)[0] == 0
    ws = fresh.as_role(fresh.workstation)
    assert "permission denied for schema pmdesk" in refused(ws, "CREATE TABLE evil (a int)")
    assert "permission denied to create temporary tables" in refused(
        ws, "CREATE TEMP TABLE evil (a int)"
    )
    assert "permission denied to set role" in refused(ws, f"SET ROLE {fresh.owner}")
    assert "permission denied" in refused(ws, "SET SESSION AUTHORIZATION postgres")
    for table in ("alembic_version", "server_meta"):  # readable, never writable
        assert sql(ws, f"SELECT count(*) FROM pmdesk.{table}")[0][0] >= 1
        assert "permission denied" in refused(ws, f"DELETE FROM pmdesk.{table}")
    assert "permission denied for schema pmdesk_crypto" in refused(
        ws, "SELECT pmdesk_crypto.gen_random_bytes(4)"
    )
    assert "must be owner" in refused(ws, "ALTER TABLE pmdesk.personnel DISABLE TRIGGER ALL")
    assert "must be owner" in refused(ws, "DROP TABLE pmdesk.audit_events")
    # The schema is as init left it.
    assert sql(fresh.owner_url, "SELECT version_num FROM pmdesk.alembic_version") == [
        (migrate.head_revision(),)
    ]
    assert sql(fresh.owner_url, "SELECT count(*) FROM pmdesk.audit_events")[0][0] == 1


def test_public_loses_connect_so_other_logins_cannot_even_connect(fresh: Fresh) -> None:
    stranger = f"{fresh.prefix}_stranger"
    sql(make_url(ADMIN_URLS["postgresql"]), f"CREATE ROLE {stranger} LOGIN")
    try:
        assert init(fresh)[0] == 0
        message = refused(fresh.as_role(stranger), "SELECT 1")
        assert "permission denied for database" in message
    finally:
        sql(make_url(ADMIN_URLS["postgresql"]), f"DROP ROLE {stranger}")


def _old_style_database(fresh: Fresh, clock: ShiftedClock, outbox: Path) -> CoreContext:
    """What an older pmdesk left: tables in public, made by the administrator's login."""
    db = Database(fresh.owner_url)
    migrate.upgrade(db)
    ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=outbox, clock=clock)
    add_user(ctx, "anne", "anne's long secret")
    bob = add_person(db, "bob")
    trust_addresses(db, [(bob, "10.1.2.3", timedelta(0))])
    with db.session() as s:
        now = DatabaseClock().now(s)
        s.add(
            UserSession(
                token_hash="f" * 64,
                person_id=bob,
                kind="cli",
                address="10.1.2.3",
                workstation="ws",
                os_user="bob",
                created_at=now,
                expires_at=now + timedelta(hours=8),
                last_used_at=now,
            )
        )
        s.add(
            LoginChallenge(
                id="c" * 43,
                person_id=bob,
                code_hash="x",
                address="10.1.2.3",
                workstation="ws",
                created_at=now,
                expires_at=now + timedelta(minutes=10),
                last_sent_at=now,
            )
        )
    return ctx


def test_an_existing_database_converts_in_place_keeping_people_passwords_and_addresses(
    fresh: Fresh, clock: ShiftedClock, tmp_path: Path
) -> None:
    ctx = _old_style_database(fresh, clock, tmp_path)
    legacy = f"{fresh.prefix}_legacy"  # the all-powerful workstation login of the old README
    sql(make_url(ADMIN_URLS["postgresql"]), f"CREATE ROLE {legacy} LOGIN")
    sql(
        fresh.owner_url,
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {legacy}",
    )
    try:
        with ctx.db.session() as s:
            before_people = s.execute(select(Person.login, Person.password_hash)).all()
            before_log = s.execute(select(AuditEvent.id, AuditEvent.event)).all()
        ctx.db.dispose()

        code, out, err = init(fresh)
        assert code == 0, err + out
        assert "Converted: 1 sessions ended and 1 pending codes withdrawn" in out
        assert "2 people and 1 trusted addresses kept" in out
        assert "Passwords: 2 now verified by the server" in out
        assert f"Rights taken from another role: {legacy}" in out

        # The legacy login now reads and changes nothing.
        assert "permission denied" in refused(fresh.as_role(legacy), "SELECT 1")
        workstation = Database(fresh.as_role(fresh.workstation))
        owner = Database(fresh.owner_url)
        try:
            with workstation.session() as s:
                # Without a session the workstation's login reads no row (hardening 6).
                assert s.execute(select(Person.login)).all() == []
                assert s.execute(select(AuditEvent.id)).all() == []
                assert s.execute(select(TrustedIp.address)).all() == []
            with owner.session() as s:
                after_people = s.execute(select(Person.login, Person.password_hash)).all()
                # No readable hash is left: a marker, the verifier is out of reach.
                assert after_people == [(login, "server") for login, _hash in before_people]
                assert all(h.startswith("$argon2id$") for _l, h in before_people)
                assert s.execute(select(TrustedIp.address)).scalars().all() == ["10.1.2.3"]
                log = s.execute(select(AuditEvent.id, AuditEvent.event)).all()
                glass = s.execute(
                    select(AuditEvent.actor, AuditEvent.detail).where(
                        AuditEvent.event == Event.BREAK_GLASS.value
                    )
                ).all()
            # Sessions and pending codes are ended, and no workstation reads them any more.
            assert sql(fresh.owner_url, "SELECT count(*) FROM pmdesk.user_sessions") == [(0,)]
            assert "permission denied" in refused(
                fresh.as_role(fresh.workstation), "SELECT 1 FROM pmdesk.user_sessions"
            )
            assert sql(fresh.owner_url, "SELECT count(*) FROM pmdesk.login_challenges") == [(0,)]
            assert "permission denied" in refused(
                fresh.as_role(fresh.workstation), "SELECT 1 FROM pmdesk.login_challenges"
            )
            assert log[: len(before_log)] == before_log  # the log is kept, one row added
            assert len(log) == len(before_log) + 1
            assert glass[0][0].startswith("server init: ")
            assert "1 sessions ended, 1 pending codes withdrawn" in glass[0][1]
            assert "2 passwords (now verified by the server)" in glass[0][1]
            # Nobody retypes a password: anne signs in through the workstation's login.
            service = LoginService(
                CoreContext(
                    db=workstation, secrets=MemoryStore(), outbox_default=tmp_path, clock=clock
                ),
                passwords=cheap_passwords(),
                workstation="ws-test",
            )
            assert isinstance(service.begin("anne", "anne's long secret"), SignedIn)
        finally:
            workstation.dispose()
            owner.dispose()
    finally:
        sql(fresh.owner_url, f"DROP OWNED BY {legacy}")
        sql(make_url(ADMIN_URLS["postgresql"]), f"DROP ROLE {legacy}")


def test_init_runs_again_safely_and_rotates_a_password_only_when_asked(fresh: Fresh) -> None:
    assert init(fresh)[0] == 0
    verifier = sql(
        fresh.owner_url, f"SELECT rolpassword FROM pg_authid WHERE rolname = '{fresh.workstation}'"
    )
    # Someone grants a right by hand and gives the workstation a role to climb into.
    sql(fresh.owner_url, f"GRANT {fresh.owner} TO {fresh.workstation}")
    sql(fresh.owner_url, "GRANT CREATE ON SCHEMA pmdesk TO PUBLIC")
    code, out, _err = init(fresh)
    assert code == 0, out
    assert "Converted" not in out  # once only
    assert "(password unchanged)" in out
    assert (
        sql(
            fresh.owner_url,
            f"SELECT rolpassword FROM pg_authid WHERE rolname = '{fresh.workstation}'",
        )
        == verifier
    )
    assert sql(
        fresh.owner_url,
        "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
        f"WHERE r.rolname = '{fresh.workstation}'",
    ) == [(0,)]
    assert "permission denied" in refused(
        fresh.as_role(fresh.workstation), "CREATE TABLE pmdesk.evil (a int)"
    )
    glass = sql(fresh.owner_url, "SELECT count(*) FROM pmdesk.audit_events")
    assert glass == [(1,)]

    code, out, _err = init(fresh, "--rotate-workstation-password")
    assert code == 0
    assert (
        sql(
            fresh.owner_url,
            f"SELECT rolpassword FROM pg_authid WHERE rolname = '{fresh.workstation}'",
        )
        != verifier
    )
    assert "shown only now" in out


def test_status_finds_a_hand_made_grant_and_exits_1(fresh: Fresh) -> None:
    assert init(fresh)[0] == 0
    status = run_pmdesk("server", "status", "--database", fresh.url_text())
    assert status.returncode == 0, status.stdout
    assert "[problem]" not in status.stdout
    stranger = f"{fresh.prefix}_reader"
    admin = make_url(ADMIN_URLS["postgresql"])
    sql(admin, f"CREATE ROLE {stranger} NOLOGIN")
    try:
        sql(fresh.owner_url, f"GRANT SELECT ON pmdesk.personnel TO {stranger}")
        status = run_pmdesk("server", "status", "--database", fresh.url_text())
        assert status.returncode == 1
        assert f"{stranger} hold rights on pmdesk's objects" in status.stdout
        # The workstation's own URL can run status too (monitoring needs no owner password).
        as_workstation = run_pmdesk(
            "server", "status", "--database", fresh.url_text(fresh.as_role(fresh.workstation))
        )
        assert as_workstation.returncode == 1
        assert "[problem]" in as_workstation.stdout
    finally:
        sql(fresh.owner_url, f"REVOKE ALL ON pmdesk.personnel FROM {stranger}")
        sql(admin, f"DROP ROLE {stranger}")


def test_status_on_a_database_that_is_not_hardened_says_what_to_run(fresh: Fresh) -> None:
    db = Database(fresh.owner_url)
    migrate.upgrade(db)
    db.dispose()
    status = run_pmdesk("server", "status", "--database", fresh.url_text())
    assert status.returncode == 1
    assert "not set up on this database" in status.stdout
    assert "pmdesk server init --database OWNER_URL" in status.stdout


def test_upgrades_run_as_the_owner_and_a_workstation_is_told_to_ask(fresh: Fresh) -> None:
    assert init(fresh)[0] == 0
    owner = Database(fresh.owner_url)
    try:
        migrate.downgrade(owner, "0005")  # as if this pmdesk were newer than the schema
    finally:
        owner.dispose()
    ws = fresh.url_text(fresh.as_role(fresh.workstation))
    refused_upgrade = run_pmdesk("db", "upgrade", "--database", ws)
    assert refused_upgrade.returncode == 1
    assert refused_upgrade.stderr.strip() == f"pmdesk: {meta.NEEDS_OWNER_TO_UPGRADE}"
    done = run_pmdesk("db", "upgrade", "--database", fresh.url_text())
    assert done.returncode == 0, done.stderr
    # What the upgrade made belongs to the owner role, and the workstation may use it.
    assert sql(
        fresh.owner_url,
        "SELECT tableowner FROM pg_tables WHERE schemaname = 'pmdesk' "
        "AND tablename = 'user_sessions'",
    ) == [(fresh.owner,)]
    assert sql(
        fresh.as_role(fresh.workstation), "SELECT count(*) FROM pmdesk.delivery_outcomes"
    ) == [(0,)]
    assert "permission denied" in refused(
        fresh.as_role(fresh.workstation), "SELECT 1 FROM pmdesk.user_sessions"
    )
    status = run_pmdesk("server", "status", "--database", fresh.url_text())
    assert status.returncode == 0, status.stdout


@pytest.mark.parametrize("engine", ["sqlite", "mariadb"])
def test_other_engines_refuse_with_one_line(engine: str, tmp_path: Path) -> None:
    if engine == "sqlite":
        path = tmp_path / "pm.sqlite3"
        made = run_pmdesk("db", "upgrade", "--create", "--database", f"sqlite:///{path}")
        assert made.returncode == 0, made.stderr
        url = f"sqlite:///{path}"
        name = "SQLite"
    else:
        problem = server_reachable("mariadb")
        if problem:
            skip_or_fail(problem)
        url = ADMIN_URLS["mariadb"]
        name = "MariaDB"
    for action in ("init", "status"):
        result = run_pmdesk("server", action, "--database", url)
        assert result.returncode == 2
        assert result.stderr.strip() == (
            f"pmdesk: Server-enforced mode needs PostgreSQL: {name} databases keep the "
            "client-enforced model (see README, Security model)."
        )
        assert result.stdout == ""


def test_a_bad_role_prefix_is_one_clear_line(fresh: Fresh) -> None:
    code, _out, err = init(fresh, "--role-prefix", "Evil; DROP")
    # argparse keeps the last --role-prefix given
    assert code == 1
    assert "cannot prefix role names" in err
    assert len(err.strip().splitlines()) == 1
    assert sql(fresh.owner_url, "SELECT count(*) FROM pg_namespace WHERE nspname = 'pmdesk'") == [
        (0,)
    ]


def test_initialise_reports_the_login_urls(fresh: Fresh) -> None:
    result = initialise(fresh.owner_url, prefix=fresh.prefix)
    ws = result.login_urls[fresh.workstation]
    assert ws.username == fresh.workstation and ws.password == result.passwords[fresh.workstation]
    engine = create_engine(ws)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_user")).scalar() == fresh.workstation
            assert conn.execute(text("SHOW search_path")).scalar() == "pmdesk"
    finally:
        engine.dispose()


def test_server_init_with_the_workstations_login_changes_nothing(fresh: Fresh) -> None:
    """The server commands need no pmdesk session: PostgreSQL itself refuses them to a login
    that may not create roles."""
    assert init(fresh)[0] == 0
    before = sql(
        fresh.owner_url,
        "SELECT rolname, rolpassword FROM pg_authid WHERE rolname LIKE "
        f"'{fresh.prefix}%' ORDER BY 1",
    )
    ws = fresh.url_text(fresh.as_role(fresh.workstation))
    for extra in ((), ("--rotate-workstation-password",)):
        result = run_pmdesk(
            "server", "init", "--database", ws, "--role-prefix", fresh.prefix, *extra
        )
        assert result.returncode == 1
        assert result.stderr.strip() == (
            f"pmdesk: '{fresh.workstation}' cannot set up server-enforced mode: it needs "
            "CREATEROLE and CREATE on the database (or run it as a superuser)."
        )
    after = sql(
        fresh.owner_url,
        "SELECT rolname, rolpassword FROM pg_authid WHERE rolname LIKE "
        f"'{fresh.prefix}%' ORDER BY 1",
    )
    assert after == before
    assert run_pmdesk("server", "status", "--database", fresh.url_text()).returncode == 0


def test_a_createrole_administrator_without_superuser_can_set_it_up(fresh: Fresh) -> None:
    """Managed PostgreSQL services give no superuser: CREATEROLE and the database's ownership
    must do. What only a superuser may set is reported, not silently skipped."""
    admin_url = make_url(ADMIN_URLS["postgresql"])
    runner = f"{fresh.prefix}_dba"
    sql(admin_url, f"CREATE ROLE {runner} LOGIN CREATEROLE")
    sql(admin_url, f'ALTER DATABASE "{fresh.owner_url.database}" OWNER TO {runner}')
    as_runner = fresh.as_role(runner)
    try:
        result = run_pmdesk(
            "server",
            "init",
            "--database",
            fresh.url_text(as_runner),
            "--role-prefix",
            fresh.prefix,
        )
        assert result.returncode == 0, result.stderr + result.stdout
        assert "Warning: Not a superuser: log_parameter_max_length = 0 was not set" in result.stdout
        assert "log_parameter_max_length is not 0" in result.stdout  # status: a note
        assert sql(
            fresh.owner_url,
            "SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'pmdesk'",
        ) == [(fresh.owner,)]
        assert "permission denied for schema pmdesk" in refused(
            fresh.as_role(fresh.workstation), "CREATE TABLE pmdesk.evil (a int)"
        )
    finally:
        sql(admin_url, f'ALTER DATABASE "{fresh.owner_url.database}" OWNER TO postgres')
        sql(fresh.owner_url, f"REASSIGN OWNED BY {runner} TO postgres; DROP OWNED BY {runner}")
        sql(admin_url, f"DROP ROLE {runner}")


def test_a_level_5_database_is_raised_to_row_level_security_and_status_checks_it(
    fresh: Fresh,
) -> None:
    """A database hardened before reads were restricted (level 5: no RLS) says so in status
    and is raised by init; a policy removed by hand is a problem until init puts it back."""
    assert init(fresh)[0] == 0
    for table in reads_sql.EXPECTED:  # as level 5 left it (a newer table may not be there)
        sql(fresh.owner_url, f"ALTER TABLE IF EXISTS pmdesk.{table} DISABLE ROW LEVEL SECURITY")
    sql(fresh.owner_url, "UPDATE pmdesk.server_meta SET value = '5' WHERE key = 'hardening_level'")
    status = run_pmdesk("server", "status", "--database", fresh.url_text())
    assert status.returncode == 1
    assert "hardening 5 is older than this pmdesk's 6" in status.stdout
    code, out, err = init(fresh)
    assert code == 0, err + out
    assert "Policies     row-level security on" in out and "[problem]" not in out
    assert "reads nothing" in out and "not yet restricted" not in out
    names = ", ".join(f"'{table}'" for table in reads_sql.EXPECTED)
    assert (
        sql(
            fresh.owner_url,
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = 'pmdesk' AND c.relname IN ({names}) AND NOT c.relrowsecurity",
        )
        == []
    )
    tables = sql(fresh.owner_url, f"SELECT 1 FROM pg_tables WHERE tablename IN ({names})")
    assert len(tables) >= len(reads_sql.READ_POLICIES) + 6  # not vacuous: they exist
    # One policy gone: status names it and exits 1; init puts it back.
    sql(fresh.owner_url, "DROP POLICY pmdesk_read ON pmdesk.trusted_ips")
    status = run_pmdesk("server", "status", "--database", fresh.url_text())
    assert status.returncode == 1
    assert "trusted_ips lacks pmdesk_read: run server init again  [problem]" in status.stdout
    sql(fresh.owner_url, "ALTER TABLE pmdesk.personnel DISABLE ROW LEVEL SECURITY")
    status = run_pmdesk("server", "status", "--database", fresh.url_text())
    assert "personnel has row-level security off" in status.stdout
    assert init(fresh)[0] == 0
    assert run_pmdesk("server", "status", "--database", fresh.url_text()).returncode == 0


def test_status_with_a_workstations_url_reads_the_relay_and_counts_nothing_it_cannot_see(
    fresh: Fresh,
) -> None:
    """Monitoring may run status with the workstation's URL: the relay comes from
    server_info(), and counts that row-level security would make 0 are not printed."""
    assert init(fresh)[0] == 0
    ws = fresh.url_text(fresh.as_role(fresh.workstation))
    sql(
        fresh.owner_url,
        "INSERT INTO pmdesk.relay_heartbeat (instance, host, pid, version, started_at, "
        "last_seen_at) VALUES (gen_random_uuid(), 'mail01', 1, 'x', pmdesk.now(), pmdesk.now())",
    )
    status = run_pmdesk("server", "status", "--database", ws)
    assert status.returncode == 0, status.stdout
    assert re.search(r"Relay +relay on mail01, last seen \d+ s ago  \[ok\]", status.stdout)
    assert "Data         counted only with the owner's URL  [note]" in status.stdout
    assert "people ·" not in status.stdout
    owner = run_pmdesk("server", "status", "--database", fresh.url_text())
    assert "Data         0 people · 0 open sessions · 0 trusted addresses  [ok]" in owner.stdout


def test_status_flags_a_table_no_policy_covers(fresh: Fresh) -> None:
    """A table a newer migration (or someone by hand) made in schema pmdesk is granted to the
    workstation like the others; without row-level security it would read it with no
    session, so status says so until pmdesk knows its policies."""
    assert init(fresh)[0] == 0
    sql(fresh.owner_url, f"SET ROLE {fresh.owner}; CREATE TABLE pmdesk.stray_notes (id int)")
    try:
        status = run_pmdesk("server", "status", "--database", fresh.url_text())
        assert status.returncode == 1
        assert "stray_notes: no row-level security, and this pmdesk has no policies" in (
            status.stdout
        )
    finally:
        sql(fresh.owner_url, "DROP TABLE pmdesk.stray_notes")
    assert run_pmdesk("server", "status", "--database", fresh.url_text()).returncode == 0
