"""``pmdesk server init``: set up (or repair) server-enforced mode on a PostgreSQL database.

Every step can run again: roles are created when missing and then put right, the grants are
revoked and given again from scratch, and existing data is converted only once. Run by whoever
administers the PostgreSQL server, with a superuser or a role that has CREATEROLE and CREATE on
the database (docs/server-enforced.md §1.4).
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from pmdesk import __version__
from pmdesk.core import audit, migrate
from pmdesk.core.audit import Event
from pmdesk.core.clock import Clock, DatabaseClock
from pmdesk.core.context import Actor
from pmdesk.core.db import Database, parse_url
from pmdesk.core.errors import PmdeskError
from pmdesk.core.models import Base
from pmdesk.core.server import grants, meta, passwords_sql
from pmdesk.core.server.install import install
from pmdesk.core.server.roles import CRYPTO_SCHEMA, SCHEMA, Roles, quote_ident
from pmdesk.core.sessions import os_user

MIN_SERVER_VERSION = 130000  # trusted pgcrypto, gen_random_uuid
DEFAULT_CONNECTION_LIMIT = 200
NEEDS_POSTGRESQL = (
    "Server-enforced mode needs PostgreSQL: {engine} databases keep the client-enforced model "
    "(see README, Security model)."
)
# pmdesk's objects that an older pmdesk made in schema public; they move to schema pmdesk.
_TABLES = (*sorted(Base.metadata.tables), "alembic_version")
_FUNCTIONS = ("pmdesk_notify_change()",)


class ServerModeUnsupported(PmdeskError):
    """Server-enforced mode asked of an engine that cannot enforce anything."""


class ServerInitRefused(PmdeskError):
    """These credentials may not set up server-enforced mode; the message says what is missing."""


@dataclass(frozen=True)
class Conversion:
    sessions_ended: int
    codes_withdrawn: int
    trusted_addresses: int
    people: int


@dataclass
class InitResult:
    roles: Roles
    database: str
    created: list[str] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)  # only the ones just made
    moved: list[str] = field(default_factory=list)
    taken: list[str] = field(default_factory=list)  # privileges taken from other roles
    conversion: Conversion | None = None
    warnings: list[str] = field(default_factory=list)
    passwords_moved: int = 0
    passwords_dropped: list[str] = field(default_factory=list)  # logins whose hash was unusable
    login_urls: dict[str, URL] = field(default_factory=dict)  # role -> URL (password if new)


def require_postgresql(db: Database) -> None:
    if db.backend != "postgresql":
        engine = "MariaDB" if db.backend == "mariadb" else "SQLite"
        raise ServerModeUnsupported(NEEDS_POSTGRESQL.format(engine=engine))


def initialise(
    url: str | URL,
    *,
    prefix: str,
    rotate: frozenset[str] = frozenset(),
    connection_limit: int = DEFAULT_CONNECTION_LIMIT,
    clock: Clock | None = None,
) -> InitResult:
    """Set up server-enforced mode; ``rotate`` names the login roles ("workstation", "relay")
    whose password is made anew even though the role exists."""
    roles = Roles.from_prefix(prefix)
    db = Database(url)
    try:
        require_postgresql(db)
        with db.engine.connect() as connection:
            superuser = _check_runner(connection)
            existing = meta.read(connection)
            connection.commit()
            if existing is not None and existing.roles not in (None, roles):
                raise ServerInitRefused(
                    f"This database is already set up with roles named "
                    f"{existing.roles.prefix}_…: run server init with "
                    f"--role-prefix {existing.roles.prefix}."
                )
            result = InitResult(roles=roles, database=str(connection.engine.url.database))
            with connection.begin():
                _make_roles(connection, roles, superuser, rotate, connection_limit, result)
            with connection.begin():
                _make_schemas(connection, roles, result)
            with connection.begin():
                connection.execute(text(meta.CREATE_TABLE))
                connection.execute(
                    text(f"ALTER TABLE {SCHEMA}.server_meta OWNER TO {quote_ident(roles.owner)}")
                )
                meta.write(connection, role_prefix=roles.prefix)
        # The migrations run as the owner role (migrate sees server_meta), then the grants.
        migrate.upgrade(db)
        with db.engine.connect() as connection, connection.begin():
            before = meta.read(connection)
            _own_everything(connection, roles)  # first: credentials references personnel
            install(connection, roles)
            result.taken = grants.apply(connection, roles)
            _role_settings(connection, roles, superuser, result)
            _move_passwords(connection, result)  # any hash written around the trigger, too
            if before is None or not before.converted:
                result.conversion = _convert(connection, clock or DatabaseClock(), result)
            meta.write(
                connection,
                hardening_level=str(meta.HARDENING_LEVEL),
                initialised_at=_utc_text(),
                initialised_by=f"{os_user() or 'unknown'}@{socket.gethostname()}",
                pmdesk_version=__version__,
            )
        if result.passwords_moved:
            _vacuum_personnel(db)  # old row versions still hold the readable hashes
        result.login_urls = {
            role: _login_url(db.url, role, result.passwords.get(role)) for role in roles.logins
        }
        return result
    finally:
        db.dispose()


def _utc_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _login_url(owner_url: URL, role: str, password: str | None) -> URL:
    return parse_url(owner_url).set(username=role, password=password)


# ----- step 1: who runs it --------------------------------------------------------------------


def _check_runner(connection: Connection) -> bool:
    """Refuse unless PostgreSQL is new enough and the runner may create roles and objects;
    returns whether the runner is a superuser."""
    row = connection.execute(
        text(
            "SELECT current_setting('server_version_num')::int, r.rolsuper, r.rolcreaterole, "
            "has_database_privilege(current_database(), 'CREATE'), current_user "
            "FROM pg_roles r WHERE r.rolname = current_user"
        )
    ).one()
    version, superuser, createrole, create_db, user = row
    if int(version) < MIN_SERVER_VERSION:
        raise ServerInitRefused(
            f"Server-enforced mode needs PostgreSQL 13 or later; this server is "
            f"{int(version) // 10000}."
        )
    if superuser:
        return True
    missing = [
        what
        for what, held in (("CREATEROLE", createrole), ("CREATE on the database", create_db))
        if not held
    ]
    if missing:
        raise ServerInitRefused(
            f"'{user}' cannot set up server-enforced mode: it needs {' and '.join(missing)} "
            "(or run it as a superuser)."
        )
    return False


# ----- step 2–3: roles and their passwords ----------------------------------------------------


def _make_roles(
    connection: Connection,
    roles: Roles,
    superuser: bool,
    rotate: frozenset[str],
    connection_limit: int,
    result: InitResult,
) -> None:
    for role in roles.all:
        if not connection.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}
        ).first():
            connection.execute(text(f"CREATE ROLE {quote_ident(role)} NOLOGIN"))
            result.created.append(role)
        is_login = role != roles.owner
        attributes = ["LOGIN" if is_login else "NOLOGIN", "NOCREATEDB", "NOCREATEROLE", "INHERIT"]
        if superuser:  # only a superuser may name these; status checks them otherwise
            attributes += ["NOSUPERUSER", "NOREPLICATION", "NOBYPASSRLS"]
        if is_login:
            attributes.append(f"CONNECTION LIMIT {int(connection_limit)}")
        connection.execute(text(f"ALTER ROLE {quote_ident(role)} {' '.join(attributes)}"))
        # A membership would let SET ROLE reach another role's rights.
        for (member_of,) in connection.execute(
            text(
                "SELECT g.rolname FROM pg_auth_members m "
                "JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member "
                "WHERE r.rolname = :r"
            ),
            {"r": role},
        ).all():
            connection.execute(text(f"REVOKE {quote_ident(member_of)} FROM {quote_ident(role)}"))
        kind = role.removeprefix(f"{roles.prefix}_")
        if is_login and (role in result.created or kind in rotate):
            password = secrets.token_urlsafe(32)
            verifier = _verifier(connection, role, password)
            # Not text(): a verifier holds ':' and would be read as a bind parameter.
            connection.exec_driver_sql(f"ALTER ROLE {quote_ident(role)} PASSWORD '{verifier}'")
            result.passwords[role] = password
    # The runner acts as the owner (ALTER … OWNER TO needs membership; so does recover).
    connection.execute(text(f"GRANT {quote_ident(roles.owner)} TO CURRENT_USER"))


def _verifier(connection: Connection, role: str, password: str) -> str:
    """A SCRAM-SHA-256 verifier made here, so the clear password never reaches the server's
    statement log."""
    pgconn = getattr(connection.connection.dbapi_connection, "pgconn", None)
    if pgconn is None:
        raise ServerInitRefused("Server-enforced mode needs the psycopg driver.")
    made = pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
    verifier = bytes(made).decode("ascii")
    if "'" in verifier or "\\" in verifier:  # never: base64 and $:; keep the literal safe anyway
        raise ServerInitRefused("Could not make a password verifier for the new role.")
    return verifier


# ----- step 4–6: schemas, pgcrypto, objects moved out of public -------------------------------


def _make_schemas(connection: Connection, roles: Roles, result: InitResult) -> None:
    owner = quote_ident(roles.owner)
    for schema in (SCHEMA, CRYPTO_SCHEMA):
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner}"))
        connection.execute(text(f"ALTER SCHEMA {schema} OWNER TO {owner}"))
    if not connection.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = 'pgcrypto'")
    ).first():
        connection.execute(text(f"CREATE EXTENSION pgcrypto WITH SCHEMA {CRYPTO_SCHEMA}"))
    for table in _TABLES:
        if connection.execute(
            text("SELECT to_regclass(:n) IS NOT NULL"), {"n": f"public.{table}"}
        ).scalar():
            if connection.execute(
                text("SELECT to_regclass(:n) IS NOT NULL"), {"n": f"{SCHEMA}.{table}"}
            ).scalar():
                raise ServerInitRefused(
                    f"Both public.{table} and {SCHEMA}.{table} exist: the database holds two "
                    "copies of pmdesk's tables. Keep one (a backup first) and run init again."
                )
            connection.execute(text(f"ALTER TABLE public.{table} SET SCHEMA {SCHEMA}"))
            result.moved.append(table)
    for function in _FUNCTIONS:
        if connection.execute(
            text("SELECT to_regprocedure(:f) IS NOT NULL"), {"f": f"public.{function}"}
        ).scalar():
            connection.execute(text(f"ALTER FUNCTION public.{function} SET SCHEMA {SCHEMA}"))
            result.moved.append(function)


def _own_everything(connection: Connection, roles: Roles) -> None:
    """Tables, sequences and functions in schema pmdesk belong to the owner role (objects an
    older pmdesk made belong to whoever ran its migrations)."""
    owner = quote_ident(roles.owner)
    rows = connection.execute(
        text(
            "SELECT 'TABLE', format('%I.%I', n.nspname, c.relname) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = :s AND c.relkind IN ('r', 'p', 'v', 'm') "
            "AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = :o) "
            "UNION ALL "
            "SELECT 'FUNCTION', format('%I.%I(%s)', n.nspname, p.proname, "
            "pg_get_function_identity_arguments(p.oid)) FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = :s AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = :o)"
        ),
        {"s": SCHEMA, "o": roles.owner},
    ).all()
    for kind, name in rows:  # a table's sequences and indexes follow it
        connection.execute(text(f"ALTER {kind} {name} OWNER TO {owner}"))


# ----- level 2: passwords on the server ------------------------------------------------------


def _move_passwords(connection: Connection, result: InitResult) -> None:
    dropped = [str(row[0]) for row in connection.execute(text(passwords_sql.UNCONVERTIBLE))]
    if dropped:
        connection.execute(text(passwords_sql.DROP_UNCONVERTIBLE))
        result.passwords_dropped = dropped
        result.warnings.append(
            f"{len(dropped)} people had a password hash pmdesk cannot use and now have no "
            f"password (set one in Personnel): {', '.join(dropped[:20])}"
            + (" …" if len(dropped) > 20 else "")
        )
    result.passwords_moved = int(
        connection.execute(text(passwords_sql.CONVERT_EXISTING)).rowcount or 0
    )


def _vacuum_personnel(db: Database) -> None:
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"VACUUM {SCHEMA}.personnel"))


# ----- role settings ------------------------------------------------------------------------


def _role_settings(
    connection: Connection, roles: Roles, superuser: bool, result: InitResult
) -> None:
    db = quote_ident(str(connection.execute(text("SELECT current_database()")).scalar()))
    for role in roles.logins:
        connection.execute(
            text(f"ALTER ROLE {quote_ident(role)} IN DATABASE {db} SET search_path = {SCHEMA}")
        )
        if superuser:
            # Bind values (tokens, codes) stay out of the server log; a superuser-only setting.
            connection.execute(
                text(f"ALTER ROLE {quote_ident(role)} SET log_parameter_max_length = 0")
            )
    if not superuser:
        result.warnings.append(
            "Not a superuser: log_parameter_max_length = 0 was not set for the login roles; "
            "a superuser should run: ALTER ROLE "
            + ", ".join(roles.logins)
            + " SET log_parameter_max_length = 0 (one statement per role)."
        )


# ----- step 9: conversion of existing data ------------------------------------------------------


def _convert(connection: Connection, clock: Clock, result: InitResult) -> Conversion:
    """Once: end every session and withdraw every pending code (either could have been made
    by anyone holding the old, all-powerful login), keep everything else, audit it."""
    from sqlalchemy.orm import Session

    def count(sql: str) -> int:
        return int(connection.execute(text(sql)).scalar() or 0)

    people = count(f"SELECT count(*) FROM {SCHEMA}.personnel")
    addresses = count(f"SELECT count(*) FROM {SCHEMA}.trusted_ips")
    sessions = connection.execute(text(f"DELETE FROM {SCHEMA}.user_sessions")).rowcount
    codes = connection.execute(text(f"DELETE FROM {SCHEMA}.login_challenges")).rowcount
    conversion = Conversion(
        sessions_ended=int(sessions or 0),
        codes_withdrawn=int(codes or 0),
        trusted_addresses=addresses,
        people=people,
    )
    host = socket.gethostname()
    actor = Actor(name=f"server init: {os_user() or 'unknown'}@{host}", workstation=host)
    with Session(bind=connection) as s:  # joins the caller's transaction; commits only its work
        audit.record(
            s,
            clock,
            actor,
            Event.BREAK_GLASS,
            detail=(
                f"server-enforced mode set up: {conversion.sessions_ended} sessions ended, "
                f"{conversion.codes_withdrawn} pending codes withdrawn; {people} people, "
                f"{result.passwords_moved} passwords (now verified by the server) and "
                f"{addresses} trusted addresses kept"
            ),
        )
        s.commit()
    meta.write(connection, converted_at=_utc_text())
    return conversion
