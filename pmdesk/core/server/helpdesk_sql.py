"""Helpdesk one-time sign-in codes on a server-enforced PostgreSQL (issue 16 §3).

``helpdesk_codes`` is a secret table: no login role reads or writes it, so nobody can plant a
code they know or read a hash to guess at. The workstation calls these definer functions,
which keep ``core.helpdesk``'s rules with the same sentences:

- ``issue_helpdesk_code(person, reason, minutes)``: System → Security Edit, never for oneself,
  a person with a login, a reason of 1–200 characters, 5–480 minutes. The code (twelve digits,
  two ``new_code()`` draws) is made here and returned once; only its HMAC (``code_hash``, the
  server's key) is kept. A live code of the person is replaced. Audited.
- ``cancel_helpdesk_code(person)``: the same right; audited when a live code went.
- ``helpdesk_code_of(person)``: System → Security Read; when it expires, who issued it and why.

The sign-in's ``check_code`` (login_sql) accepts the code and deletes it (used once).
"""

from __future__ import annotations

from pmdesk.core import helpdesk
from pmdesk.core.audit import Event
from pmdesk.core.server.queue_sql import PRESENTED_SESSION
from pmdesk.core.server.roles import SCHEMA

_S = SCHEMA


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


#: The hash a helpdesk code of ``person`` is kept as (``code_hash`` of login_sql).
DESK_HASH = f"{_S}.code_hash('helpdesk:' || {{person}}, {{code}})"

# Who is acting: the person of the session presented, as the log names them, and where from.
_ACTING = f"""
        me integer := {_S}.require_person();
        mine {_S}.user_sessions%ROWTYPE;
        actor text;
        p {_S}.personnel%ROWTYPE;"""
_WHO = f"""
        SELECT * INTO mine FROM {_S}.user_sessions x WHERE {PRESENTED_SESSION};
        actor := coalesce({_S}.actor_name(
            (SELECT x.login FROM {_S}.personnel x WHERE x.id = me), mine.kind), 'unknown');"""
_PERSON = f"""
        SELECT * INTO p FROM {_S}.personnel x WHERE x.id = person FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'This person no longer exists.' USING ERRCODE = 'PMD02';
        END IF;"""
_MAY_EDIT = f"""
        IF NOT {_S}.may('system.security', 'edit') THEN
            RAISE EXCEPTION 'Your user group may not issue or cancel helpdesk codes.'
                USING ERRCODE = 'PMD01';
        END IF;"""

STATEMENTS: tuple[str, ...] = (
    # No grant and no policy: whatever the grants, no login role sees a row (§5.2).
    f"ALTER TABLE {_S}.helpdesk_codes ENABLE ROW LEVEL SECURITY",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.issue_helpdesk_code(
        person integer, reason text, minutes integer)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE{_ACTING}
        why text := btrim(coalesce(reason, ''));
        code text;
        now_ timestamp := {_S}.now();
        until timestamp;
        replaced boolean;
    BEGIN{_WHO}{_MAY_EDIT}
        IF person = me THEN
            RAISE EXCEPTION {_quoted(helpdesk.SELF_REFUSAL)} USING ERRCODE = 'PMD01';
        END IF;
        IF why = '' THEN
            RAISE EXCEPTION {_quoted(helpdesk.REASON_REQUIRED)}
                USING ERRCODE = 'PMD05', DETAIL = 'reason';
        END IF;
        IF length(why) > {helpdesk.MAX_REASON} OR why ~ '[[:cntrl:]]' THEN
            RAISE EXCEPTION 'The reason can have at most {helpdesk.MAX_REASON} characters, '
                            'and no control characters.'
                USING ERRCODE = 'PMD05', DETAIL = 'reason';
        END IF;
        IF minutes IS NULL
           OR minutes NOT BETWEEN {helpdesk.MIN_MINUTES} AND {helpdesk.MAX_MINUTES} THEN
            RAISE EXCEPTION {_quoted(helpdesk.MINUTES_RANGE)}
                USING ERRCODE = 'PMD05', DETAIL = 'minutes';
        END IF;{_PERSON}
        IF p.login IS NULL OR p.login = '' THEN
            RAISE EXCEPTION {_quoted(helpdesk.NO_LOGIN)}
                USING ERRCODE = 'PMD05', DETAIL = 'person';
        END IF;
        DELETE FROM {_S}.helpdesk_codes h WHERE h.person_id = p.id
        RETURNING h.expires_at > now_ INTO replaced;
        replaced := coalesce(replaced, false);
        code := {_S}.new_code() || {_S}.new_code();
        until := now_ + make_interval(mins => minutes);
        INSERT INTO {_S}.helpdesk_codes (person_id, code_hash, reason, issued_by, issued_by_name,
                                         created_at, expires_at)
        VALUES (p.id, {DESK_HASH.format(person="p.id", code="code")}, why, me, left(actor, 255),
                now_, until);
        PERFORM {_S}.audit_row(actor, '{Event.HELPDESK_CODE_ISSUED}', p.login,
            {_S}.client_address(), mine.workstation,
            'valid ' || minutes || ' min'
            || CASE WHEN replaced THEN '; replaced the live code' ELSE '' END
            || '; reason: ' || why);
        RETURN jsonb_build_object('code', code, 'expires_at', until, 'login', p.login,
                                  'replaced', replaced);
    END
    $$""",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.cancel_helpdesk_code(person integer)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE{_ACTING}
        gone {_S}.helpdesk_codes%ROWTYPE;
        now_ timestamp := {_S}.now();
    BEGIN{_WHO}{_MAY_EDIT}{_PERSON}
        DELETE FROM {_S}.helpdesk_codes h WHERE h.person_id = p.id RETURNING * INTO gone;
        IF gone.id IS NULL OR gone.expires_at <= now_ THEN
            RETURN jsonb_build_object('cancelled', false);
        END IF;
        PERFORM {_S}.audit_row(actor, '{Event.HELPDESK_CODE_CANCELLED}',
            coalesce(p.login, '#' || p.id), {_S}.client_address(), mine.workstation,
            'issued by ' || gone.issued_by_name || ': ' || gone.reason);
        RETURN jsonb_build_object('cancelled', true);
    END
    $$""",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.helpdesk_code_of(person integer)
    RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    BEGIN
        PERFORM {_S}.require_person();
        IF NOT {_S}.may('system.security', 'read') THEN
            RAISE EXCEPTION 'Your user group may not read System → Security.'
                USING ERRCODE = 'PMD01';
        END IF;
        RETURN (SELECT jsonb_build_object('expires_at', h.expires_at,
                                          'issued_by', h.issued_by_name, 'reason', h.reason)
                FROM {_S}.helpdesk_codes h
                WHERE h.person_id = person AND h.expires_at > {_S}.now());
    END
    $$""",
)

#: No login role may read or write these (only the functions above and check_code).
SECRET_TABLES = ("helpdesk_codes",)
#: What the workstation role may call.
WORKSTATION_FUNCTIONS = (
    "issue_helpdesk_code(integer, text, integer)",
    "cancel_helpdesk_code(integer)",
    "helpdesk_code_of(integer)",
)
