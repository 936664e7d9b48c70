"""Hardening level 6, the rules: what the client still decided alone after level 5.

- **An administrator is kept.** At commit (a deferred constraint trigger), somebody with a
  login and a password must keep Read and Edit on System → Security and on System, the rule of
  ``permissions.guard_administrators``, refused with its sentence (PMD04, the client's
  ``LastAdministratorError``). It fires for every change that could take that away: a person's
  group, login or password, a person deleted, a right of a group changed or removed (deleting a
  group removes its rights). Checked at commit, so a transaction may move people around as long
  as it ends with an administrator; under an advisory lock, so that two workstations each
  demoting one of two administrators cannot both commit.
- **A new password ends what the old one earned.** Whoever sets one (``PersonnelService``,
  or raw SQL through the guards), the server removes the person's trusted addresses, ends the
  sessions the new password made void, and writes the ``password.changed`` row the client
  wrote before, at commit. The change time is the server's when the writer leaves it out.
- **A sign-out after the session ended elsewhere** (End sessions, a new password, a lock, the
  lease lapsed) is audited ``signed_out`` as the client does on the other engines: deleted
  sessions leave a tombstone (their token's hash, kept a day), and ``sign_out()`` presenting a
  desktop session's token that only a tombstone knows writes the row, once.

Writes by the owner, its members and superusers (init, migrations, recovery, tests' set-up)
pass: they did their own checks. Sentences come from the Python modules, so both sides say
the same. Every statement is idempotent: ``server init`` runs them all each time.
"""

from __future__ import annotations

from pmdesk.core import sessions
from pmdesk.core.audit import Event
from pmdesk.core.permissions import ADMINISTERED, LAST_ADMINISTRATOR_SENTENCE
from pmdesk.core.server.passwords_sql import MARKER
from pmdesk.core.server.queue_sql import PERSON_SUBJECT, PRESENTED_SESSION
from pmdesk.core.server.roles import SCHEMA

_S = SCHEMA
#: The level from which the server applies these rules itself (the client then skips its own
#: password bookkeeping).
SERVER_RULES_LEVEL = 6
#: How long a deleted session's token is remembered for a late sign-out.
TOMBSTONE_HOURS = 24
# pg_advisory_xact_lock's key for "who administers": one pair for the whole database.
_ADMIN_LOCK = "7013, 1"


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


_BEFORE, _AFTER = LAST_ADMINISTRATOR_SENTENCE.split("{}")
_ADMINISTERED = ", ".join(
    f"({_literal(module.key)}, {_literal(label)}, {i})"
    for i, (module, label) in enumerate(ADMINISTERED)
)
_ADMIN_KEYS = ", ".join(_literal(module.key) for module, _ in ADMINISTERED)

_FUNCTIONS = (
    # Whether whoever logged in on this connection is the owner, a member of it or a
    # superuser. session_user, not current_user: it stays the login's inside definers, and at
    # commit.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.owner_session() RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
        SELECT pg_has_role(session_user, n.nspowner, 'MEMBER')
        FROM pg_namespace n WHERE n.nspname = '{_S}'
    $$""",
    # The modules nobody who can sign in administers any more, as the refusal names them
    # (permissions.administrator_counts). VOLATILE: after the lock it must see what the
    # transactions committed meanwhile, not the snapshot of the statement that fired it.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.administrators_missing() RETURNS text[]
    LANGUAGE sql VOLATILE SET search_path = {_S}, pg_temp AS $$
        SELECT coalesce(array_agg(m.label ORDER BY m.position), '{{}}')
        FROM (VALUES {_ADMINISTERED}) AS m (key, label, position)
        WHERE NOT EXISTS (
            SELECT 1 FROM {_S}.personnel p
            JOIN {_S}.group_permissions g ON g.group_id = p.group_id
            WHERE g.module_key = m.key AND g.can_read AND g.can_edit
              AND p.login IS NOT NULL AND p.login_key IS NOT NULL
              AND p.password_hash IS NOT NULL)
    $$""",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.keep_an_administrator() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        missing text[];
    BEGIN
        IF {_S}.owner_session() THEN
            RETURN NULL;
        END IF;
        PERFORM pg_advisory_xact_lock({_ADMIN_LOCK});
        missing := {_S}.administrators_missing();
        IF cardinality(missing) > 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'PMD04', MESSAGE = {_literal(_BEFORE)}
                || array_to_string(missing, ' and ') || {_literal(_AFTER)};
        END IF;
        RETURN NULL;
    END
    $$""",
    # BEFORE a new password is stored (before take_password_hash turns it into a credential):
    # it dates from the server's now, whatever the writer said, so that every session and code
    # made before it stops working (a backdated change would keep them). Only for writers
    # other than the owner (the trigger's WHEN): the server's own rehash at sign-in is no new
    # password.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.date_new_password() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    BEGIN
        NEW.password_changed_at := {_S}.now();
        RETURN NEW;
    END
    $$""",
    # At commit, after a new password: PersonnelService._after_password_change, as the
    # session that set it.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.after_new_password() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        p {_S}.personnel%ROWTYPE;
        mine {_S}.user_sessions%ROWTYPE;
        my_login text;
        removed integer;
        ended integer;
    BEGIN
        IF {_S}.owner_session() THEN
            RETURN NULL;
        END IF;
        SELECT * INTO p FROM {_S}.personnel x WHERE x.id = NEW.id;
        IF NOT FOUND THEN
            RETURN NULL;  -- deleted in the same transaction: its addresses went with it
        END IF;
        IF NOT EXISTS (SELECT 1 FROM {_S}.credentials c
                        WHERE c.person_id = p.id AND c.changed_at = timezone('UTC', now())) THEN
            RETURN NULL;  -- only the date was written: no new password, nothing to end
        END IF;
        SELECT * INTO mine FROM {_S}.user_sessions x
         WHERE {PRESENTED_SESSION};
        my_login := (SELECT x.login FROM {_S}.personnel x WHERE x.id = mine.person_id);
        DELETE FROM {_S}.trusted_ips t WHERE t.person_id = p.id;
        GET DIAGNOSTICS removed = ROW_COUNT;
        ended := {_S}.end_lapsed_sessions(p.id);
        PERFORM {_S}.audit_row(coalesce({_S}.actor_name(my_login, mine.kind), 'unknown'),
            '{Event.PASSWORD_CHANGED}',
            {PERSON_SUBJECT},
            {_S}.client_address(), mine.workstation,
            'trusted addresses removed: ' || removed || '; sessions ended: ' || ended);
        RETURN NULL;
    END
    $$""",
    # A deleted session's token hash, kept a day for a late sign-out (see signed_out_late).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.remember_ended_sessions() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    BEGIN
        INSERT INTO {_S}.ended_sessions (token_hash, person_id, kind, workstation, ended_at)
        SELECT g.token_hash, g.person_id, g.kind, g.workstation, {_S}.now() FROM gone g
        ON CONFLICT (token_hash) DO NOTHING;
        DELETE FROM {_S}.ended_sessions e
         WHERE e.ended_at < {_S}.now() - make_interval(hours => {TOMBSTONE_HOURS});
        RETURN NULL;
    END
    $$""",
    # Called by sign_out() when the token it was given opens no session any more: a desktop
    # app signing out after its session ended elsewhere, audited as LoginService.sign_out
    # does on the other engines (once per token: the tombstone goes).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.signed_out_late(hash text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SET search_path = {_S}, pg_temp AS $$
    DECLARE
        e {_S}.ended_sessions%ROWTYPE;
        who text;
    BEGIN
        DELETE FROM {_S}.ended_sessions x
         WHERE x.token_hash = hash AND x.kind = '{sessions.DESKTOP}'
        RETURNING * INTO e;
        IF NOT FOUND THEN
            RETURN false;
        END IF;
        who := {_S}.actor_name(coalesce((SELECT p.login FROM {_S}.personnel p
                                         WHERE p.id = e.person_id), 'unknown'), e.kind);
        PERFORM {_S}.audit_row(who, '{Event.SIGNED_OUT}', who, {_S}.client_address(),
                               e.workstation, '');
        RETURN true;
    END
    $$""",
)

_TABLES = (
    f"""
    CREATE TABLE IF NOT EXISTS {_S}.ended_sessions (
        token_hash  text PRIMARY KEY,
        person_id   integer NOT NULL,
        kind        text NOT NULL,
        workstation text NOT NULL DEFAULT '',
        ended_at    timestamp NOT NULL
    )""",
    f"CREATE INDEX IF NOT EXISTS ix_ended_sessions_ended_at ON {_S}.ended_sessions (ended_at)",
    f"ALTER TABLE {_S}.ended_sessions ENABLE ROW LEVEL SECURITY",
)

# A deferred trigger's WHEN is asked at once: what the owner writes (init, migrations,
# recovery) is never queued, so its transaction may still ALTER the table afterwards.
_NOT_OWNER = f"NOT {_S}.owner_session()"
# (table, trigger name, definition after the name).
_TRIGGERS = (
    (
        "personnel",
        "pmdesk_keep_administrator",
        "AFTER UPDATE OF group_id, login, login_key, password_hash OR DELETE ON {t} "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        f"WHEN (OLD.login IS NOT NULL AND OLD.login_key IS NOT NULL "
        f"AND OLD.password_hash IS NOT NULL AND {_NOT_OWNER}) "
        f"EXECUTE FUNCTION {_S}.keep_an_administrator()",
    ),
    (
        "group_permissions",
        "pmdesk_keep_administrator",
        "AFTER UPDATE OR DELETE ON {t} DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        f"WHEN (OLD.module_key IN ({_ADMIN_KEYS}) AND OLD.can_read AND OLD.can_edit "
        f"AND {_NOT_OWNER}) "
        f"EXECUTE FUNCTION {_S}.keep_an_administrator()",
    ),
    # Named to fire after the guard (pmdesk_0_guard) and before take_password_hash.
    (
        "personnel",
        "pmdesk_1_date_new_password",
        "BEFORE UPDATE OF password_hash ON {t} FOR EACH ROW "
        f"WHEN (NOT {_S}.trusted_writer() AND NEW.password_hash IS NOT NULL "
        f"AND NEW.password_hash <> '{MARKER}') "
        f"EXECUTE FUNCTION {_S}.date_new_password()",
    ),
    (
        "personnel",
        "pmdesk_new_password",
        "AFTER UPDATE OF password_hash, password_changed_at ON {t} "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
        "WHEN (NEW.password_changed_at IS DISTINCT FROM OLD.password_changed_at "
        f"AND NEW.password_hash IS NOT NULL AND {_NOT_OWNER}) "
        f"EXECUTE FUNCTION {_S}.after_new_password()",
    ),
    (
        "user_sessions",
        "pmdesk_remember_ended",
        "AFTER DELETE ON {t} REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
        f"EXECUTE FUNCTION {_S}.remember_ended_sessions()",
    ),
)


def _trigger(table: str, name: str, definition: str) -> tuple[str, str]:
    qualified = f"{_S}.{table}"
    constraint = "CONSTRAINT " if "DEFERRABLE" in definition else ""
    return (
        f"DROP TRIGGER IF EXISTS {name} ON {qualified}",
        f"CREATE {constraint}TRIGGER {name} {definition.format(t=qualified)}",
    )


STATEMENTS: tuple[str, ...] = (
    *_TABLES,
    *_FUNCTIONS,
    *(statement for spec in _TRIGGERS for statement in _trigger(*spec)),
)

#: The triggers' WHEN, asked as whoever writes: whether that is the owner.
WORKSTATION_FUNCTIONS = ("owner_session()",)
#: Token hashes of ended sessions: nobody's to read.
SECRET_TABLES = ("ended_sessions",)
