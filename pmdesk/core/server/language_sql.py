"""One's own language on a hardened database (issue 15): the signed-in person may set the
Personnel "Language" field of their own row, and nothing else of it, without Personnel Edit.

The workstation role may not write ``personnel`` past the guard without that right, so the
header's language switch goes through ``set_my_language(code)``, a definer function that
changes ``language_id`` of the caller's own row only (``current_person()``, the session the
connection presents) and logs ``person.updated`` ("language_id") as the audit trigger would
(a definer function writes as the owner, which that trigger leaves to the writer). Every
statement is idempotent: ``server init`` runs them all each time.
"""

from __future__ import annotations

from pmdesk.core.audit import Event
from pmdesk.core.server.queue_sql import PERSON_SUBJECT, PRESENTED_SESSION
from pmdesk.core.server.roles import SCHEMA

_S = SCHEMA

STATEMENTS: tuple[str, ...] = (
    f"""
    CREATE OR REPLACE FUNCTION {_S}.set_my_language(code text) RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        me integer := {_S}.current_person();
        mine {_S}.user_sessions%ROWTYPE;
        wanted integer;
        p {_S}.personnel%ROWTYPE;
    BEGIN
        IF me IS NULL THEN
            RAISE EXCEPTION 'Sign in first.' USING ERRCODE = '28000';
        END IF;
        SELECT l.id INTO wanted FROM {_S}.languages l WHERE l.code = set_my_language.code;
        IF wanted IS NULL THEN
            -- the client's sentence (my_language.py), so the screen shows it translated
            RAISE EXCEPTION 'This language is not in the database.'
                USING ERRCODE = 'PMD05', DETAIL = 'language_id';
        END IF;
        UPDATE {_S}.personnel x
           SET language_id = wanted, updated_at = {_S}.now(), version = x.version + 1
         WHERE x.id = me AND x.language_id IS DISTINCT FROM wanted
        RETURNING * INTO p;
        IF FOUND THEN
            SELECT * INTO mine FROM {_S}.user_sessions x
             WHERE {PRESENTED_SESSION}
               AND x.person_id = me;
            PERFORM {_S}.audit_row(coalesce({_S}.actor_name(p.login, mine.kind), 'unknown'),
                '{Event.PERSON_UPDATED}', {PERSON_SUBJECT}, {_S}.client_address(),
                mine.workstation, 'language_id');
        END IF;
        RETURN set_my_language.code;
    END
    $$""",
)

#: What the workstation role may call.
WORKSTATION_FUNCTIONS = ("set_my_language(text)",)
