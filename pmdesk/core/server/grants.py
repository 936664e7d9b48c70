"""Who may do what on a hardened database: every grant, revoked and given again each time.

Running the whole list again is what makes ``server init`` and ``db upgrade`` idempotent and
what repairs a hand-made change. Other roles lose every privilege on pmdesk's objects: an
older README told administrators to make workstation logins with rights on every table, and
such a login would walk past whatever the server enforces.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from pmdesk.core.server.objects import (
    RELAY_FUNCTIONS,
    SECRET_TABLES,
    SEEDED_TABLES,
    SIGN_IN_TABLES,
    WORKSTATION_FUNCTIONS,
)
from pmdesk.core.server.roles import CRYPTO_SCHEMA, SCHEMA, Roles, quote_ident

# Tables whose rows describe the schema itself: readable, never writable by a login role.
_READ_ONLY_TABLES = ("alembic_version", "server_meta")

# Every privilege some other role holds on pmdesk's objects (aclexplode of the catalogs);
# grantee 0 is PUBLIC, handled by its own statements.
OTHER_GRANTEES = f"""
WITH acl AS (
    SELECT CASE WHEN c.relkind = 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind,
           format('%I.%I', n.nspname, c.relname) AS object, c.relowner AS owner,
           (aclexplode(c.relacl)).grantee
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname IN ('{SCHEMA}', '{CRYPTO_SCHEMA}') AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
    UNION ALL
    SELECT 'FUNCTION',
           format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)),
           p.proowner, (aclexplode(p.proacl)).grantee
    FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname IN ('{SCHEMA}', '{CRYPTO_SCHEMA}')
    UNION ALL
    SELECT 'SCHEMA', quote_ident(n.nspname), n.nspowner, (aclexplode(n.nspacl)).grantee
    FROM pg_namespace n WHERE n.nspname IN ('{SCHEMA}', '{CRYPTO_SCHEMA}')
    UNION ALL
    SELECT 'DATABASE', quote_ident(d.datname), d.datdba, (aclexplode(d.datacl)).grantee
    FROM pg_database d WHERE d.datname = current_database()
)
SELECT DISTINCT acl.kind, acl.object, r.rolname
FROM acl JOIN pg_roles r ON r.oid = acl.grantee
WHERE r.rolname <> ALL(:ours) AND acl.grantee <> acl.owner  -- an owner keeps its own rights
ORDER BY 3, 1, 2
"""


def other_grantees(connection: Connection, roles: Roles) -> list[tuple[str, str, str]]:
    """(kind, object, role) for each privilege a role other than pmdesk's own holds."""
    rows = connection.execute(text(OTHER_GRANTEES), {"ours": list(roles.all)}).all()
    return [(str(kind), str(obj), str(role)) for kind, obj, role in rows]


def apply(connection: Connection, roles: Roles) -> list[str]:
    """Revoke everything, then grant what hardening level 1 gives; returns what was taken
    from other roles ("ROLE: KIND OBJECT"). Run in the caller's transaction."""
    owner = quote_ident(roles.owner)
    ws = quote_ident(roles.workstation)
    relay = quote_ident(roles.relay)
    db = quote_ident(str(connection.execute(text("SELECT current_database()")).scalar()))
    taken: list[str] = []
    for kind, obj, role in other_grantees(connection, roles):
        connection.execute(text(f"REVOKE ALL ON {kind} {obj} FROM {quote_ident(role)}"))
        taken.append(f"{role}: {kind.lower()} {obj}")
    ours = f"PUBLIC, {ws}, {relay}"
    for statement in (
        # PUBLIC: no CONNECT or TEMP (nothing can shadow a name in a temporary schema).
        f"REVOKE ALL ON DATABASE {db} FROM {ours}",
        f"REVOKE ALL ON SCHEMA public FROM {ours}",
        f"REVOKE ALL ON SCHEMA {SCHEMA}, {CRYPTO_SCHEMA} FROM {ours}",
        f"REVOKE ALL ON ALL TABLES IN SCHEMA {SCHEMA} FROM {ours}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {SCHEMA} FROM {ours}",
        f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {SCHEMA}, {CRYPTO_SCHEMA} FROM {ours}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {db} TO {ws}, {relay}",
        f"GRANT USAGE ON SCHEMA {SCHEMA} TO {ws}, {relay}",
        # The owner's definer functions call pgcrypto (its functions belong to whoever
        # installed the extension).
        f"GRANT USAGE ON SCHEMA {CRYPTO_SCHEMA} TO {owner}",
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {CRYPTO_SCHEMA} TO {owner}",
        # The workstation reads and writes the data tables; since level 5 every write passes
        # the table's guard trigger (guards_sql), which asks the session for the rights.
        # Never the secrets below.
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {SCHEMA} TO {ws}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO {ws}",
    ):
        connection.execute(text(statement))
    for table in SECRET_TABLES:
        name = f"{SCHEMA}.{table}"
        if connection.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar():
            connection.execute(text(f"REVOKE ALL ON {name} FROM {ws}"))
    for role, functions in ((ws, WORKSTATION_FUNCTIONS), (relay, RELAY_FUNCTIONS)):
        for function in functions:
            name = f"{SCHEMA}.{function}"
            if connection.execute(
                text("SELECT to_regprocedure(:f) IS NOT NULL"), {"f": name}
            ).scalar():
                connection.execute(text(f"GRANT EXECUTE ON FUNCTION {name} TO {role}"))
    # The log is written, never changed (its guard says so too; without the right, nobody
    # even reaches it).
    audit = f"{SCHEMA}.audit_events"
    if connection.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": audit}).scalar():
        connection.execute(text(f"REVOKE UPDATE, DELETE ON {audit} FROM {ws}"))
    for table in SEEDED_TABLES:  # made by migrations: the workstation only reads them
        name = f"{SCHEMA}.{table}"
        if connection.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar():
            connection.execute(text(f"REVOKE INSERT, UPDATE, DELETE ON {name} FROM {ws}"))
    for table in SIGN_IN_TABLES:  # written by the sign-in's definer functions alone
        name = f"{SCHEMA}.{table}"
        if connection.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar():
            connection.execute(text(f"REVOKE INSERT, UPDATE, DELETE ON {name} FROM {ws}"))
    for table in _READ_ONLY_TABLES:
        name = f"{SCHEMA}.{table}"
        if connection.execute(text("SELECT to_regclass(:n) IS NOT NULL"), {"n": name}).scalar():
            connection.execute(text(f"REVOKE INSERT, UPDATE, DELETE ON {name} FROM {ws}"))
            connection.execute(text(f"GRANT SELECT ON {name} TO {relay}"))
    return taken
