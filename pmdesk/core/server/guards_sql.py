"""Hardening level 4: every write to pmdesk's tables is checked by the server.

A BEFORE trigger on each table asks the session the connection presents (``current_person()``,
sessions_sql.py) for the same rights the core services check (``permissions.require`` and
``require_within_own_rights``): Maintenance for people, System for groups and their rights,
System → Security for the settings and trusted addresses. Without a session nothing can be
written; with a clerk's session nothing beyond the clerk's rights. The services keep their
ORM code and their own checks (which give the precise message first); the triggers are what
protects the data when someone writes with the workstation's login by other means.

Writes made inside the owner's definer functions (sign-in, relay, sweep) and by the owner, its
members and superusers (``server init``, migrations, break-glass recovery) pass: those run as a
role that owns the schema, and did their own checks.

Reading is not restricted yet (row-level security comes with a later level): the workstation
login can still read people, groups, settings and trusted addresses, never secrets.
Every statement is idempotent: ``server init`` runs them all each time.
"""

from __future__ import annotations

from pmdesk.core.lockout import FIRST_LOCK_MINUTES_RANGE as _FIRST
from pmdesk.core.lockout import LOCK_AFTER_RANGE as _LOCK_AFTER
from pmdesk.core.lockout import MAX_LOCK_MINUTES_LIMIT as _LONGEST
from pmdesk.core.server.alerts_sql import MAILBOX_PATTERN
from pmdesk.core.server.roles import SCHEMA

_S = SCHEMA

#: Tables whose rows only migrations and the owner write.
SEEDED_TABLES = ("modules", "locations", "teams", "languages")


def _guard(name: str, body: str, declare: str = "") -> str:
    """A write guard (BEFORE row trigger function): the owner, its members and superusers pass
    (they did their own checks); every other writer meets ``body``. It runs as whoever writes,
    on purpose: a definer would see only the owner."""
    declarations = f"\n    DECLARE{declare.rstrip()}" if declare.strip() else ""
    return f"""
    CREATE OR REPLACE FUNCTION {_S}.{name}() RETURNS trigger
    LANGUAGE plpgsql SET search_path = {_S}, pg_temp AS $${declarations}
    BEGIN
        IF {_S}.trusted_writer() THEN
            RETURN coalesce(NEW, OLD);
        END IF;
{body.strip(chr(10))}
    END
    $$"""


# PMD01 is a permission refusal (the client's PermissionDenied), 28000 "sign in first".
_FUNCTIONS = (
    # Whether this statement runs as the schema's owner (inside a definer function), a member
    # of it or a superuser: they did their own checks.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.trusted_writer() RETURNS boolean
    LANGUAGE sql STABLE SET search_path = {_S}, pg_temp AS $$
        SELECT pg_has_role(current_user, n.nspowner, 'MEMBER')
        FROM pg_namespace n WHERE n.nspname = '{_S}'
    $$""",
    # Whether nobody can sign in yet, leaving aside people added by this very transaction:
    # the first administrator of an empty database is added (and audited) without a session,
    # as the client's first-run rule allows. Once one is committed, never again. (A transaction
    # that has written nothing has no id, and no row of its own: no id is drawn just to ask.)
    f"""
    CREATE OR REPLACE FUNCTION {_S}.bootstrapping() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
        SELECT NOT EXISTS (
            SELECT 1 FROM {_S}.personnel p
            WHERE p.login IS NOT NULL AND p.password_hash IS NOT NULL
              AND p.xmin::text IS DISTINCT FROM (txid_current_if_assigned() % 4294967296)::text)
    $$""",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.refuse_write(what text) RETURNS void
    LANGUAGE plpgsql STABLE SET search_path = {_S}, pg_temp AS $$
    BEGIN
        RAISE EXCEPTION 'Your user group may not %.', what USING ERRCODE = 'PMD01';
    END
    $$""",
    # The group a person belongs to (NULL for someone unknown).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.group_of(person integer) RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
        SELECT p.group_id FROM {_S}.personnel p WHERE p.id = person
    $$""",
    # people: Maintenance Edit / Delete, never beyond one's own rights; one's own password.
    _guard(
        "guard_personnel",
        f"""
        IF TG_OP = 'INSERT' AND {_S}.current_person() IS NULL AND {_S}.bootstrapping() THEN
            RETURN NEW;  -- the first administrator of a database nobody can sign in to
        END IF;
        me := {_S}.require_person();
        IF TG_OP = 'DELETE' THEN
            IF OLD.id = me OR NOT {_S}.may('maintenance', 'delete')
               OR NOT {_S}.within_own_rights(OLD.group_id) THEN
                PERFORM {_S}.refuse_write('delete this person');
            END IF;
            RETURN OLD;
        END IF;
        IF TG_OP = 'UPDATE' THEN
            -- Sign-in bookkeeping is the server's own (its functions run as the owner).
            IF NEW.last_login_at IS DISTINCT FROM OLD.last_login_at
               OR (NEW.failed_logins > OLD.failed_logins)
               OR (NEW.locked_until IS NOT NULL
                   AND NEW.locked_until IS DISTINCT FROM OLD.locked_until) THEN
                PERFORM {_S}.refuse_write('change sign-in counters');
            END IF;
            own_password := OLD.id = me AND NEW.group_id IS NOT DISTINCT FROM OLD.group_id
                AND NEW.login IS NOT DISTINCT FROM OLD.login
                AND NEW.login_key IS NOT DISTINCT FROM OLD.login_key
                AND NEW.locked_until IS NOT DISTINCT FROM OLD.locked_until
                AND NEW.failed_logins = OLD.failed_logins AND NEW.lock_count = OLD.lock_count;
            IF own_password AND (NEW.password_hash IS DISTINCT FROM OLD.password_hash
                                 OR NEW.password_changed_at
                                    IS DISTINCT FROM OLD.password_changed_at) THEN
                IF (to_jsonb(NEW) - 'password_hash' - 'password_changed_at' - 'version'
                    - 'updated_at') = (to_jsonb(OLD) - 'password_hash' - 'password_changed_at'
                    - 'version' - 'updated_at') THEN
                    RETURN NEW;  -- one's own password, nothing else
                END IF;
            END IF;
            IF NOT {_S}.may('maintenance', 'edit') OR NOT {_S}.within_own_rights(OLD.group_id)
               OR NOT {_S}.within_own_rights(NEW.group_id) THEN
                PERFORM {_S}.refuse_write('change this person');
            END IF;
            RETURN NEW;
        END IF;
        IF NOT {_S}.may('maintenance', 'edit') OR NOT {_S}.within_own_rights(NEW.group_id) THEN
            PERFORM {_S}.refuse_write('add this person');
        END IF;
        RETURN NEW;
""",
        declare="""
        me integer;
        own_password boolean;
""",
    ),
    # trusted addresses: added with Security Edit (never an address that cannot be trusted
    # here), removed by their owner or with Security Delete, or by Maintenance when a person's
    # password changes or the person goes; never for someone beyond one's own rights.
    _guard(
        "guard_trusted_ips",
        f"""
        me := {_S}.require_person();
        IF TG_OP = 'DELETE' THEN
            IF OLD.person_id <> me AND NOT (
                   ({_S}.may('system.security', 'delete') OR {_S}.may('maintenance', 'edit'))
                   AND {_S}.within_own_rights({_S}.group_of(OLD.person_id))) THEN
                PERFORM {_S}.refuse_write('remove this trusted address');
            END IF;
            RETURN OLD;
        END IF;
        IF NOT {_S}.may('system.security', 'edit')
           OR NOT {_S}.within_own_rights({_S}.group_of(NEW.person_id))
           OR (TG_OP = 'UPDATE' AND NEW.person_id <> OLD.person_id) THEN
            PERFORM {_S}.refuse_write('trust an address for this person');
        END IF;
        why_not := {_S}.trust_refusal(NEW.address);
        IF why_not IS NOT NULL THEN
            RAISE EXCEPTION '%', why_not USING ERRCODE = 'PMD05', DETAIL = 'address';
        END IF;
        -- Who trusted it is the session's person, whatever the row says; an update that does
        -- not start a new period keeps who and where.
        IF TG_OP = 'UPDATE' AND NEW.created_at = OLD.created_at THEN
            NEW.trusted_by := OLD.trusted_by;
            NEW.trusted_on := OLD.trusted_on;
        ELSE
            NEW.trusted_by := (SELECT p.login FROM {_S}.personnel p WHERE p.id = me);
        END IF;
        RETURN NEW;
""",
        declare="""
        me integer;
        why_not text;
""",
    ),
    _guard(
        "guard_security_settings",
        f"""
        PERFORM {_S}.require_person();
        IF TG_OP <> 'UPDATE' OR NOT {_S}.may('system.security', 'edit') THEN
            PERFORM {_S}.refuse_write('change System → Security');
        END IF;
        -- The lockout's bounds (security.SecurityService.update; CHECK constraints too).
        IF NEW.lock_after_failures NOT BETWEEN {_LOCK_AFTER[0]} AND {_LOCK_AFTER[1]} THEN
            RAISE EXCEPTION 'Failures before a lock must be a whole number of failures from '
                '{_LOCK_AFTER[0]} to {_LOCK_AFTER[1]}.'
                USING ERRCODE = 'PMD05', DETAIL = 'lock_after_failures';
        END IF;
        IF NEW.first_lock_minutes NOT BETWEEN {_FIRST[0]} AND {_FIRST[1]} THEN
            RAISE EXCEPTION 'The first lock must be a whole number of minutes from {_FIRST[0]} '
                'to {_FIRST[1]}.' USING ERRCODE = 'PMD05', DETAIL = 'first_lock_minutes';
        END IF;
        IF NEW.max_lock_minutes NOT BETWEEN NEW.first_lock_minutes AND {_LONGEST} THEN
            RAISE EXCEPTION 'The longest lock must be a whole number of minutes from % to '
                '{_LONGEST}.', NEW.first_lock_minutes
                USING ERRCODE = 'PMD05', DETAIL = 'max_lock_minutes';
        END IF;
        -- The trust alerts' helpdesk mailbox: one e-mail address, or none (alerts_sql).
        IF NEW.helpdesk_mailbox IS DISTINCT FROM OLD.helpdesk_mailbox
           AND coalesce(NEW.helpdesk_mailbox, '') <> ''
           AND NEW.helpdesk_mailbox !~ '{MAILBOX_PATTERN}' THEN
            RAISE EXCEPTION 'The helpdesk mailbox must be one e-mail address.'
                USING ERRCODE = 'PMD05', DETAIL = 'helpdesk_mailbox';
        END IF;
        RETURN NEW;
""",
    ),
    # the office networks (whose addresses may be trusted): System → Security Edit, as
    # OfficeNetworkService asks.
    _guard(
        "guard_office_networks",
        f"""
        PERFORM {_S}.require_person();
        IF NOT {_S}.may('system.security', 'edit') THEN
            PERFORM {_S}.refuse_write('change the office networks');
        END IF;
        RETURN coalesce(NEW, OLD);
""",
    ),
    # groups and their rights: System Edit (System Delete to delete a group).
    _guard(
        "guard_groups",
        f"""
        PERFORM {_S}.require_person();
        IF NOT {_S}.may('system', CASE WHEN TG_OP = 'DELETE' AND TG_TABLE_NAME = 'user_groups'
                                      THEN 'delete' ELSE 'edit' END) THEN
            PERFORM {_S}.refuse_write('change user groups or their rights');
        END IF;
        RETURN coalesce(NEW, OLD);
""",
    ),
    # the log: written by signed-in sessions, never changed or removed.
    _guard(
        "guard_audit_events",
        f"""
        IF TG_OP <> 'INSERT' THEN
            PERFORM {_S}.refuse_write('change the log');
        END IF;
        IF NOT {_S}.bootstrapping() THEN
            PERFORM {_S}.require_person();
        END IF;
        RETURN NEW;
""",
    ),
    # what the last deliveries did: written by the relay, or by a test send (Security Edit).
    _guard(
        "guard_delivery_outcomes",
        f"""
        PERFORM {_S}.require_person();
        IF NOT {_S}.may('system.security', 'edit') THEN
            PERFORM {_S}.refuse_write('record deliveries');
        END IF;
        RETURN coalesce(NEW, OLD);
""",
    ),
    f"""
    CREATE OR REPLACE FUNCTION {_S}.guard_seeded() RETURNS trigger
    LANGUAGE plpgsql SET search_path = {_S}, pg_temp AS $$
    BEGIN
        IF NOT {_S}.trusted_writer() THEN
            PERFORM {_S}.refuse_write('change ' || TG_TABLE_NAME);
        END IF;
        RETURN coalesce(NEW, OLD);
    END
    $$""",
)

# (table, guard function). Named pmdesk_0_guard so that it fires before every other BEFORE
# trigger of its table (PostgreSQL fires them in name order), take_password_hash among them.
_GUARDED = (
    ("personnel", "guard_personnel"),
    ("trusted_ips", "guard_trusted_ips"),
    ("security_settings", "guard_security_settings"),
    ("office_networks", "guard_office_networks"),
    ("user_groups", "guard_groups"),
    ("group_permissions", "guard_groups"),
    ("audit_events", "guard_audit_events"),
    ("delivery_outcomes", "guard_delivery_outcomes"),
    # PostgreSQL signals changes with NOTIFY: the counters are MariaDB's.
    ("change_counters", "guard_seeded"),
    *((table, "guard_seeded") for table in SEEDED_TABLES),
)

STATEMENTS: tuple[str, ...] = (
    *_FUNCTIONS,
    *(
        statement
        for table, guard in _GUARDED
        for statement in (
            f"DROP TRIGGER IF EXISTS pmdesk_0_guard ON {_S}.{table}",
            f"CREATE TRIGGER pmdesk_0_guard BEFORE INSERT OR UPDATE OR DELETE ON {_S}.{table} "
            f"FOR EACH ROW EXECUTE FUNCTION {_S}.{guard}()",
        )
    ),
)

#: Helpers the guards call as the workstation (the guards run as whoever writes); they reveal
#: nothing the workstation cannot read anyway.
WORKSTATION_FUNCTIONS = (
    "trusted_writer()",
    "bootstrapping()",
    "require_person()",
    "refuse_write(text)",
    "group_of(integer)",
    "trust_refusal(text)",
)
