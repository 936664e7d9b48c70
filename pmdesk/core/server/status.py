"""``pmdesk server status``: what is in place on a hardened database, read from the catalogs.

Works with the owner's URL or a workstation's: every query reads catalogs that PostgreSQL
shows to any role, plus ``server_meta`` (readable by pmdesk's roles). Each line is ``ok``, a
``note`` (worth knowing, nothing wrong) or a ``problem``; the command exits 1 on a problem so
that monitoring can call it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from pmdesk.core import migrate
from pmdesk.core.db import Database, describe_url
from pmdesk.core.server import (
    grants,
    guards_sql,
    meta,
    objects,
    passwords_sql,
    personnel_audit_sql,
    reads_sql,
    relay_status,
)
from pmdesk.core.server import info as server_info
from pmdesk.core.server.roles import SCHEMA, Roles
from pmdesk.core.server.setup import require_postgresql

NOT_SET_UP = (
    "Server-enforced mode is not set up on this database: whoever administers the server runs "
    "`pmdesk server init --database OWNER_URL`."
)


class Level(StrEnum):
    OK = "ok"
    NOTE = "note"
    PROBLEM = "problem"


@dataclass(frozen=True)
class Line:
    topic: str
    text: str
    level: Level


def report(db: Database) -> list[Line]:
    """The status lines; a single problem line when the database is not hardened."""
    require_postgresql(db)
    schema = migrate.status(db)
    with db.engine.connect() as connection:
        hardening = meta.read(connection)
        if hardening is None:
            return [Line("Mode", NOT_SET_UP, Level.PROBLEM)]
        if hardening.roles is None:
            return [
                Line(
                    "Mode",
                    f"Server-enforced mode is set up, but '{db.url.username}' may not read how: "
                    "use the owner's or a workstation's URL.",
                    Level.PROBLEM,
                )
            ]
        roles = hardening.roles
        version = str(connection.execute(text("SHOW server_version")).scalar()).split()[0]
        lines = [
            Line(
                "Database",
                f"{describe_url(db.url)} · PostgreSQL {version} · schema {schema.current} · "
                f"hardening {hardening.level}",
                Level.OK if schema.up_to_date else Level.PROBLEM,
            ),
            _enforcement(hardening),
            *_roles(connection, roles),
            _public(connection),
            _other_grants(connection, roles),
            *_members(connection, roles),
            _logging(connection, roles),
            *_passwords(connection, hardening),
            *_policies(connection, hardening),
            *_triggers(connection, hardening),
            _functions(connection, roles),
            _relay(connection),
            _data(connection),
        ]
    return lines


def _enforcement(hardening: meta.Hardening) -> Line:
    if hardening.level < meta.HARDENING_LEVEL:
        return Line(
            "Enforcement",
            f"hardening {hardening.level} is older than this pmdesk's "
            f"{meta.HARDENING_LEVEL}: run `pmdesk server init` again",
            Level.PROBLEM,
        )
    what = meta.LEVEL_DESCRIPTIONS.get(hardening.level, "set up by a newer pmdesk")
    return Line("Enforcement", what, Level.NOTE)


def _roles(connection: Connection, roles: Roles) -> list[Line]:
    lines = []
    for role in roles.all:
        row = connection.execute(
            text(
                "SELECT r.rolcanlogin, r.rolsuper, r.rolcreaterole, r.rolcreatedb, "
                "r.rolbypassrls, r.rolreplication, "
                "(SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid "
                " AND c.relkind IN ('r', 'p')), "
                "(SELECT count(*) FROM pg_proc p WHERE p.proowner = r.oid), "
                "(SELECT count(*) FROM pg_namespace n WHERE n.nspowner = r.oid), "
                "(SELECT string_agg(g.rolname, ', ') FROM pg_auth_members m "
                " JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid) "
                "FROM pg_roles r WHERE r.rolname = :r"
            ),
            {"r": role},
        ).first()
        if row is None:
            lines.append(Line("Roles", f"{role} is missing: run server init again", Level.PROBLEM))
            continue
        login, superuser, createrole, createdb, bypassrls, replication = row[:6]
        tables, functions, schemas, member_of = row[6:]
        wrong = [
            name
            for name, held in (
                ("SUPERUSER", superuser),
                ("CREATEROLE", createrole),
                ("CREATEDB", createdb),
                ("BYPASSRLS", bypassrls),
                ("REPLICATION", replication),
            )
            if held
        ]
        is_owner = role == roles.owner
        if login != (not is_owner):
            wrong.append("LOGIN" if login else "NOLOGIN")
        if member_of:
            wrong.append(f"member of {member_of}")
        if is_owner:
            owns = f"owns {_count(tables, 'table')} and {_count(functions, 'function')}"
        else:
            owns = "owns nothing" if not (tables or functions or schemas) else "owns objects"
            if tables or functions or schemas:
                wrong.append("owns objects")
        text_ = f"{role}: {'LOGIN' if login else 'NOLOGIN'}, {owns}"
        if not member_of:
            text_ += ", member of nothing"
        if wrong:
            lines.append(
                Line("Roles", f"{text_}; should not have: {', '.join(wrong)}", Level.PROBLEM)
            )
        else:
            lines.append(Line("Roles", text_, Level.OK))
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _public(connection: Connection) -> Line:
    held = connection.execute(
        text(
            "SELECT array_remove(ARRAY["
            " CASE WHEN EXISTS (SELECT 1 FROM pg_database d, aclexplode(d.datacl) a "
            "  WHERE d.datname = current_database() AND a.grantee = 0) "
            "  OR (SELECT datacl IS NULL FROM pg_database WHERE datname = current_database()) "
            "  THEN 'rights on the database' END,"
            " CASE WHEN EXISTS (SELECT 1 FROM pg_namespace n, aclexplode(n.nspacl) a "
            "  WHERE n.nspname IN ('public', :s) AND a.grantee = 0) "
            "  THEN 'rights on a schema' END,"
            " CASE WHEN EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n "
            "  ON n.oid = c.relnamespace, aclexplode(c.relacl) a "
            "  WHERE n.nspname = :s AND a.grantee = 0) THEN 'rights on tables' END"
            "], NULL)"
        ),
        {"s": SCHEMA},
    ).scalar()
    if held:
        return Line("PUBLIC", f"still has {', '.join(held)}", Level.PROBLEM)
    return Line("PUBLIC", "no CONNECT or TEMP on the database, nothing on its schemas", Level.OK)


def _other_grants(connection: Connection, roles: Roles) -> Line:
    others = grants.other_grantees(connection, roles)
    if others:
        names = sorted({role for _kind, _obj, role in others})
        return Line(
            "Grants",
            f"{', '.join(names)} hold rights on pmdesk's objects: run server init again",
            Level.PROBLEM,
        )
    return Line("Grants", "no other role holds rights on pmdesk's objects", Level.OK)


def _members(connection: Connection, roles: Roles) -> list[Line]:
    rows = connection.execute(
        text(
            "SELECT r.rolname, r.rolsuper FROM pg_roles r WHERE r.rolcanlogin AND "
            "(r.rolsuper OR r.rolbypassrls OR pg_has_role(r.oid, :o, 'MEMBER')) "
            "AND r.rolname <> ALL(:ours) ORDER BY 1"
        ),
        {"o": roles.owner, "ours": list(roles.logins)},
    ).all()
    if not rows:
        return []
    names = ", ".join(str(name) for name, _ in rows)
    return [
        Line(
            "Owners",
            f"{names} may act as the owner (member, superuser or BYPASSRLS): use such logins "
            "only for init, upgrade and recover",
            Level.NOTE,
        )
    ]


def _logging(connection: Connection, roles: Roles) -> Line:
    missing = [
        role
        for role in roles.logins
        if not connection.execute(
            text(
                "SELECT EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_roles r "
                "ON r.oid = s.setrole WHERE r.rolname = :r "
                "AND 'log_parameter_max_length=0' = ANY(s.setconfig))"
            ),
            {"r": role},
        ).scalar()
    ]
    if missing:
        return Line(
            "Logging",
            f"log_parameter_max_length is not 0 for {', '.join(missing)}: a superuser should "
            "set it, so that bind values stay out of the server log",
            Level.NOTE,
        )
    return Line("Logging", "log_parameter_max_length = 0 for the login roles", Level.OK)


def _passwords(connection: Connection, hardening: meta.Hardening) -> list[Line]:
    if hardening.level < 2:
        return []
    if _rows_hidden(connection):
        return [Line("Passwords", "checked only with the owner's URL", Level.NOTE)]
    try:
        readable = connection.execute(
            text(
                f"SELECT count(*) FROM {SCHEMA}.personnel "
                f"WHERE password_hash IS NOT NULL AND password_hash <> '{passwords_sql.MARKER}'"
            )
        ).scalar()
    except DBAPIError:
        connection.rollback()
        return [Line("Passwords", "not readable with these credentials", Level.NOTE)]
    if readable:
        return [
            Line(
                "Passwords",
                f"{readable} readable password hashes in personnel: run server init again",
                Level.PROBLEM,
            )
        ]
    return [Line("Passwords", "verified by the server; no readable hash", Level.OK)]


def _rows_hidden(connection: Connection) -> bool:
    """Whether row-level security filters what these credentials read of personnel (then
    counting it would mean nothing)."""
    return bool(
        connection.execute(
            text("SELECT row_security_active(to_regclass(:t))"), {"t": f"{SCHEMA}.personnel"}
        ).scalar()
    )


def _data(connection: Connection) -> Line:
    if _rows_hidden(connection):
        return Line("Data", "counted only with the owner's URL", Level.NOTE)
    try:
        people, sessions, addresses = connection.execute(
            text(
                f"SELECT (SELECT count(*) FROM {SCHEMA}.personnel), "
                f"(SELECT count(*) FROM {SCHEMA}.user_sessions), "
                f"(SELECT count(*) FROM {SCHEMA}.trusted_ips)"
            )
        ).one()
    except DBAPIError:  # a role that may not read them (the relay): not a problem
        connection.rollback()
        return Line("Data", "not readable with these credentials", Level.NOTE)
    return Line(
        "Data",
        f"{people} people · {sessions} open sessions · {addresses} trusted addresses",
        Level.OK,
    )


# Helpers that run as whoever calls them, on purpose: the write guards' (guards_sql), the
# log policy's (reads_sql: the row this connection just wrote), and the clock they read.
_RUN_AS_CALLER = frozenset((*guards_sql.WORKSTATION_FUNCTIONS, *reads_sql.RUN_AS_CALLER, "now()"))


def _policies(connection: Connection, hardening: meta.Hardening) -> list[Line]:
    """Row-level security on every table that needs it, with each policy it must have; a
    table nobody wrote policies for (one a newer migration made) is a problem too: the
    workstation would read it without a session."""
    if hardening.level < 6:
        return []
    rows = connection.execute(
        text(
            "SELECT c.relname, c.relrowsecurity, "
            "coalesce(array_agg(p.polname) FILTER (WHERE p.polname IS NOT NULL), '{}') "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "LEFT JOIN pg_policy p ON p.polrelid = c.oid "
            "WHERE n.nspname = :s AND c.relkind IN ('r', 'p') "
            "GROUP BY c.relname, c.relrowsecurity"
        ),
        {"s": SCHEMA},
    ).all()
    found = {str(name): (bool(on), set(policies)) for name, on, policies in rows}
    wrong: list[str] = []
    unknown: list[str] = []
    for table, (on, policies) in sorted(found.items()):
        if table in reads_sql.OPEN_TABLES:
            continue
        if table not in reads_sql.EXPECTED:
            if not on:
                unknown.append(table)
            continue
        if not on:
            wrong.append(f"{table} has row-level security off")
        missing = sorted(set(reads_sql.EXPECTED[table]) - policies)
        if missing:
            wrong.append(f"{table} lacks {', '.join(missing)}")
    problems = [f"{'; '.join(wrong)}: run server init again"] if wrong else []
    if unknown:
        problems.append(
            f"{', '.join(unknown)}: no row-level security, and this pmdesk has no policies for "
            "them (the workstation login reads them without a session)"
        )
    if problems:
        return [Line("Policies", "; ".join(problems), Level.PROBLEM)]
    covered = [table for table in found if table in reads_sql.EXPECTED]
    count = sum(len(found[table][1]) for table in covered)
    return [
        Line(
            "Policies",
            f"row-level security on {len(covered)} tables, {count} policies: without a "
            "session the workstation login reads nothing",
            Level.OK,
        )
    ]


def _triggers(connection: Connection, hardening: meta.Hardening) -> list[Line]:
    """The triggers on pmdesk's tables (the write guards, the rules, the log of people) are
    all enabled, and the log of people's is there: a disabled one checks or logs nothing."""
    if hardening.level < personnel_audit_sql.PERSONNEL_AUDIT_LEVEL:
        return []
    rows = connection.execute(
        text(
            "SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t "
            "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s AND NOT t.tgisinternal ORDER BY 1, 2"
        ),
        {"s": SCHEMA},
    ).all()
    wrong = [f"{name} on {table} is disabled" for table, name, on in rows if on == "D"]
    if ("personnel", personnel_audit_sql.TRIGGER) not in {(t, n) for t, n, _ in rows}:
        wrong.append(f"{personnel_audit_sql.TRIGGER} on personnel is missing")
    if wrong:
        return [Line("Triggers", "; ".join(wrong) + ": run server init again", Level.PROBLEM)]
    return [Line("Triggers", f"{len(rows)} triggers check and log the writes", Level.OK)]


def _functions(connection: Connection, roles: Roles) -> Line:
    """Every function a login role calls is there, with a pinned search_path, and a definer
    unless it is one of the write guards' helpers."""
    wanted = [
        (role, function)
        for role, functions in (
            (roles.workstation, objects.WORKSTATION_FUNCTIONS),
            (roles.relay, objects.RELAY_FUNCTIONS),
        )
        for function in functions
    ]
    wrong: list[str] = []
    for role, function in wanted:
        row = connection.execute(
            text(
                "SELECT p.prosecdef, coalesce(array_to_string(p.proconfig, ','), ''), "
                "has_function_privilege(:role, p.oid, 'EXECUTE') "
                "FROM pg_proc p WHERE p.oid = to_regprocedure(:f)"
            ),
            {"role": role, "f": f"{SCHEMA}.{function}"},
        ).first()
        if row is None:
            wrong.append(f"{function} is missing")
        elif "search_path=" not in row[1]:
            wrong.append(f"{function} has no search_path of its own")
        elif not row[0] and function not in _RUN_AS_CALLER:
            # The guards' helpers run as whoever writes, on purpose (guards_sql).
            wrong.append(f"{function} is not a definer")
        elif not row[2]:
            wrong.append(f"{role} may not call {function}")
    if wrong:
        return Line("Functions", "; ".join(wrong) + ": run server init again", Level.PROBLEM)
    return Line("Functions", f"{len(wanted)} sign-in and relay functions in place", Level.OK)


def _relay(connection: Connection) -> Line:
    """The relay's heartbeat, as the login dialog judges it. With a workstation's URL (no
    System → Security Read) from what ``server_info()`` tells anyone: host and last seen."""
    try:
        report = relay_status.read(connection)
    except DBAPIError:
        connection.rollback()
        return _relay_from_info(connection)
    if report.problem:
        return Line("Relay", f"{report.text}, but: {report.problem}", Level.PROBLEM)
    if report.running:
        return Line("Relay", report.text, Level.OK)
    # Nobody can sign in without one while two-step login is on; otherwise worth knowing.
    needed = connection.execute(
        text(f"SELECT bool_or(two_factor_enabled) FROM {SCHEMA}.security_settings")
    ).scalar()
    return Line("Relay", report.text, Level.PROBLEM if needed else Level.NOTE)


def _relay_from_info(connection: Connection) -> Line:
    try:
        info = server_info.read(connection)
    except DBAPIError:  # a database older than server_info()
        connection.rollback()
        return Line("Relay", "not readable with these credentials", Level.NOTE)
    down = relay_status.relay_down(info.relay_last_seen_s)
    if down is not None:
        return Line("Relay", down, Level.PROBLEM if info.two_factor else Level.NOTE)
    return Line(
        "Relay", f"relay on {info.relay_host}, last seen {info.relay_last_seen_s} s ago", Level.OK
    )
