"""Hardening level 6: reading depends on the session too (docs/server-enforced.md §5.2).

Row-level security (ENABLE, not FORCE: the owner's definer functions still see every row) on
every table the workstation role may reach. The SELECT policies ask the session the
connection presents for the rights the screens check: one's own row and trusted addresses,
Maintenance / System / System → Security Read for people, System → Log Read for the log,
System → Security Read for delivery outcomes, and "signed in" for groups, rights, settings and
the seeded lists. Without a session nothing is visible, except while nobody can sign in at all
(``bootstrapping()``): the first administrator of an empty database is added, as the client's
first-run rule allows, and that needs the groups and the new row itself.

The write policies let every row through (``USING (true) WITH CHECK (true)``): the guard
triggers of level 5 (guards_sql) are the check. RLS only needs a policy per command, and an
UPDATE or DELETE with a WHERE still sees only the rows the SELECT policy shows.

Before a sign-in a workstation reads one thing: ``server_info()``, what it needs to start and
to word the login dialog (hardening, schema, whether anyone can sign in, two-step login on,
recent delivery trouble, the relay's heartbeat, why its own address cannot be trusted).
Nothing about any person.

Every statement is idempotent: ``server init`` runs them all each time.
"""

from __future__ import annotations

from pmdesk.core.delivery import health
from pmdesk.core.modules import (
    MAINTENANCE,
    SYSTEM,
    SYSTEM_LOG,
    SYSTEM_SECURITY,
    Action,
)
from pmdesk.core.server.roles import SCHEMA

_S = SCHEMA
_READ = Action.READ.value


def _may(module_key: str) -> str:
    # A sub-select: the planner evaluates it once per statement (an InitPlan), not per row.
    return f"(SELECT {_S}.may('{module_key}', '{_READ}'))"


_ME = f"(SELECT {_S}.current_person())"
#: Tables anyone signed in may read, whatever their rights (§5.2).
SIGNED_IN_TABLES = (
    "user_groups",
    "group_permissions",
    "security_settings",
    "office_networks",  # the networks whose addresses may be trusted (0008)
    "modules",
    "locations",
    "teams",
    "languages",
)
_SIGNED_IN = f"({_ME} IS NOT NULL OR (SELECT {_S}.bootstrapping()))"

#: What a SELECT shows, per table (§5.2). Tables not listed here, and the secret ones, show
#: nothing: RLS is on and no policy lets a row through.
READ_POLICIES: dict[str, str] = {
    # Personnel lists (Maintenance), group members (System), the Security list's names; one's
    # own row. The rights first: for whoever holds one, each row passes on the first operand.
    "personnel": f"{_may(MAINTENANCE.key)} OR {_may(SYSTEM.key)} OR {_may(SYSTEM_SECURITY.key)} "
    f"OR id = {_ME} OR (SELECT {_S}.bootstrapping())",
    "trusted_ips": f"{_may(SYSTEM_SECURITY.key)} OR {_may(MAINTENANCE.key)} OR person_id = {_ME}",
    # The log; and the row this connection just wrote (an INSERT … RETURNING must see it):
    # asked per row, not once per statement, as a multi-row INSERT writes several.
    "audit_events": f"{_may(SYSTEM_LOG.key)} OR id = {_S}.audit_row_just_written()",
    "delivery_outcomes": _may(SYSTEM_SECURITY.key),
    # Failures and locks per (person, address): the Locked now list (Maintenance Read), one's
    # own. Written only by the sign-in's definer functions and the unlock trigger.
    "login_failures": f"{_may(MAINTENANCE.key)} OR person_id = {_ME}",
    **dict.fromkeys(SIGNED_IN_TABLES, _SIGNED_IN),
}
#: The commands the workstation role holds a grant for, per table: each gets a policy that
#: lets every row through, because the table's guard trigger (guards_sql) decides. A table
#: without a guard gets none: no workstation writes it.
WRITE_COMMANDS: dict[str, tuple[str, ...]] = {
    "personnel": ("INSERT", "UPDATE", "DELETE"),
    "trusted_ips": ("INSERT", "UPDATE", "DELETE"),
    "security_settings": ("INSERT", "UPDATE", "DELETE"),
    "office_networks": ("INSERT", "UPDATE", "DELETE"),
    "user_groups": ("INSERT", "UPDATE", "DELETE"),
    "group_permissions": ("INSERT", "UPDATE", "DELETE"),
    "delivery_outcomes": ("INSERT", "UPDATE", "DELETE"),
    "audit_events": ("INSERT",),
}
#: Tables with RLS on and no policy at all: reached only through definer functions (and
#: change_counters is MariaDB's). Defence in depth should someone grant them by hand.
CLOSED_TABLES = (
    "change_counters",
    "login_challenges",
    "user_sessions",
    "credentials",
    "server_secret",
    "code_queue",
    "relay_heartbeat",
    "ended_sessions",  # rules_sql (4c part B)
    "trusted_ip_removals",  # review_sql: what Undo may put back (0012)
)
#: Readable without a session, no RLS: they describe the schema, not people, and every
#: pmdesk (an older one too) reads them to know what it is talking to.
OPEN_TABLES = ("alembic_version", "server_meta")
READ_POLICY = "pmdesk_read"


def write_policy(command: str) -> str:
    return f"pmdesk_{command.lower()}"


#: Every table with RLS and the names of the policies it must have (``server status``).
EXPECTED: dict[str, tuple[str, ...]] = {
    **{
        table: (READ_POLICY, *(write_policy(c) for c in WRITE_COMMANDS.get(table, ())))
        for table in READ_POLICIES
    },
    **{table: () for table in CLOSED_TABLES},
}

# A failed send at one of these steps breaks every send (delivery.health.DeliveryHealth.failing).
_BROKEN_STEPS = ", ".join(f"'{step}'" for step in sorted(health._BROKEN_STEPS))


def _policies(table: str) -> str:
    """The table's policies, made anew; a table this database does not have is skipped."""
    made = [
        f"DROP POLICY IF EXISTS {READ_POLICY} ON {_S}.{table}",
        f"CREATE POLICY {READ_POLICY} ON {_S}.{table} FOR SELECT USING ({READ_POLICIES[table]})",
    ]
    for command in WRITE_COMMANDS.get(table, ()):
        name = write_policy(command)
        rule = {
            "INSERT": "WITH CHECK (true)",
            "UPDATE": "USING (true) WITH CHECK (true)",
            "DELETE": "USING (true)",
        }[command]
        made += [
            f"DROP POLICY IF EXISTS {name} ON {_S}.{table}",
            # The guard trigger is the check (guards_sql); RLS needs a policy per command.
            f"CREATE POLICY {name} ON {_S}.{table} FOR {command} {rule}",
        ]
    body = "; ".join(made)
    return f"DO $$ BEGIN IF to_regclass('{_S}.{table}') IS NOT NULL THEN {body}; END IF; END $$"


_FUNCTIONS = (
    # The id of the audit row this connection inserted last (NULL before any): an INSERT …
    # RETURNING of the log by someone without Log Read must see the row it is writing, and
    # nothing else.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.audit_row_just_written() RETURNS bigint
    LANGUAGE plpgsql VOLATILE SET search_path = {_S}, pg_temp AS $$
    BEGIN
        RETURN currval(pg_get_serial_sequence('{_S}.audit_events', 'id'));
    EXCEPTION WHEN object_not_in_prerequisite_state THEN
        RETURN NULL;  -- nothing inserted by this connection yet
    END
    $$""",
    # What a workstation needs before anyone signs in on it (§5.3): nothing about a person.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.server_info() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
        SELECT jsonb_build_object(
            'hardening', (SELECT m.value::integer FROM {_S}.server_meta m
                          WHERE m.key = 'hardening_level'),
            'schema', (SELECT string_agg(a.version_num, ',') FROM {_S}.alembic_version a),
            'has_users', EXISTS (SELECT 1 FROM {_S}.personnel p WHERE p.login_key IS NOT NULL),
            'anyone_can_sign_in', EXISTS (
                SELECT 1 FROM {_S}.personnel p
                WHERE p.login_key IS NOT NULL AND p.password_hash IS NOT NULL),
            'two_factor', coalesce(s.two_factor_enabled, false),
            'delivery_trouble', coalesce(s.two_factor_enabled AND NOT o.ok
                AND (o.step IN ({_BROKEN_STEPS}) OR o.failures_in_row >= 2), false),
            'relay_host', (SELECT h.host FROM {_S}.relay_heartbeat h
                           ORDER BY h.last_seen_at DESC LIMIT 1),
            'relay_last_seen_s', {_S}.relay_last_seen_s(),
            'trust_refusal', {_S}.trust_refusal({_S}.client_address()))
        FROM (SELECT 1) AS one
        LEFT JOIN (SELECT * FROM {_S}.security_settings x ORDER BY x.id LIMIT 1) AS s ON true
        LEFT JOIN {_S}.delivery_outcomes o ON o.method = s.delivery_method
    $$""",
)

STATEMENTS: tuple[str, ...] = (
    *_FUNCTIONS,
    # A table of a later part (or one a migration dropped) is skipped, not an error.
    *(
        f"DO $$ BEGIN IF to_regclass('{_S}.{table}') IS NOT NULL THEN "
        f"ALTER TABLE {_S}.{table} ENABLE ROW LEVEL SECURITY; END IF; END $$"
        for table in EXPECTED
    ),
    *(_policies(table) for table in READ_POLICIES),
)

#: What the workstation role may call: ``server_info`` before a sign-in; the policy helper
#: runs as whoever reads.
WORKSTATION_FUNCTIONS = ("server_info()", "audit_row_just_written()")
#: Of those, the ones that run as whoever calls them (the policy needs the caller's currval).
RUN_AS_CALLER = ("audit_row_just_written()",)
#: ``server status`` and the relay may ask it too.
RELAY_FUNCTIONS = ("server_info()",)
