"""Hardening level 3, the relay's side: the functions ``pmdesk relay`` calls
(docs/server-enforced.md §6), and the expiry sweep that moved to it (§6.5).

The relay role has no right on any table; it reaches ``code_queue``, ``relay_heartbeat``,
``security_settings`` and the tables the sweep tidies only through these functions. Delivery is
at most once (§6.3): ``relay_claim`` commits ``sending`` before anything is sent, ``relay_finish``
records the outcome only for the attempt that claimed the row, and ``relay_recover`` turns a
claim whose relay died into ``unknown``, never back into ``queued``.

Lock order, as in the sign-in functions: a challenge before its queue rows. ``relay_finish`` and
``relay_recover`` lock the challenge first and then re-check the row, so they cannot deadlock
with each other or with ``resend_code``.

Every statement here is idempotent (``CREATE OR REPLACE``): ``server init`` runs them all each
time, as the owner role, after ``queue_sql`` (``now``, ``audit_row``, ``mask_destination``).
"""

from __future__ import annotations

from pmdesk.core.delivery.base import NO_DESTINATION, SMS_METHODS, STEPS
from pmdesk.core.modules import SYSTEM_SECURITY, Action
from pmdesk.core.server.roles import SCHEMA

_S = SCHEMA

#: A claim whose relay's heartbeat is older than this is abandoned (§6.3) …
HEARTBEAT_STALE_SECONDS = 60
#: … and so is any claim older than this (more than twice the longest delivery timeout).
CLAIM_ABANDONED_MINUTES = 5
#: The most rows one ``relay_claim`` hands out, and the bounds of one ``expire`` chunk.
MAX_CLAIM = 50
MAX_EXPIRE_CHUNK = 5000
#: What the audit trail says of a claim its relay never finished.
RECOVERED_DETAIL = "the relay stopped while sending; the code may not have been sent"
#: The actor of the sweep's audit rows: ``Actor.system("expiry sweep").name``.
SWEEP_ACTOR = "system (expiry sweep)"

_BAD_ARGUMENT = "USING ERRCODE = 'PMD05'"
_STEPS = ", ".join(f"'{step}'" for step in STEPS)
_PHONE = ", ".join(f"'{method}'" for method in sorted(SMS_METHODS))


def _instance_check(function: str) -> str:
    """The first check of every function a relay instance calls."""
    return (
        f"IF {function}.instance IS NULL THEN "
        f"RAISE EXCEPTION 'The relay instance is missing.' {_BAD_ARGUMENT}, DETAIL = 'instance'; "
        "END IF;"
    )


STATEMENTS: tuple[str, ...] = (
    # Any code in a text for the audit trail or a queue row becomes ******.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.without_code(detail text, code text) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
        SELECT left(regexp_replace(
                   CASE WHEN code IS NULL OR code = '' THEN left(coalesce(detail, ''), 10000)
                        ELSE replace(left(coalesce(detail, ''), 10000), code, '******') END,
                   '\\m[0-9]{{6}}\\M', '******', 'g'), 2000)
    $$""",
    # The relay says it is alive (every 10 s) and what, if anything, stops it from sending.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.relay_heartbeat(
        instance uuid, host text, pid integer, version text, method text, problem text)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        now_ timestamp := {_S}.now();
    BEGIN
        {_instance_check("relay_heartbeat")}
        IF relay_heartbeat.host IS NULL OR length(relay_heartbeat.host) NOT BETWEEN 1 AND 255 THEN
            RAISE EXCEPTION 'The relay host must be 1 to 255 characters.'
                {_BAD_ARGUMENT}, DETAIL = 'host';
        END IF;
        IF relay_heartbeat.pid IS NULL OR relay_heartbeat.pid < 1 THEN
            RAISE EXCEPTION 'The relay process id must be positive.'
                {_BAD_ARGUMENT}, DETAIL = 'pid';
        END IF;
        IF coalesce(length(relay_heartbeat.version), 0) > 40
           OR coalesce(length(relay_heartbeat.method), 0) > 40 THEN
            RAISE EXCEPTION 'The relay version and method are at most 40 characters.'
                {_BAD_ARGUMENT}, DETAIL = 'version';
        END IF;
        INSERT INTO {_S}.relay_heartbeat AS h
            (instance, host, pid, version, started_at, last_seen_at, method, problem)
        VALUES (relay_heartbeat.instance, relay_heartbeat.host, relay_heartbeat.pid,
                coalesce(relay_heartbeat.version, ''), now_, now_,
                coalesce(relay_heartbeat.method, ''),
                left(coalesce(relay_heartbeat.problem, ''), 1000))
        ON CONFLICT ON CONSTRAINT relay_heartbeat_pkey DO UPDATE
            SET host = EXCLUDED.host, pid = EXCLUDED.pid, version = EXCLUDED.version,
                last_seen_at = EXCLUDED.last_seen_at, method = EXCLUDED.method,
                problem = EXCLUDED.problem;
    END
    $$""",
    # The delivery settings: every column but the row's bookkeeping, so that columns added
    # later reach the relay without a change here (an older relay ignores what it does not
    # know). The settings row carries no secret.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.relay_settings() RETURNS jsonb
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
        SELECT coalesce(
            (SELECT to_jsonb(s) - 'id' - 'version' - 'updated_at'
             FROM {_S}.security_settings s ORDER BY (s.id = 1) DESC, s.id LIMIT 1),
            '{{}}'::jsonb)
    $$""",
    # The claim before the recipient's language (and before trust alerts: no reference)
    # returned fewer columns: its result changes, so it goes.
    f"""
    DO $$
    BEGIN
        IF to_regprocedure('{_S}.relay_claim(uuid, integer)') IS NOT NULL
           AND position('language' in pg_get_function_result(
                   to_regprocedure('{_S}.relay_claim(uuid, integer)'))) = 0 THEN
            DROP FUNCTION {_S}.relay_claim(uuid, integer);
        END IF;
    END
    $$""",
    # Claim up to ``max`` queued rows for this relay instance, committed before anything is
    # sent. Rows whose code can no longer be used are dropped first, never sent (test messages
    # and trust alerts: once past their minutes).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.relay_claim(instance uuid, max integer)
    RETURNS TABLE (id bigint, attempt uuid, kind text, method text, destination text,
                   person_name text, code text, valid_minutes integer, requested_from text,
                   workstation text, subject text, reference bigint, queued_at timestamp,
                   language text)
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        now_ timestamp := {_S}.now();
    BEGIN
        {_instance_check("relay_claim")}
        IF relay_claim.max IS NULL OR relay_claim.max NOT BETWEEN 1 AND {MAX_CLAIM} THEN
            RAISE EXCEPTION 'A relay claims 1 to {MAX_CLAIM} rows at a time.'
                {_BAD_ARGUMENT}, DETAIL = 'max';
        END IF;
        UPDATE {_S}.code_queue d
           SET state = 'dropped', code = NULL, finished_at = now_
         WHERE d.id IN (
            SELECT w.id
            FROM {_S}.code_queue w
            LEFT JOIN {_S}.login_challenges c ON c.id = w.challenge_id
            WHERE w.state = 'queued'
              AND CASE WHEN w.kind = 'code'
                       THEN c.id IS NULL OR c.used_at IS NOT NULL OR c.retired_at IS NOT NULL
                            OR c.voided OR c.expires_at <= now_
                       ELSE w.created_at + make_interval(mins => w.valid_minutes) <= now_ END
            FOR UPDATE OF w SKIP LOCKED);
        RETURN QUERY
        UPDATE {_S}.code_queue q
           SET state = 'sending', attempt = gen_random_uuid(), claimed_by = relay_claim.instance,
               claimed_at = now_
         WHERE q.id IN (
            SELECT w.id FROM {_S}.code_queue w
            WHERE w.state = 'queued'
            ORDER BY w.id
            LIMIT relay_claim.max
            FOR UPDATE SKIP LOCKED)
        RETURNING q.id, q.attempt, q.kind, q.method, q.destination, q.person_name,
                  q.code::text, q.valid_minutes, q.requested_from, q.workstation, q.subject,
                  q.reference, q.created_at,
                  (SELECT l.code::text FROM {_S}.personnel p
                     JOIN {_S}.languages l ON l.id = p.language_id WHERE p.id = q.person_id);
    END
    $$""",
    # The first version took no step (slice 3 before delivery health); never released.
    f"DROP FUNCTION IF EXISTS {_S}.relay_finish(bigint, uuid, boolean, text)",
    # How a claimed send went: only for the attempt that claimed the row and only while it is
    # still 'sending' (a row recovery marked 'unknown' stays so). Returns whether it matched.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.relay_finish(
        id bigint, attempt uuid, ok boolean, error text, step text DEFAULT NULL)
    RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        now_ timestamp := {_S}.now();
        challenge varchar(43);
        r {_S}.code_queue%ROWTYPE;
        detail text;
        newest boolean;
    BEGIN
        IF relay_finish.id IS NULL OR relay_finish.attempt IS NULL
           OR relay_finish.ok IS NULL THEN
            RAISE EXCEPTION 'A finish needs the row, its attempt and whether it was sent.'
                {_BAD_ARGUMENT}, DETAIL = 'id';
        END IF;
        SELECT q.challenge_id INTO challenge FROM {_S}.code_queue q
        WHERE q.id = relay_finish.id AND q.attempt = relay_finish.attempt
          AND q.state = 'sending';
        IF NOT FOUND THEN
            RETURN false;
        END IF;
        IF challenge IS NOT NULL THEN  -- the challenge first: the order sign-in locks in
            PERFORM 1 FROM {_S}.login_challenges c WHERE c.id = challenge FOR UPDATE;
        END IF;
        SELECT q.* INTO r FROM {_S}.code_queue q
        WHERE q.id = relay_finish.id AND q.attempt = relay_finish.attempt
          AND q.state = 'sending'
        FOR UPDATE;
        IF NOT FOUND THEN  -- recovered meanwhile
            RETURN false;
        END IF;
        detail := {_S}.without_code(relay_finish.error, r.code);
        UPDATE {_S}.code_queue q
           SET state = CASE WHEN relay_finish.ok THEN 'sent' ELSE 'failed' END,
               code = NULL, finished_at = now_,
               error = CASE WHEN relay_finish.ok THEN NULL ELSE detail END
         WHERE q.id = r.id;
        -- Delivery health, as pmdesk.core.delivery.health.record keeps it for each method; a
        -- message with nowhere to go (relay.NO_DESTINATION) says nothing about the method.
        IF relay_finish.step IS DISTINCT FROM '{NO_DESTINATION}' THEN
        INSERT INTO {_S}.delivery_outcomes AS o
            (method, last_at, ok, step, message, failures_in_row, last_ok_at)
        VALUES (left(r.method, 16), now_, relay_finish.ok,
                CASE WHEN relay_finish.ok OR relay_finish.step IS NULL
                          OR relay_finish.step NOT IN ({_STEPS}) THEN ''
                     ELSE relay_finish.step END,
                CASE WHEN relay_finish.ok THEN ''
                     ELSE left(btrim(regexp_replace(detail, '[[:space:]]+', ' ', 'g')), 500) END,
                CASE WHEN relay_finish.ok THEN 0 ELSE 1 END,
                CASE WHEN relay_finish.ok THEN now_ END)
        ON CONFLICT (method) DO UPDATE
            SET last_at = EXCLUDED.last_at, ok = EXCLUDED.ok, step = EXCLUDED.step,
                message = EXCLUDED.message,
                failures_in_row = CASE WHEN EXCLUDED.ok THEN 0 ELSE o.failures_in_row + 1 END,
                last_ok_at = coalesce(EXCLUDED.last_ok_at, o.last_ok_at);
        END IF;
        -- Only the challenge's newest code counts (a resend may have replaced this one).
        newest := challenge IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM {_S}.code_queue n WHERE n.challenge_id = challenge AND n.id > r.id);
        IF relay_finish.ok THEN
            IF newest THEN
                UPDATE {_S}.login_challenges c SET send_count = c.send_count + 1
                WHERE c.id = challenge;
            END IF;
            IF r.kind = 'test' THEN
                PERFORM {_S}.audit_row(r.subject, 'mail.test_sent', r.destination,
                                       r.requested_from, r.workstation,
                                       'sent by the relay (' || r.method || ')');
            ELSIF r.kind = 'alert' THEN
                PERFORM {_S}.audit_row(r.subject, 'alert.sent', r.subject, r.requested_from,
                                       r.workstation,
                                       'to ' || {_S}.mask_destination(r.destination)
                                       || ' (reference #' || r.reference || ')');
            ELSE
                PERFORM {_S}.audit_row(r.subject, 'code.sent', r.subject, r.requested_from,
                                       r.workstation,
                                       'to ' || {_S}.mask_destination(r.destination));
            END IF;
        ELSE
            IF newest THEN  -- nothing went out: the person may ask for a new code at once
                UPDATE {_S}.login_challenges c SET last_sent_at = NULL WHERE c.id = challenge;
            END IF;
            PERFORM {_S}.audit_row(r.subject,
                                   CASE WHEN r.kind = 'alert' THEN 'alert.failed'
                                        ELSE 'code.send_failed' END,
                                   r.subject, r.requested_from, r.workstation,
                                   CASE WHEN r.kind = 'test' THEN 'Test message: '
                                        WHEN r.kind = 'alert' THEN
                                            'to ' || {_S}.mask_destination(r.destination)
                                            || ' (reference #' || r.reference || '): '
                                        ELSE '' END
                                   || detail);
        END IF;
        RETURN true;
    END
    $$""",
    # System → Security's "Send test code" on a hardened database (§5.3): the workstation
    # holds no delivery secret, so the relay sends it, to the signed-in person's own address or
    # number (never one typed in: the relay is nobody's free mail service), with no code in
    # it. Security Edit; an older queued test of the same person is dropped. The relay audits
    # mail.test_sent (relay_finish). Returns where it goes and by which method.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.send_test_code() RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        me integer := {_S}.require_person();
        now_ timestamp := {_S}.now();
        p {_S}.personnel%ROWTYPE;
        settings {_S}.security_settings%ROWTYPE;
        ws text;
        dest text;
        queued bigint;
    BEGIN
        PERFORM {_S}.require_right('{SYSTEM_SECURITY.key}', '{Action.EDIT}');
        SELECT * INTO p FROM {_S}.personnel x WHERE x.id = me;
        SELECT * INTO settings FROM {_S}.security_settings x
         ORDER BY (x.id = 1) DESC, x.id LIMIT 1;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'Save the delivery settings first.' {_BAD_ARGUMENT},
                DETAIL = 'method';
        END IF;
        dest := {_S}.destination(p, settings.delivery_method);
        IF dest IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'PMD05', DETAIL = 'address', MESSAGE =
                'You have no ' || CASE WHEN settings.delivery_method IN ({_PHONE})
                                       THEN 'mobile number' ELSE 'e-mail address' END
                || ': add yours in Personnel first (on this database the relay sends test '
                || 'messages only to the person who asks).';
        END IF;
        ws := coalesce((SELECT x.workstation FROM {_S}.user_sessions x
                        WHERE x.token_hash = {_S}.token_hash(
                            current_setting('pmdesk.session', true))), '');
        UPDATE {_S}.code_queue q SET state = 'dropped', finished_at = now_
         WHERE q.person_id = me AND q.kind = 'test' AND q.state = 'queued';
        INSERT INTO {_S}.code_queue (challenge_id, person_id, subject, kind, method,
            destination, person_name, code, valid_minutes, requested_from, workstation,
            created_at)
        VALUES (NULL, me, p.login, 'test', settings.delivery_method, dest,
            {_S}.display_name(p), NULL, settings.code_ttl_minutes, {_S}.client_address(), ws,
            now_)
        RETURNING id INTO queued;
        PERFORM pg_notify('pmdesk_codes', '');
        RETURN jsonb_build_object('queued', queued, 'method', settings.delivery_method,
                                  'destination', dest);
    END
    $$""",
    # Claims whose relay died (another instance, heartbeat stale or missing) or that are older
    # than any delivery takes become 'unknown': never sent again (§6.3).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.relay_recover(instance uuid) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        now_ timestamp := {_S}.now();
        found_ record;
        r {_S}.code_queue%ROWTYPE;
        recovered integer := 0;
    BEGIN
        {_instance_check("relay_recover")}
        FOR found_ IN
            SELECT w.id, w.challenge_id FROM {_S}.code_queue w
            WHERE w.state = 'sending'
              AND (w.claimed_at <= now_ - interval '{CLAIM_ABANDONED_MINUTES} minutes'
                   OR (w.claimed_by IS DISTINCT FROM relay_recover.instance
                       AND NOT EXISTS (
                           SELECT 1 FROM {_S}.relay_heartbeat h
                           WHERE h.instance = w.claimed_by
                             AND h.last_seen_at > now_
                                 - interval '{HEARTBEAT_STALE_SECONDS} seconds')))
            ORDER BY w.id
        LOOP
            IF found_.challenge_id IS NOT NULL THEN  -- the challenge first, as relay_finish
                PERFORM 1 FROM {_S}.login_challenges c WHERE c.id = found_.challenge_id
                FOR UPDATE;
            END IF;
            SELECT q.* INTO r FROM {_S}.code_queue q
            WHERE q.id = found_.id AND q.state = 'sending'
            FOR UPDATE SKIP LOCKED;
            CONTINUE WHEN NOT FOUND;  -- finished meanwhile, or being finished right now
            UPDATE {_S}.code_queue q
               SET state = 'unknown', code = NULL, finished_at = now_,
                   error = '{RECOVERED_DETAIL}'
             WHERE q.id = r.id;
            IF r.challenge_id IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM {_S}.code_queue n
                WHERE n.challenge_id = r.challenge_id AND n.id > r.id) THEN
                UPDATE {_S}.login_challenges c SET last_sent_at = NULL
                WHERE c.id = r.challenge_id;
            END IF;
            PERFORM {_S}.audit_row(r.subject,
                                   CASE WHEN r.kind = 'alert' THEN 'alert.failed'
                                        ELSE 'code.send_failed' END,
                                   r.subject, r.requested_from, r.workstation,
                                   CASE WHEN r.kind = 'alert'
                                        THEN '(reference #' || r.reference || '): ' ELSE '' END
                                   || '{RECOVERED_DETAIL}');
            recovered := recovered + 1;
        END LOOP;
        RETURN recovered;
    END
    $$""",
    # One chunk of the expiry sweep (TrustedIpService.expire, the sessions purge): trusted
    # addresses past the trust period, one ip.expired row each; then finished challenges,
    # lapsed sessions, queue rows finished a day ago and old heartbeats, at most ``chunk`` of
    # each. Returns the addresses removed; the relay calls again while that equals ``chunk``.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.expire(chunk integer, workstation text DEFAULT '')
    RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        now_ timestamp := {_S}.now();
        days integer;
        gone record;
        removed integer := 0;
    BEGIN
        IF expire.chunk IS NULL OR expire.chunk NOT BETWEEN 1 AND {MAX_EXPIRE_CHUNK} THEN
            RAISE EXCEPTION 'An expiry chunk is 1 to {MAX_EXPIRE_CHUNK} rows.'
                {_BAD_ARGUMENT}, DETAIL = 'chunk';
        END IF;
        IF coalesce(length(expire.workstation), 0) > 255 THEN
            RAISE EXCEPTION 'The workstation name is at most 255 characters.'
                {_BAD_ARGUMENT}, DETAIL = 'workstation';
        END IF;
        days := coalesce((SELECT s.trust_days FROM {_S}.security_settings s
                          ORDER BY (s.id = 1) DESC, s.id LIMIT 1), 30);
        FOR gone IN
            WITH picked AS (
                SELECT t.id FROM {_S}.trusted_ips t
                WHERE t.created_at <= now_ - make_interval(days => days)
                ORDER BY t.created_at, t.id
                LIMIT expire.chunk
                FOR UPDATE SKIP LOCKED),
            deleted AS (
                DELETE FROM {_S}.trusted_ips t USING picked WHERE t.id = picked.id
                RETURNING t.id, t.person_id, t.address, t.created_at)
            SELECT d.id, d.address, d.created_at,
                   coalesce(nullif(p.login, ''),
                            nullif(concat_ws(' ', nullif(p.first_name, ''),
                                             nullif(p.last_name, '')), ''),
                            'person #' || d.person_id) AS subject
            FROM deleted d LEFT JOIN {_S}.personnel p ON p.id = d.person_id
            ORDER BY d.id
        LOOP
            PERFORM {_S}.audit_row('{SWEEP_ACTOR}', 'ip.expired', gone.subject, NULL,
                                   coalesce(expire.workstation, ''),
                                   'address ' || gone.address || ', trusted since '
                                   || to_char(gone.created_at, 'YYYY-MM-DD HH24:MI:SS')
                                   || ' UTC (#' || gone.id || ')');
            removed := removed + 1;
        END LOOP;
        DELETE FROM {_S}.login_challenges c WHERE c.id IN (
            SELECT f.id FROM {_S}.login_challenges f
            WHERE f.used_at IS NOT NULL OR f.expires_at < now_ - interval '1 day'
            ORDER BY f.id LIMIT expire.chunk FOR UPDATE SKIP LOCKED);
        DELETE FROM {_S}.user_sessions u WHERE u.id IN (
            SELECT l.id FROM {_S}.user_sessions l WHERE l.expires_at <= now_
            ORDER BY l.id LIMIT expire.chunk FOR UPDATE SKIP LOCKED);
        DELETE FROM {_S}.code_queue q WHERE q.id IN (
            SELECT f.id FROM {_S}.code_queue f
            WHERE f.state IN ('sent', 'failed', 'unknown', 'dropped')
              AND f.finished_at < now_ - interval '1 day'
            ORDER BY f.id LIMIT expire.chunk FOR UPDATE SKIP LOCKED);
        -- Each relay start is a new instance: keep a day of them, and always the newest.
        DELETE FROM {_S}.relay_heartbeat h
        WHERE h.last_seen_at < now_ - interval '1 day'
          AND h.instance <> (SELECT n.instance FROM {_S}.relay_heartbeat n
                             ORDER BY n.last_seen_at DESC LIMIT 1);
        RETURN removed;
    END
    $$""",
)

#: What the relay role may call (``grants``): signatures as ``to_regprocedure`` reads them.
RELAY_FUNCTIONS = (
    "relay_heartbeat(uuid, text, integer, text, text, text)",
    "relay_settings()",
    "relay_claim(uuid, integer)",
    "relay_finish(bigint, uuid, boolean, text, text)",
    "relay_recover(uuid)",
    "expire(integer, text)",
)
#: What the workstation role may call.
WORKSTATION_FUNCTIONS = ("send_test_code()",)
#: Internal helpers: EXECUTE for nobody (the definer functions run as the owner).
INTERNAL_FUNCTIONS = ("without_code(text, text)",)
