"""Hardening level 6, the log of people: ``person.created``, ``person.updated`` (with the form
fields that changed) and ``person.deleted`` are written by the server, for every write to
``personnel`` a signed-in session makes, whatever wrote it: ``PersonnelService`` or raw SQL
with the workstation's login. The rows are the ones ``PersonnelService`` writes on the other
engines; on a hardened database it no longer writes them itself, so each change is logged once.

Who acted (the login, ``(cli)`` for a command-line session), the address and the workstation
come from the session the connection presents, never from the client. Writes the log owes to
other events are no ``person.updated``: a new password (``password.changed``, rules_sql),
unlocking (``account.unlocked``, the client's) and the server's sign-in bookkeeping (its
definer functions run as the owner). Writes by the owner, its members and superusers (init,
migrations, recovery) are not logged here: they log what they do themselves. The first
administrator of a database nobody can sign in to is added without a session: the client
logs that one, as there is no session to name.

A BEFORE row trigger, fired after the others of the table (name order), not an AFTER one:
AFTER row triggers fire at the end of the statement, after its RETURNING, which can change
the setting ``pmdesk.session`` the session is read from; before the row is written the
connection presents the very session the guard has just checked (and one's own new password
has not yet voided it). A write that fails later in the statement takes its log row with it.
Every statement is idempotent: ``server init`` runs them all each time.
"""

from __future__ import annotations

from pmdesk.core.audit import Event
from pmdesk.core.models import Person
from pmdesk.core.server.queue_sql import PERSON_SUBJECT, PRESENTED_SESSION
from pmdesk.core.server.roles import SCHEMA

_S = SCHEMA
#: The level from which the server logs changes to people (the client then does not).
PERSONNEL_AUDIT_LEVEL = 6
#: The trigger, as ``server status`` and the tests look for it.
TRIGGER = "pmdesk_z_audit_person"

# Columns whose change is another event, or none: an UPDATE changing only these is no
# person.updated (a password set, an account unlocked, the sign-in's counters, the version).
_OTHER_EVENTS = (
    "password_hash",
    "password_changed_at",
    "failed_logins",
    "last_failed_at",
    "lock_count",
    "locked_until",
    "last_login_at",
    "version",
)
# Columns the Personnel form does not show (search keys, ``*_key``, are left out too).
_NOT_ON_THE_FORM = frozenset(("id", "created_at", "updated_at", *_OTHER_EVENTS))
#: The form's fields, as ``PersonnelService.update`` names them in the detail, in its order.
FORM_COLUMNS: tuple[str, ...] = tuple(
    sorted(
        column.name
        for column in Person.__table__.columns
        if column.name not in _NOT_ON_THE_FORM and not column.name.endswith("_key")
    )
)


def _changed(column: str) -> str:
    # The form shows no login as an empty one (PersonnelService._to_form).
    if column == "login":
        return "coalesce(OLD.login, '') IS DISTINCT FROM coalesce(NEW.login, '')"
    return f"OLD.{column} IS DISTINCT FROM NEW.{column}"


_DETAIL = ",\n            ".join(
    f"CASE WHEN {_changed(column)} THEN '{column}' END" for column in FORM_COLUMNS
)
_OTHERS = "ARRAY[" + ", ".join(f"'{column}'" for column in _OTHER_EVENTS) + "]"

STATEMENTS: tuple[str, ...] = (
    f"""
    CREATE OR REPLACE FUNCTION {_S}.audit_person() RETURNS trigger
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        me integer := {_S}.current_person();
        mine {_S}.user_sessions%ROWTYPE;
        p {_S}.personnel%ROWTYPE;
        event text;
        detail text := '';
    BEGIN
        IF me IS NULL AND TG_OP = 'INSERT' THEN
            RETURN NEW;  -- the first administrator, added while nobody can sign in
        END IF;
        IF TG_OP = 'DELETE' THEN
            p := OLD;
            event := '{Event.PERSON_DELETED}';
        ELSIF TG_OP = 'INSERT' THEN
            p := NEW;
            event := '{Event.PERSON_CREATED}';
        ELSE
            IF (to_jsonb(NEW) - {_OTHERS}) = (to_jsonb(OLD) - {_OTHERS}) THEN
                -- An unlock (sign-in counters cleared: only they and the version written),
                -- by PersonnelService.unlock or by hand, is logged as what it is; a password is
                -- logged by its own function. (The sign-in's own counting runs as the owner.)
                IF NEW.locked_until IS NULL AND NEW.failed_logins = 0 AND NEW.lock_count = 0
                   AND NEW.password_hash IS NOT DISTINCT FROM OLD.password_hash
                   AND NEW.password_changed_at IS NOT DISTINCT FROM OLD.password_changed_at THEN
                    p := NEW;
                    event := '{Event.ACCOUNT_UNLOCKED}';
                    -- Unlocked everywhere: the locks from single addresses go too (the
                    -- workstation may not write login_failures itself).
                    DELETE FROM {_S}.login_failures f WHERE f.person_id = NEW.id;
                ELSE
                    RETURN NEW;
                END IF;
            ELSE
                p := NEW;
                event := '{Event.PERSON_UPDATED}';
                detail := array_to_string(ARRAY[
                {_DETAIL}
                ]::text[], ', ');
            END IF;
        END IF;
        SELECT * INTO mine FROM {_S}.user_sessions x
         WHERE {PRESENTED_SESSION}
           AND x.person_id = me;
        PERFORM {_S}.audit_row(
            coalesce({_S}.actor_name((SELECT x.login FROM {_S}.personnel x WHERE x.id = me),
                                     mine.kind), 'unknown'),
            event, {PERSON_SUBJECT}, {_S}.client_address(), mine.workstation, detail);
        IF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END
    $$""",
    f"DROP TRIGGER IF EXISTS {TRIGGER} ON {_S}.personnel",
    # Named to fire after the other BEFORE triggers (the guard first, pmdesk_0_guard).
    f"""
    CREATE TRIGGER {TRIGGER} BEFORE INSERT OR UPDATE OR DELETE ON {_S}.personnel
    FOR EACH ROW WHEN (NOT {_S}.trusted_writer()) EXECUTE FUNCTION {_S}.audit_person()""",
)
