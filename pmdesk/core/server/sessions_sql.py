"""Hardening level 4: sessions kept by the server (docs/server-enforced.md §4, §5.1).

A completed sign-in (``login_sql.signed_in``) starts the session here: the token is drawn by the
server, returned once and stored only as its SHA-256 (``sessions.hash_token``). A connection
presents it in the setting ``pmdesk.session``; ``current_person()`` checks it again on every
call, with every rule of ``sessions._why_not``, so ending a session, a lock or a new password
take effect at the next statement. ``resume``, ``sign_out``, ``list_sessions`` and
``end_sessions`` are the server's versions of ``SessionService.resolve``, ``end``,
``for_person`` and ``end_for_person``: same rules, same audit rows. The workstation role has no
right on ``user_sessions`` at all.

Numbers, labels and sentences come from the Python modules, so the two sides cannot differ.
Every statement is idempotent: ``server init`` runs them all each time.
"""

from __future__ import annotations

from pmdesk.core import sessions
from pmdesk.core.modules import MODULES, Action
from pmdesk.core.server.queue_sql import PERSON_SUBJECT, PRESENTED_SESSION
from pmdesk.core.server.roles import CRYPTO_SCHEMA, SCHEMA

_C = CRYPTO_SCHEMA
_S = SCHEMA

#: The form of every token the server draws (32 random bytes, URL-safe base64, no padding).
TOKEN = "^[A-Za-z0-9_-]{43}$"
#: How often ``resume`` writes ``last_used_at`` (and renews a desktop lease) at most.
TOUCH_EVERY_S = sessions.CHECK_INTERVAL_S
_LEASE_S = int(sessions.DESKTOP_LEASE.total_seconds())
_KIND_LABELS = " ".join(
    f"WHEN '{kind}' THEN '{label}'" for kind, label in sessions.KIND_LABELS.items()
)
# (key, name, position) of every module, in the order the client lists rights.
_MODULES = ", ".join(f"('{m.key}', '{m.name}', {i})" for i, m in enumerate(MODULES))
_ACTIONS = ", ".join(f"('{a.value}', '{a.value.capitalize()}', {i})" for i, a in enumerate(Action))
# permissions.require's sentence, per action.
_VERBS = (
    f"CASE action WHEN '{Action.READ}' THEN 'see' WHEN '{Action.EDIT}' THEN 'change' "
    "ELSE 'delete in' END"
)

STATEMENTS: tuple[str, ...] = (
    # A database converted at a level where workstations wrote user_sessions themselves: any
    # of its rows may have been made by anyone holding that login. Ended once, when init
    # raises the level (server_meta still holds the old one while these statements run).
    f"""
    WITH old AS (
        SELECT coalesce((SELECT m.value FROM {_S}.server_meta m
                         WHERE m.key = 'hardening_level'), '0')::integer AS level),
    ended AS (
        DELETE FROM {_S}.user_sessions
         WHERE (SELECT level FROM old) BETWEEN 1 AND 3 RETURNING 1)
    SELECT {_S}.audit_row('server init', 'session.ended', '', NULL, '',
                          'sessions are kept by the server from now on: ' || n
                          || ' sessions started by workstations ended')
      FROM (SELECT count(*) AS n FROM ended) AS e WHERE e.n > 0""",
    # sessions.hash_token.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.token_hash(token text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
        SELECT encode(sha256(convert_to(coalesce(token, ''), 'UTF8')), 'hex')
    $$""",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.kind_label(kind text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
        SELECT CASE kind {_KIND_LABELS} ELSE kind END
    $$""",
    # sessions.actor_name: how the audit trail names someone acting through a session.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.actor_name(login text, kind text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
        SELECT CASE WHEN kind = '{sessions.COMMAND_LINE}' THEN login || ' (cli)' ELSE login END
    $$""",
    # The person whose session this connection presents, or NULL (§4.3).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.current_person() RETURNS integer
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
        SELECT s.person_id
        FROM {_S}.user_sessions s JOIN {_S}.personnel p ON p.id = s.person_id
        WHERE s.token_hash = encode(sha256(convert_to(
                  coalesce(current_setting('pmdesk.session', true), ''), 'UTF8')), 'hex')
          AND s.expires_at > {_S}.now()
          AND s.address IS NOT DISTINCT FROM {_S}.client_address()
          AND p.login IS NOT NULL AND p.password_hash IS NOT NULL
          AND (p.locked_until IS NULL OR p.locked_until <= {_S}.now())
          AND (p.password_changed_at IS NULL OR p.password_changed_at <= s.created_at)
    $$""",
    # permissions.can for the signed-in person (false without one).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.may(module text, action text) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
        SELECT coalesce(bool_or(CASE action WHEN '{Action.READ}' THEN g.can_read
                                            WHEN '{Action.EDIT}' THEN g.can_edit
                                            WHEN '{Action.DELETE}' THEN g.can_delete END), false)
        FROM {_S}.personnel p JOIN {_S}.group_permissions g ON g.group_id = p.group_id
        WHERE p.id = {_S}.current_person() AND g.module_key = may.module
    $$""",
    # The rights of a group the signed-in person's group lacks, as "Module Action", in the
    # order permissions.require_within_own_rights names them.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.rights_lacking(group_id integer) RETURNS text[]
    LANGUAGE sql STABLE SET search_path = {_S}, pg_temp AS $$
        SELECT coalesce(array_agg(coalesce(m.name, t.module_key) || ' ' || a.label
                                  ORDER BY coalesce(m.position, 1000), t.module_key, a.position),
                        '{{}}')
        FROM {_S}.group_permissions t
        CROSS JOIN (VALUES {_ACTIONS}) AS a (action, label, position)
        LEFT JOIN (VALUES {_MODULES}) AS m (key, name, position) ON m.key = t.module_key
        WHERE t.group_id = rights_lacking.group_id
          AND CASE a.action WHEN '{Action.READ}' THEN t.can_read
                            WHEN '{Action.EDIT}' THEN t.can_edit ELSE t.can_delete END
          AND NOT {_S}.may(t.module_key, a.action)
    $$""",
    # permissions.require_within_own_rights as a test: a person with no group, or a group
    # with no right the signed-in person's group lacks (false without a signed-in person).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.within_own_rights(group_id integer) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
        SELECT within_own_rights.group_id IS NULL
               OR ({_S}.current_person() IS NOT NULL
                   AND cardinality({_S}.rights_lacking(within_own_rights.group_id)) = 0)
    $$""",
    # The signed-in person, or SQLSTATE 28000 (the client's NotSignedIn).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.require_person() RETURNS integer
    LANGUAGE plpgsql STABLE SET search_path = {_S}, pg_temp AS $$
    DECLARE
        me integer := {_S}.current_person();
    BEGIN
        IF me IS NULL THEN
            RAISE EXCEPTION 'Sign in first.' USING ERRCODE = '28000';
        END IF;
        RETURN me;
    END
    $$""",
    # permissions.require: PMD01 with the client's sentence.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.require_right(module text, action text) RETURNS void
    LANGUAGE plpgsql STABLE SET search_path = {_S}, pg_temp AS $$
    DECLARE
        label text := coalesce((SELECT m.name FROM (VALUES {_MODULES}) AS m (key, name, position)
                                WHERE m.key = module), module);
    BEGIN
        IF NOT {_S}.may(module, action) THEN
            RAISE EXCEPTION USING ERRCODE = 'PMD01', MESSAGE = 'Your user group may not '
                || {_VERBS} || ' ' || label || '. Ask an administrator to grant ' || label
                || ' ' || initcap(action) || ' in System → Permissions.';
        END IF;
    END
    $$""",
    # permissions.require_within_own_rights: PMD01 with the client's sentence.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.require_within_own_rights(group_id integer, doing text)
    RETURNS void
    LANGUAGE plpgsql STABLE SET search_path = {_S}, pg_temp AS $$
    DECLARE
        beyond text[];
    BEGIN
        IF group_id IS NULL THEN
            RETURN;
        END IF;
        beyond := {_S}.rights_lacking(group_id);
        IF cardinality(beyond) > 0 THEN
            RAISE EXCEPTION USING ERRCODE = 'PMD01', MESSAGE = 'You cannot ' || doing
                || ': that user group has rights your own group lacks ('
                || array_to_string(beyond[1:3], ', ')
                || CASE WHEN cardinality(beyond) > 3
                        THEN ' and ' || (cardinality(beyond) - 3) || ' more' ELSE '' END
                || '). Ask an administrator who has them.';
        END IF;
    END
    $$""",
    # sessions.start, with the token drawn here; the caller has checked the person.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.start_session(
        person integer, kind text, workstation text, os_user text)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SET search_path = {_S}, pg_temp AS $$
    DECLARE
        now_ timestamp := {_S}.now();
        address text := {_S}.client_address();
        ws text := left(coalesce(workstation, ''), 255);
        token text := translate(rtrim(encode({_C}.gen_random_bytes(32), 'base64'), '='),
                                '+/', '-_');
        hours integer;
        until timestamp;
        login text := (SELECT p.login FROM {_S}.personnel p WHERE p.id = person);
    BEGIN
        IF kind = '{sessions.COMMAND_LINE}' THEN
            hours := (SELECT s.session_hours FROM {_S}.security_settings s ORDER BY s.id LIMIT 1);
            until := now_ + make_interval(
                hours => coalesce(nullif(hours, 0), {sessions.DEFAULT_SESSION_HOURS}));
        ELSIF kind = '{sessions.DESKTOP}' THEN
            until := now_ + make_interval(secs => {_LEASE_S});
        ELSE
            RAISE EXCEPTION 'unknown session kind' USING ERRCODE = 'PMD05';
        END IF;
        INSERT INTO {_S}.user_sessions (token_hash, person_id, kind, address, workstation,
                                        os_user, created_at, expires_at, last_used_at)
        VALUES ({_S}.token_hash(token), person, kind, address, ws,
                left(coalesce(os_user, ''), 255), now_, until, now_);
        PERFORM {_S}.audit_row(login, 'session.started', login, address, ws,
                               {_S}.kind_label(kind));
        RETURN jsonb_build_object('token', token, 'expires_at', until);
    END
    $$""",
    # sessions._why_not: why a session no longer holds, or NULL. (The session's columns, not
    # its row type: a function may not depend on a table the migrations may drop.)
    f"""
    CREATE OR REPLACE FUNCTION {_S}.session_refusal(
        expires_at timestamp, created_at timestamp, started_from text, p {_S}.personnel,
        now_ timestamp, address text)
    RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = {_S}, pg_temp AS $$
        SELECT CASE
            WHEN now_ >= expires_at THEN 'expired'
            WHEN started_from IS DISTINCT FROM address THEN 'address'
            WHEN p.id IS NULL OR p.login IS NULL OR p.password_hash IS NULL THEN 'deleted'
            WHEN p.locked_until IS NOT NULL AND p.locked_until > now_ THEN 'locked'
            WHEN p.password_changed_at IS NOT NULL AND p.password_changed_at > created_at
                 THEN 'password'
        END
    $$""",
    # sessions.end_all after a lock or a new password (in the caller's transaction): removes
    # the person's sessions that open nothing any more, so ending someone's session this way
    # takes a change that already ended it.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.end_lapsed_sessions(person integer) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        p {_S}.personnel%ROWTYPE;
        ended integer;
    BEGIN
        SELECT * INTO p FROM {_S}.personnel x WHERE x.id = person;
        DELETE FROM {_S}.user_sessions s
         WHERE s.person_id = person
           AND {_S}.session_refusal(s.expires_at, s.created_at, s.address, p, {_S}.now(),
                                    s.address) IS NOT NULL;
        GET DIAGNOSTICS ended = ROW_COUNT;
        RETURN ended;
    END
    $$""",
    # SessionService.resolve: check a token, record its use, renew a desktop lease; a session
    # that no longer holds is removed and the refusal audited. On success the token is this
    # transaction's identity too.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.resume(token text, workstation text) RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        now_ timestamp := {_S}.now();
        address text := {_S}.client_address();
        ws text := left(coalesce(workstation, ''), 255);
        s {_S}.user_sessions%ROWTYPE;
        p {_S}.personnel%ROWTYPE;
        why text;
        login text;
        removed integer;
    BEGIN
        IF token IS NULL OR token !~ '{TOKEN}' THEN
            RETURN jsonb_build_object('outcome', 'refused', 'reason', 'ended');
        END IF;
        SELECT * INTO s FROM {_S}.user_sessions x WHERE x.token_hash = {_S}.token_hash(token);
        IF NOT FOUND THEN
            RETURN jsonb_build_object('outcome', 'refused', 'reason', 'ended');
        END IF;
        SELECT * INTO p FROM {_S}.personnel x WHERE x.id = s.person_id;
        why := {_S}.session_refusal(s.expires_at, s.created_at, s.address, p, now_, address);
        login := coalesce(p.login, 'unknown');
        IF why IS NOT NULL THEN
            DELETE FROM {_S}.user_sessions x WHERE x.id = s.id;
            GET DIAGNOSTICS removed = ROW_COUNT;
            IF removed > 0 THEN  -- a concurrent check may have removed and audited it
                PERFORM {_S}.audit_row({_S}.actor_name(login, s.kind), 'session.refused',
                    login, address, ws, {_S}.kind_label(s.kind) || ' session: ' || why);
            END IF;
            RETURN jsonb_build_object('outcome', 'refused', 'reason', why);
        END IF;
        IF now_ - s.last_used_at >= make_interval(secs => {TOUCH_EVERY_S}) THEN
            IF s.kind = '{sessions.DESKTOP}' THEN
                s.expires_at := now_ + make_interval(secs => {_LEASE_S});
            END IF;
            UPDATE {_S}.user_sessions x SET last_used_at = now_, expires_at = s.expires_at
             WHERE x.id = s.id;
        END IF;
        PERFORM set_config('pmdesk.session', token, true);
        RETURN jsonb_build_object(
            'outcome', 'ok', 'session', s.id, 'kind', s.kind, 'person', p.id, 'login', p.login,
            'name', {_S}.display_name(p), 'address', address, 'expires_at', s.expires_at);
    END
    $$""",
    # SessionService.end: end the session this connection presents (whether or not it still
    # holds: knowing its token is enough to end it).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.sign_out() RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        token text := current_setting('pmdesk.session', true);
        s {_S}.user_sessions%ROWTYPE;
        login text;
    BEGIN
        IF token IS NULL OR token !~ '{TOKEN}' THEN
            RETURN jsonb_build_object('ended', false);
        END IF;
        DELETE FROM {_S}.user_sessions x WHERE x.token_hash = {_S}.token_hash(token)
        RETURNING * INTO s;
        IF NOT FOUND THEN
            -- ended elsewhere already: a desktop app's sign-out is still audited (rules_sql)
            RETURN jsonb_build_object('ended', false,
                                      'signed_out', {_S}.signed_out_late({_S}.token_hash(token)));
        END IF;
        login := coalesce((SELECT p.login FROM {_S}.personnel p WHERE p.id = s.person_id),
                          'unknown');
        PERFORM {_S}.audit_row({_S}.actor_name(login, s.kind), 'session.ended', login,
            {_S}.client_address(), s.workstation,
            {_S}.kind_label(s.kind) || ' session: signed out');
        RETURN jsonb_build_object('ended', true, 'kind', s.kind);
    END
    $$""",
    # SessionService.for_person: a person's open sessions, most recently used first.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.list_sessions(person integer) RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        me integer := {_S}.require_person();
    BEGIN
        IF person IS DISTINCT FROM me THEN
            PERFORM {_S}.require_right('maintenance', '{Action.READ}');
        END IF;
        RETURN coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'id', s.id, 'kind', s.kind, 'address', s.address,
                       'workstation', s.workstation, 'os_user', s.os_user,
                       'created_at', s.created_at, 'last_used_at', s.last_used_at,
                       'expires_at', s.expires_at)
                   ORDER BY s.last_used_at DESC, s.id DESC)
            FROM {_S}.user_sessions s
            WHERE s.person_id = person AND s.expires_at > {_S}.now()), '[]'::jsonb);
    END
    $$""",
    # SessionService.end_for_person (End sessions): one's own always; anyone else's with
    # Maintenance Edit and within one's own rights.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.end_sessions(person integer) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        me integer := {_S}.require_person();
        mine {_S}.user_sessions%ROWTYPE;
        p {_S}.personnel%ROWTYPE;
        my_login text := (SELECT x.login FROM {_S}.personnel x WHERE x.id = me);
        ended integer;
    BEGIN
        SELECT * INTO mine FROM {_S}.user_sessions x
         WHERE {PRESENTED_SESSION};
        SELECT * INTO p FROM {_S}.personnel x WHERE x.id = person FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'This person no longer exists.' USING ERRCODE = 'PMD02';
        END IF;
        IF person <> me THEN
            PERFORM {_S}.require_right('maintenance', '{Action.EDIT}');
            PERFORM {_S}.require_within_own_rights(p.group_id, 'end this person''s sessions');
        END IF;
        DELETE FROM {_S}.user_sessions x WHERE x.person_id = person;
        GET DIAGNOSTICS ended = ROW_COUNT;
        PERFORM {_S}.audit_row({_S}.actor_name(my_login, mine.kind), 'session.ended',
            {PERSON_SUBJECT},
            {_S}.client_address(), mine.workstation, 'End sessions: ' || ended || ' ended');
        RETURN ended;
    END
    $$""",
)

#: What the workstation role may call (signatures for GRANT EXECUTE).
WORKSTATION_FUNCTIONS = (
    "current_person()",
    "may(text, text)",
    "within_own_rights(integer)",
    "resume(text, text)",
    "sign_out()",
    "list_sessions(integer)",
    "end_sessions(integer)",
    "end_lapsed_sessions(integer)",
)
#: No login role may read or write these (reached only through the functions above).
SECRET_TABLES = ("user_sessions",)
