"""Hardening level 3: the two-step sign-in decided by the server (docs/server-enforced.md §2.7, §3).

``sign_in``, ``check_code`` and ``resend_code`` are the server's versions of
``LoginService.begin``, ``verify`` and ``resend``: the same rules, the same audit rows, the same
refusal reasons (the client turns them into its sentences). Codes are drawn here, stored only as
an HMAC with a key no login role can read, and handed to the relay through ``code_queue``; the
workstation never sees one. Failures count towards the lockout here too. Since level 4 a
completed sign-in also starts the session (``sessions_sql.start_session``) when the caller
names a session kind.

Numbers come from the Python modules (``codes``, ``lockout``), so the two sides cannot differ.
Every statement is idempotent: ``server init`` runs them all each time.
"""

from __future__ import annotations

from pmdesk.core import codes, lockout, sessions
from pmdesk.core.delivery.base import SMS_METHODS
from pmdesk.core.server.queue_sql import ALERT_WORKSTATION
from pmdesk.core.server.roles import CRYPTO_SCHEMA, SCHEMA

_C = CRYPTO_SCHEMA
_S = SCHEMA


def _seconds(interval: object) -> int:
    from datetime import timedelta

    assert isinstance(interval, timedelta)
    return int(interval.total_seconds())


LIMITS = {
    "max_code_attempts": codes.MAX_CODE_ATTEMPTS,
    "resend_interval_s": _seconds(codes.RESEND_INTERVAL),
    "max_challenge_age_s": _seconds(codes.MAX_CHALLENGE_AGE),
    # The lockout's thresholds are settings (security_settings, 0010); these are fixed.
    "person_cap": lockout.PERSON_CAP,
    "reset_after_s": _seconds(lockout.RESET_AFTER),
}
_L = LIMITS
# Delivery methods whose codes go to a phone number (every other one mails), for SQL.
_PHONE = ", ".join(f"'{m}'" for m in sorted(SMS_METHODS))
#: How a stored code hash made here starts (auth.py's scrypt hashes start with ``n``).
HMAC_PREFIX = "hmac-sha256$"
CHALLENGE_ID = "^[A-Za-z0-9_-]{16,64}$"
_KINDS = ", ".join(f"'{kind}'" for kind in sessions.KINDS)

STATEMENTS: tuple[str, ...] = (
    # The key of code hashes: without it no offline guess is possible at any cost.
    f"ALTER TABLE {_S}.server_secret ADD COLUMN IF NOT EXISTS code_key bytea",
    f"UPDATE {_S}.server_secret SET code_key = {_C}.gen_random_bytes(32) WHERE code_key IS NULL",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.limits() RETURNS jsonb
    LANGUAGE sql IMMUTABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
        SELECT jsonb_build_object({", ".join(f"'{k}', {v}" for k, v in _L.items())})
    $$""",
    # Forename and last name, NULL when both are empty; people.display_name.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.full_name(p {_S}.personnel) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
        SELECT nullif(concat_ws(' ', nullif(p.first_name, ''), nullif(p.last_name, '')), '')
    $$""",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.display_name(p {_S}.personnel) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = {_S}, pg_temp AS $$
        SELECT coalesce({_S}.full_name(p), p.login, 'person #' || p.id)
    $$""",
    # This connection's address as the server sees it, as addresses.normalise_address writes it.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.client_address() RETURNS text
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
        SELECT CASE WHEN a IS NULL THEN NULL
                    WHEN family(a) = 6 AND host(a) ~* '^::ffff:[0-9]+[.][0-9.]+$'
                         THEN substring(host(a) from 8)
                    ELSE host(a) END
        FROM (SELECT inet_client_addr() AS a) AS client
    $$""",
    # Why an address can never be trusted here, as trusted_ips.why_not_trustable says it.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.trust_refusal(address text) RETURNS text
    LANGUAGE plpgsql STABLE SET search_path = {_S}, pg_temp AS $$
    DECLARE
        a inet;
        entry text;
        listed text := (SELECT s.never_trusted_addresses FROM {_S}.security_settings s
                        ORDER BY s.id LIMIT 1);
    BEGIN
        IF address IS NULL THEN
            RETURN 'The database server cannot see this workstation''s address (a local socket '
                   'connection, the same for everyone connecting that way), so it is never '
                   'trusted.';
        END IF;
        BEGIN
            a := address::inet;
        EXCEPTION WHEN others THEN
            RETURN 'This workstation''s address is unknown, so it cannot be trusted.';
        END;
        FOREACH entry IN ARRAY regexp_split_to_array(coalesce(listed, ''), '[\\s,;]+') LOOP
            CONTINUE WHEN entry = '';
            BEGIN
                IF family(entry::cidr) = family(a) AND a <<= entry::cidr THEN
                    RETURN address || ' is on the list of addresses never trusted (a proxy or '
                           'connection pooler, System → Security), so it is never trusted.';
                END IF;
            EXCEPTION WHEN others THEN
                CONTINUE;  -- an entry saved by hand that is not valid is skipped
            END;
        END LOOP;
        IF a <<= '127.0.0.0/8'::inet OR a = '::1'::inet THEN
            RETURN address || ' is a loopback address, shared by everyone who reaches the '
                   'database through this computer (localhost, an SSH tunnel or a connection '
                   'pooler), so it is never trusted on a shared database.';
        END IF;
        IF a <<= '169.254.0.0/16'::inet OR a <<= 'fe80::/10'::inet THEN
            RETURN address || ' is a link-local address, not unique to this workstation, so '
                   'it is never trusted on a shared database.';
        END IF;
        RETURN {_S}.trust_policy_refusal(a);  -- the trust policy (networks_sql)
    END
    $$""",
    # trusted_ips.why_no_code: "trusted address #812, created 3 May 2026 14:05 UTC by alice on
    # WS-07", the reason a sign-in without a code records.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.why_no_code(t {_S}.trusted_ips)
    RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = {_S}, pg_temp AS $$
        SELECT 'trusted address #' || t.id || ', created '
            || to_char(t.created_at, 'FMDD ') || (ARRAY['Jan', 'Feb', 'Mar', 'Apr', 'May',
               'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'])[extract(month FROM t.created_at)]
            || to_char(t.created_at, ' YYYY HH24:MI') || ' UTC'
            || coalesce(' by ' || nullif(t.trusted_by, ''), '')
            || coalesce(' on ' || nullif(t.trusted_on, ''), '')
    $$""",
    # Six uniform digits: 32 random bits, redrawn above the last whole multiple of 10^6.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.new_code() RETURNS text
    LANGUAGE plpgsql VOLATILE SET search_path = {_S}, pg_temp AS $$
    DECLARE
        v bigint;
    BEGIN
        LOOP
            v := ('x' || encode({_C}.gen_random_bytes(4), 'hex'))::bit(32)::bigint;
            EXIT WHEN v < 4294000000;
        END LOOP;
        RETURN lpad((v % 1000000)::text, 6, '0');
    END
    $$""",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.code_hash(challenge text, code text) RETURNS text
    LANGUAGE sql STABLE SET search_path = {_S}, pg_temp AS $$
        SELECT '{HMAC_PREFIX}' || encode({_C}.hmac(convert_to(challenge || ':' || code, 'UTF8'),
               (SELECT s.code_key FROM {_S}.server_secret s WHERE s.id = 1), 'sha256'), 'hex')
    $$""",
    # Whether two secrets are equal, in a time that tells nothing about where they differ:
    # both are HMAC'd under a key drawn for this one comparison, and only those HMACs meet
    # the early-exit byte comparison of `=`. Whoever times it cannot aim at the stored hash
    # byte by byte, since they cannot predict either HMAC; simpler in SQL than an XOR loop.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.same_secret(a text, b text) RETURNS boolean
    LANGUAGE sql VOLATILE SET search_path = {_S}, pg_temp AS $$
        SELECT coalesce({_C}.hmac(convert_to(a, 'UTF8'), fresh.key, 'sha256')
                        = {_C}.hmac(convert_to(b, 'UTF8'), fresh.key, 'sha256'), false)
        FROM (SELECT {_C}.gen_random_bytes(32) AS key) AS fresh
    $$""",
    # lockout.lock_duration: first, doubling, capped (1, 2, 4, 8, 15, 15 … minutes).
    f"DROP FUNCTION IF EXISTS {_S}.lock_duration(integer)",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.lock_duration(
        lock_count integer, first_min integer, max_min integer)
    RETURNS interval
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
        SELECT make_interval(mins => least(max_min,
               first_min * power(2, least(greatest(lock_count, 1), 13) - 1))::integer)
    $$""",
    # lockout.is_locked_out: locked everywhere, or from this address.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.locked_out(
        p {_S}.personnel, address text, now_ timestamp)
    RETURNS boolean
    LANGUAGE sql STABLE SET search_path = {_S}, pg_temp AS $$
        SELECT (p.locked_until IS NOT NULL AND p.locked_until > now_)
            OR EXISTS (SELECT 1 FROM {_S}.login_failures f
                        WHERE f.person_id = p.id
                          AND f.address = coalesce(locked_out.address, '')
                          AND f.locked_until > now_)
    $$""",
    # lockout.record_failure, under the caller's row lock on the person: counted for
    # (person, address), locking there after the setting's number; and for the person,
    # locking everywhere at the cap.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.record_failure(
        person integer, actor text, address text, workstation text, now_ timestamp)
    RETURNS void
    LANGUAGE plpgsql VOLATILE SET search_path = {_S}, pg_temp AS $$
    DECLARE
        p {_S}.personnel%ROWTYPE;
        f {_S}.login_failures%ROWTYPE;
        s {_S}.security_settings%ROWTYPE;
        key text := coalesce(address, '');
        failures integer;
        locks integer;
        until timestamp;
        ended integer;
        reset interval := make_interval(secs => {_L["reset_after_s"]});
    BEGIN
        SELECT * INTO p FROM {_S}.personnel WHERE id = person;
        IF NOT FOUND OR {_S}.locked_out(p, address, now_) THEN
            RETURN;
        END IF;
        SELECT * INTO s FROM {_S}.security_settings ORDER BY id LIMIT 1;
        s.lock_after_failures := coalesce(s.lock_after_failures, {lockout.MAX_FAILURES});
        s.first_lock_minutes := coalesce(s.first_lock_minutes, 1);
        s.max_lock_minutes := coalesce(s.max_lock_minutes, 15);
        -- This address.
        SELECT * INTO f FROM {_S}.login_failures x
         WHERE x.person_id = person AND x.address = key FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO {_S}.login_failures (person_id, address, failed, lock_count)
            VALUES (person, key, 0, 0) RETURNING * INTO f;
        ELSIF f.last_failed_at IS NOT NULL AND now_ - f.last_failed_at >= reset THEN
            f.failed := 0;
            f.lock_count := 0;
        END IF;
        f.failed := f.failed + 1;
        IF f.failed >= s.lock_after_failures THEN
            f.lock_count := f.lock_count + 1;
            f.locked_until := now_ + {_S}.lock_duration(
                f.lock_count, s.first_lock_minutes, s.max_lock_minutes);
            f.failed := 0;
            PERFORM {_S}.audit_row(actor, 'account.locked', coalesce(p.login, '#' || person),
                address, workstation,
                'from ' || coalesce(nullif(key, ''), 'an unknown address') || ' after '
                || s.lock_after_failures || ' failures; lock ' || f.lock_count || ', '
                || (extract(epoch FROM {_S}.lock_duration(f.lock_count, s.first_lock_minutes,
                    s.max_lock_minutes)) / 60)::integer || ' min');
        END IF;
        UPDATE {_S}.login_failures
           SET failed = f.failed, lock_count = f.lock_count, locked_until = f.locked_until,
               last_failed_at = now_
         WHERE id = f.id;
        -- The person, everywhere.
        failures := p.failed_logins;
        locks := p.lock_count;
        IF p.last_failed_at IS NOT NULL AND now_ - p.last_failed_at >= reset THEN
            failures := 0;
            locks := 0;
        END IF;
        failures := failures + 1;
        IF failures >= {_L["person_cap"]} THEN
            locks := locks + 1;
            until := now_ + {_S}.lock_duration(locks, s.first_lock_minutes, s.max_lock_minutes);
            failures := 0;
        END IF;
        UPDATE {_S}.personnel
           SET failed_logins = failures, lock_count = locks, last_failed_at = now_,
               locked_until = coalesce(until, p.locked_until)
         WHERE id = person;
        IF until IS NOT NULL THEN
            DELETE FROM {_S}.user_sessions WHERE person_id = person;  -- a lock ends them all
            GET DIAGNOSTICS ended = ROW_COUNT;
            PERFORM {_S}.audit_row(actor, 'account.locked', coalesce(p.login, '#' || person),
                address, workstation,
                'everywhere after {_L["person_cap"]} failures; lock ' || locks || ', '
                || (extract(epoch FROM {_S}.lock_duration(locks, s.first_lock_minutes,
                    s.max_lock_minutes)) / 60)::integer || ' min'
                || CASE WHEN ended > 0 THEN '; ' || ended || ' sessions ended' ELSE '' END);
        END IF;
    END
    $$""",
    # lockout.record_success: this address's failures and the person's count are forgotten.
    f"DROP FUNCTION IF EXISTS {_S}.record_success(integer)",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.record_success(person integer, address text) RETURNS void
    LANGUAGE sql VOLATILE SET search_path = {_S}, pg_temp AS $$
        DELETE FROM {_S}.login_failures f
         WHERE f.person_id = record_success.person
           AND f.address = coalesce(record_success.address, '');
        UPDATE {_S}.personnel
           SET failed_logins = 0, lock_count = 0, last_failed_at = NULL, locked_until = NULL
         WHERE id = person AND (failed_logins <> 0 OR lock_count <> 0
               OR last_failed_at IS NOT NULL OR locked_until IS NOT NULL)
    $$""",
    # Seconds since the newest relay heartbeat, NULL when no relay ever ran.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.relay_last_seen_s() RETURNS integer
    LANGUAGE sql STABLE SET search_path = {_S}, pg_temp AS $$
        SELECT CASE WHEN max(h.last_seen_at) IS NULL THEN NULL ELSE
               greatest(0, extract(epoch FROM {_S}.now() - max(h.last_seen_at)))::integer END
        FROM {_S}.relay_heartbeat h
    $$""",
    # The newest relay's heartbeat, for the Security screen (System → Security Read) and
    # `server status` (the owner's members).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.relay_status() RETURNS jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    BEGIN
        IF NOT (pg_has_role(session_user, (SELECT n.nspowner FROM pg_namespace n
                                           WHERE n.nspname = '{_S}'), 'MEMBER')
                OR {_S}.may('system.security', 'read')) THEN
            RAISE EXCEPTION 'Your user group may not read System → Security.'
                USING ERRCODE = 'PMD01';
        END IF;
        RETURN coalesce((
            SELECT jsonb_build_object('host', h.host, 'version', h.version, 'method', h.method,
                   'problem', h.problem, 'relays', (SELECT count(*) FROM {_S}.relay_heartbeat),
                   'last_seen_s', greatest(0, extract(epoch FROM {_S}.now() - h.last_seen_at))
                                  ::integer)
            FROM {_S}.relay_heartbeat h ORDER BY h.last_seen_at DESC LIMIT 1), '{{}}'::jsonb);
    END
    $$""",
    # A completed sign-in (two-step off, a trusted address, or the right code); with a
    # session kind, the session starts here (sessions_sql.start_session) and its token is
    # in the answer, the only place it ever appears.
    f"""DROP FUNCTION IF EXISTS {_S}.signed_in(
        {_S}.personnel, text, text, timestamp, boolean, text, text)""",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.signed_in(
        p {_S}.personnel, address text, workstation text, now_ timestamp, trusted boolean,
        detail text, matched text, kind text, os_user text)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SET search_path = {_S}, pg_temp AS $$
    DECLARE
        session jsonb := '{{}}';
    BEGIN
        PERFORM {_S}.record_success(p.id, address);
        UPDATE {_S}.personnel SET last_login_at = now_ WHERE id = p.id;
        PERFORM {_S}.audit_row(p.login, 'login.succeeded', p.login, address, workstation, detail);
        IF kind IS NOT NULL THEN
            session := {_S}.start_session(p.id, kind, workstation, os_user);
        END IF;
        RETURN jsonb_build_object(
            'outcome', 'signed_in', 'person', p.id, 'login', p.login,
            'name', {_S}.display_name(p), 'trusted', trusted, 'address', address,
            'matched', matched,
            'language', (SELECT l.code FROM {_S}.languages l WHERE l.id = p.language_id))
            || session;
    END
    $$""",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.refused(reason text, extra jsonb DEFAULT '{{}}')
    RETURNS jsonb
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
        SELECT jsonb_build_object('outcome', 'refused', 'reason', reason) || extra
    $$""",
    # A refused step of a known person: audited "login.refused reason=…", then the answer.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.refuse(
        login text, address text, ws text, audited text, reason text,
        extra jsonb DEFAULT '{{}}')
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SET search_path = {_S}, pg_temp AS $$
    BEGIN
        PERFORM {_S}.audit_row(login, 'login.refused', login, address, ws, 'reason=' || audited);
        RETURN {_S}.refused(reason, extra);
    END
    $$""",
    # The person of a login attempt, locked first (the order every step uses), then the
    # attempt itself; NULL when the id is malformed, unknown or no longer theirs. The caller
    # reads the attempt afterwards: its row lock is already this transaction's.
    f"DROP FUNCTION IF EXISTS {_S}.lock_attempt(text)",
    f"""
    CREATE FUNCTION {_S}.lock_attempt(challenge text) RETURNS {_S}.personnel
    LANGUAGE plpgsql VOLATILE SET search_path = {_S}, pg_temp AS $$
    DECLARE
        pid integer;
        p {_S}.personnel%ROWTYPE;
    BEGIN
        IF challenge IS NULL OR challenge !~ '{CHALLENGE_ID}' THEN
            RETURN NULL;
        END IF;
        SELECT x.person_id INTO pid FROM {_S}.login_challenges x WHERE x.id = challenge;
        IF pid IS NULL THEN
            RETURN NULL;
        END IF;
        SELECT * INTO p FROM {_S}.personnel WHERE id = pid FOR UPDATE;
        PERFORM 1 FROM {_S}.login_challenges x
         WHERE x.id = challenge AND x.person_id = p.id FOR UPDATE;
        IF NOT FOUND OR p.login IS NULL THEN
            RETURN NULL;
        END IF;
        RETURN p;
    END
    $$""",
    # Retire the person's unused attempts except ``keep`` (auth._retire_others).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.retire_others(person integer, keep text, now_ timestamp)
    RETURNS void
    LANGUAGE sql VOLATILE SET search_path = {_S}, pg_temp AS $$
        UPDATE {_S}.login_challenges
           SET retired_at = coalesce(retired_at, now_),
               expires_at = CASE WHEN expires_at > now_ THEN now_ ELSE expires_at END
         WHERE person_id = person AND used_at IS NULL AND id <> coalesce(keep, '');
        UPDATE {_S}.code_queue SET state = 'dropped', code = NULL, finished_at = now_
         WHERE person_id = person AND state = 'queued' AND challenge_id <> coalesce(keep, '')
    $$""",
    # Where a code for this person goes, or NULL (auth.usable_destination; the relay checks
    # the number's form when it sends).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.destination(p {_S}.personnel, method text) RETURNS text
    LANGUAGE sql STABLE SET search_path = {_S}, pg_temp AS $$
        SELECT CASE WHEN method IN ({_PHONE})
                    THEN coalesce(nullif(btrim(p.mobile), ''), nullif(btrim(p.phone), ''))
                    WHEN btrim(p.email) ~ '^[^@[:space:]]+@[^@[:space:]]+$' THEN btrim(p.email)
               END
    $$""",
    # A new code for a challenge: hashed in the row, plain only in the queue for the relay.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.queue_code(
        challenge text, p {_S}.personnel, method text, destination text, minutes integer,
        address text, workstation text, now_ timestamp)
    RETURNS text
    LANGUAGE plpgsql VOLATILE SET search_path = {_S}, pg_temp AS $$
    DECLARE
        code text := {_S}.new_code();
    BEGIN
        UPDATE {_S}.code_queue SET state = 'dropped', code = NULL, finished_at = now_
         WHERE challenge_id = challenge AND state = 'queued';
        INSERT INTO {_S}.code_queue (challenge_id, person_id, subject, kind, method, destination,
            person_name, code, valid_minutes, requested_from, workstation, created_at)
        VALUES (challenge, p.id, p.login, 'code', method, destination,
            {_S}.display_name(p), code, minutes, address, workstation, now_);
        PERFORM pg_notify('pmdesk_codes', '');  -- no payload: anyone may LISTEN
        RETURN {_S}.code_hash(challenge, code);
    END
    $$""",
    # The answer for a challenge waiting for its code. Moments as well as seconds left: the
    # client shows the server's own moments (auth's are the same database clock's).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.code_needed(c {_S}.login_challenges, destination text,
        now_ timestamp, matched text)
    RETURNS jsonb
    LANGUAGE sql STABLE SET search_path = {_S}, pg_temp AS $$
        SELECT jsonb_build_object(
            'outcome', 'code_needed', 'challenge', c.id, 'person', c.person_id,
            'destination', {_S}.mask_destination(destination),
            'valid_s', greatest(0, extract(epoch FROM c.expires_at - now_))::integer,
            'resend_after_s', CASE WHEN c.last_sent_at IS NULL THEN 0 ELSE greatest(0,
                extract(epoch FROM c.last_sent_at + make_interval(
                    secs => {_L["resend_interval_s"]}) - now_))::integer END,
            'attempts_left', greatest(0, {_L["max_code_attempts"]} - c.attempts),
            'expires_at', c.expires_at,
            'resend_at', c.last_sent_at + make_interval(secs => {_L["resend_interval_s"]}),
            'relay_last_seen_s', {_S}.relay_last_seen_s(), 'matched', matched,
            'helpdesk', EXISTS (SELECT 1 FROM {_S}.helpdesk_codes h
                                WHERE h.person_id = c.person_id AND h.expires_at > now_))
    $$""",
    # Step 1: the password (auth.LoginService.begin).
    f"DROP FUNCTION IF EXISTS {_S}.sign_in(text, text, text, text)",
    f"DROP FUNCTION IF EXISTS {_S}.sign_in(text, text, text, text, text, text)",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.sign_in(
        key text, proof text, alt_proof text, workstation text, kind text, os_user text,
        upgrade text DEFAULT NULL)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    <<step>>
    DECLARE
        now_ timestamp := {_S}.now();
        address text := {_S}.client_address();
        ws text := left(coalesce(workstation, ''), 255);
        pid integer;
        p {_S}.personnel%ROWTYPE;
        settings {_S}.security_settings%ROWTYPE;
        matched text;
        last_sent timestamp;
        dest text;
        trusted {_S}.trusted_ips%ROWTYPE;
        c {_S}.login_challenges%ROWTYPE;
    BEGIN
        IF kind IS NOT NULL AND kind NOT IN ({_KINDS}) THEN
            RETURN {_S}.refused('invalid_kind');
        END IF;
        IF key IS NOT NULL AND key <> '' AND length(key) <= 256 THEN
            SELECT id INTO pid FROM {_S}.personnel WHERE login_key = key;
        END IF;
        IF pid IS NOT NULL THEN
            SELECT * INTO p FROM {_S}.personnel WHERE id = pid FOR UPDATE;
        END IF;
        -- One bcrypt for unknown, locked, wrong and right alike.
        matched := {_S}.check_password(pid, left(proof, 100), left(alt_proof, 100));
        IF pid IS NULL OR p.login IS NULL THEN
            PERFORM {_S}.audit_row('unknown', 'login.refused', 'unknown', address, ws,
                                   'reason=unknown_login');
            RETURN {_S}.refused('bad_credentials');
        END IF;
        IF {_S}.locked_out(p, address, now_) THEN
            RETURN {_S}.refuse(p.login, address, ws, 'locked', 'bad_credentials');
        END IF;
        IF matched IS NULL THEN
            PERFORM {_S}.audit_row(p.login, 'login.refused', p.login, address, ws,
                                   'reason=wrong_password');
            PERFORM {_S}.record_failure(p.id, p.login, address, ws, now_);
            RETURN {_S}.refused('bad_credentials');
        END IF;
        -- The password was right: a hash made before NFKC, or with other parameters than the
        -- client's, is replaced by the one the client sent (the trigger checks its form and
        -- keeps only a credential). A malformed one is ignored, never fatal.
        IF upgrade IS NOT NULL AND (matched = 'typed' OR split_part(upgrade, '$', 4)
                IS DISTINCT FROM (SELECT cr.params FROM {_S}.credentials cr
                                  WHERE cr.person_id = p.id)) THEN
            BEGIN
                UPDATE {_S}.personnel SET password_hash = left(upgrade, 255) WHERE id = p.id;
            EXCEPTION WHEN others THEN
                NULL;
            END;
        END IF;

        SELECT * INTO settings FROM {_S}.security_settings ORDER BY id LIMIT 1;
        IF NOT coalesce(settings.two_factor_enabled, false) THEN
            RETURN {_S}.signed_in(p, address, ws, now_, false,
                                  'two-step authentication off', matched, kind, os_user);
        END IF;
        IF {_S}.trust_refusal(address) IS NULL THEN
            UPDATE {_S}.trusted_ips SET last_used_at = now_
             WHERE person_id = p.id AND trusted_ips.address = step.address
               AND created_at > now_ - make_interval(days => settings.trust_days)
            RETURNING * INTO trusted;
            IF FOUND THEN
                RETURN {_S}.signed_in(p, address, ws, now_, true, {_S}.why_no_code(trusted),
                                      matched, kind, os_user);
            END IF;
        END IF;

        -- Every unused code sent in the last 30 s counts, voided or replaced ones too.
        SELECT max(l.last_sent_at) INTO last_sent FROM (
            SELECT x.last_sent_at FROM {_S}.login_challenges x
             WHERE x.person_id = p.id AND x.used_at IS NULL
               AND x.last_sent_at > now_ - make_interval(secs => {_L["resend_interval_s"]})
               FOR UPDATE) AS l;
        IF last_sent IS NOT NULL THEN
            RETURN {_S}.refuse(p.login, address, ws, 'too_soon', 'too_soon',
                jsonb_build_object('retry_after_s', greatest(1, ceil(extract(epoch FROM last_sent
                     + make_interval(secs => {_L["resend_interval_s"]}) - now_)))::integer,
                'retry_at', last_sent + make_interval(secs => {_L["resend_interval_s"]})));
        END IF;
        dest := {_S}.destination(p, settings.delivery_method);
        -- Nowhere to send a code: refused, unless a live helpdesk code will do (core.helpdesk).
        IF dest IS NULL AND NOT EXISTS (SELECT 1 FROM {_S}.helpdesk_codes h
                                        WHERE h.person_id = p.id AND h.expires_at > now_) THEN
            RETURN {_S}.refuse(p.login, address, ws,
                'no_destination method=' || settings.delivery_method, 'no_destination',
                                jsonb_build_object('method', settings.delivery_method));
        END IF;
        PERFORM {_S}.retire_others(p.id, NULL, now_);
        c.id := translate(rtrim(encode({_C}.gen_random_bytes(32), 'base64'), '='), '+/', '-_');
        c.person_id := p.id;
        c.address := address;
        c.workstation := ws;
        c.created_at := now_;
        c.expires_at := now_ + make_interval(mins => settings.code_ttl_minutes);
        c.last_sent_at := now_;
        c.send_count := 0;
        c.attempts := 0;
        c.voided := false;
        IF dest IS NULL THEN  -- no code at all: only the helpdesk code matches
            c.code_hash := 'none';
            c.last_sent_at := NULL;
        ELSE
            c.code_hash := {_S}.queue_code(c.id, p, settings.delivery_method, dest,
                                           settings.code_ttl_minutes, address, ws, now_);
        END IF;
        INSERT INTO {_S}.login_challenges SELECT c.*;
        PERFORM {_S}.audit_row(p.login, 'login.code_required', p.login, address, ws,
                               'code valid ' || settings.code_ttl_minutes || ' min');
        RETURN {_S}.code_needed(c, dest, now_, matched)
               || jsonb_build_object('method', settings.delivery_method);
    END
    $$""",
    # Why a challenge cannot take a code (or, renewing, a new code) now: NULL when it can.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.challenge_refusal(
        c {_S}.login_challenges, p {_S}.personnel, address text, ws text, now_ timestamp,
        renewing boolean)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SET search_path = {_S}, pg_temp AS $$
    BEGIN
        IF c.used_at IS NOT NULL THEN
            RETURN {_S}.invalid_challenge(p.login, address, ws, 'already used');
        ELSIF c.retired_at IS NOT NULL THEN
            RETURN {_S}.invalid_challenge(p.login, address, ws, 'replaced');
        ELSIF c.address IS DISTINCT FROM address OR c.workstation <> ws THEN
            RETURN {_S}.invalid_challenge(p.login, address, ws, 'other address or workstation');
        ELSIF p.password_changed_at IS NOT NULL AND p.password_changed_at > c.created_at THEN
            RETURN {_S}.invalid_challenge(p.login, address, ws, 'password changed since');
        ELSIF c.voided OR c.attempts >= {_L["max_code_attempts"]} THEN
            RETURN {_S}.refuse(p.login, address, ws, 'code_voided', 'code_voided',
                               '{{"attempts_left": 0}}');
        ELSIF now_ >= c.expires_at AND NOT renewing THEN
            RETURN {_S}.refuse(p.login, address, ws, 'code_expired', 'code_expired',
                jsonb_build_object('attempts_left',
                                   greatest(0, {_L["max_code_attempts"]} - c.attempts)));
        END IF;
        RETURN NULL;
    END
    $$""",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.invalid_challenge(
        actor text, address text, ws text, why text)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SET search_path = {_S}, pg_temp AS $$
    BEGIN
        PERFORM {_S}.audit_row(coalesce(actor, 'unknown'), 'login.refused',
            coalesce(actor, 'unknown'), address, ws,
            'reason=invalid_challenge ('
            || CASE WHEN why = 'replaced' THEN 'replaced by a newer sign-in' ELSE why END || ')');
        RETURN {_S}.refused('invalid_challenge', jsonb_build_object('why', why));
    END
    $$""",
    # Step 2: the code (auth.LoginService.verify).
    f"DROP FUNCTION IF EXISTS {_S}.check_code(text, text, boolean, text)",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.check_code(
        challenge text, code text, trust boolean, workstation text, kind text, os_user text)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        now_ timestamp := {_S}.now();
        address text := {_S}.client_address();
        ws text := left(coalesce(workstation, ''), 255);
        p {_S}.personnel%ROWTYPE;
        c {_S}.login_challenges%ROWTYPE;
        refusal jsonb;
        six boolean := code IS NOT NULL AND code ~ '^[0-9]{{6}}$';
        -- A helpdesk code (core.helpdesk): twelve digits, typed in groups or not.
        desk_code text := CASE WHEN length(code) <= 40
                               THEN translate(code, ' -', '') END;
        desk boolean := desk_code ~ '^[0-9]{{12}}$';
        issued {_S}.helpdesk_codes%ROWTYPE;
        well_formed boolean := six OR coalesce(desk, false);
        matched boolean := false;
        tries integer;
        detail text := 'security code';
        trusted_to text;
        why_not text;
        left_ integer;
    BEGIN
        IF kind IS NOT NULL AND kind NOT IN ({_KINDS}) THEN
            RETURN {_S}.refused('invalid_kind');
        END IF;
        p := {_S}.lock_attempt(challenge);
        c := (SELECT x FROM {_S}.login_challenges x WHERE x.id = challenge AND x.person_id = p.id);
        IF c.id IS NULL THEN
            RETURN {_S}.invalid_challenge(NULL, address, ws, 'unknown attempt');
        END IF;
        refusal := {_S}.challenge_refusal(c, p, address, ws, now_, false);
        IF refusal IS NOT NULL THEN
            RETURN refusal;
        END IF;
        IF {_S}.locked_out(p, address, now_) THEN
            RETURN {_S}.refuse(p.login, address, ws, 'locked', 'bad_credentials');
        END IF;

        IF six THEN
            matched := {_S}.same_secret(c.code_hash, {_S}.code_hash(c.id, code));
        ELSIF desk THEN
            -- Used once: deleted under its row lock; live by the database clock.
            SELECT * INTO issued FROM {_S}.helpdesk_codes h WHERE h.person_id = p.id FOR UPDATE;
            IF FOUND AND issued.expires_at > now_ AND {_S}.same_secret(issued.code_hash,
                    {_S}.code_hash('helpdesk:' || p.id, desk_code)) THEN
                DELETE FROM {_S}.helpdesk_codes WHERE id = issued.id;
                matched := true;
                detail := 'helpdesk code issued by ' || issued.issued_by_name || ': '
                          || issued.reason;
            END IF;
        END IF;
        IF matched THEN
            UPDATE {_S}.login_challenges SET used_at = now_ WHERE id = c.id;
            IF trust AND c.address IS NOT NULL THEN
                why_not := {_S}.trust_refusal(c.address);
                IF why_not IS NULL THEN
                    trusted_to := {_S}.trust_address_internal(p, c.address, ws, now_);
                ELSE
                    PERFORM {_S}.audit_row(p.login, 'ip.not_trusted', p.login, address, ws,
                                           'address ' || c.address || ': ' || why_not);
                END IF;
            ELSIF trust THEN
                detail := detail || '; address unknown, not trusted';
            END IF;
            RETURN {_S}.signed_in(p, address, ws, now_, false, detail, NULL, kind, os_user)
                   || jsonb_build_object('trusted_now', trusted_to IS NOT NULL);
        END IF;

        tries := c.attempts + 1;
        UPDATE {_S}.login_challenges
           SET attempts = tries, voided = tries >= {_L["max_code_attempts"]}
         WHERE id = c.id;
        PERFORM {_S}.audit_row(p.login, 'code.failed', p.login, address, ws,
            CASE WHEN well_formed THEN 'wrong' ELSE 'malformed' END || ' code, attempt '
            || tries || ' of {_L["max_code_attempts"]}');
        PERFORM {_S}.record_failure(p.id, p.login, address, ws, now_);
        IF tries >= {_L["max_code_attempts"]} THEN
            PERFORM {_S}.audit_row(p.login, 'code.voided', p.login, address, ws,
                                   'after {_L["max_code_attempts"]} wrong codes');
            RETURN {_S}.refused('code_voided', '{{"attempts_left": 0}}');
        END IF;
        left_ := {_L["max_code_attempts"]} - tries;
        RETURN {_S}.refused('wrong_code', jsonb_build_object('attempts_left', left_));
    END
    $$""",
    # trusted_ips.trust without the refusal (the caller checked): keeps a valid trust as it
    # is, starts a new period for an expired row the sweep has not reached yet.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.trust_address_internal(
        p {_S}.personnel, address text, ws text, now_ timestamp)
    RETURNS text
    LANGUAGE plpgsql VOLATILE SET search_path = {_S}, pg_temp AS $$
    DECLARE
        days integer := (SELECT s.trust_days FROM {_S}.security_settings s ORDER BY s.id LIMIT 1);
        existing {_S}.trusted_ips%ROWTYPE;
    BEGIN
        -- The workstation the trust alert names (alerts_sql): no session exists yet.
        PERFORM set_config('{ALERT_WORKSTATION}', ws, true);
        SELECT * INTO existing FROM {_S}.trusted_ips t
         WHERE t.person_id = p.id AND t.address = trust_address_internal.address FOR UPDATE;
        IF FOUND THEN
            UPDATE {_S}.trusted_ips SET last_used_at = now_,
                   created_at = CASE WHEN created_at > now_ - make_interval(days => days)
                                     THEN created_at ELSE now_ END,
                   trusted_by = CASE WHEN created_at > now_ - make_interval(days => days)
                                     THEN trusted_by ELSE p.login END,
                   trusted_on = CASE WHEN created_at > now_ - make_interval(days => days)
                                     THEN trusted_on ELSE ws END
             WHERE id = existing.id;
            IF existing.created_at <= now_ - make_interval(days => days) THEN
                PERFORM {_S}.audit_row(p.login, 'ip.trusted', p.login, {_S}.client_address(),
                    ws, 'address ' || address || ' (trusted again after its period ended)');
            END IF;
            RETURN address;
        END IF;
        INSERT INTO {_S}.trusted_ips (person_id, address, created_at, last_used_at,
                                      trusted_by, trusted_on)
        VALUES (p.id, address, now_, now_, p.login, ws)
        ON CONFLICT ON CONSTRAINT uq_trusted_ips_person_address DO NOTHING;
        IF FOUND THEN
            PERFORM {_S}.audit_row(p.login, 'ip.trusted', p.login, {_S}.client_address(), ws,
                                   'address ' || address);
        END IF;
        RETURN address;
    END
    $$""",
    # A new code for the same attempt (auth.LoginService.resend).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.resend_code(challenge text, workstation text)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        now_ timestamp := {_S}.now();
        address text := {_S}.client_address();
        ws text := left(coalesce(workstation, ''), 255);
        p {_S}.personnel%ROWTYPE;
        c {_S}.login_challenges%ROWTYPE;
        settings {_S}.security_settings%ROWTYPE;
        refusal jsonb;
        newer boolean;
        last_sent timestamp;
        dest text;
    BEGIN
        p := {_S}.lock_attempt(challenge);
        c := (SELECT x FROM {_S}.login_challenges x WHERE x.id = challenge AND x.person_id = p.id);
        IF c.id IS NULL THEN
            RETURN {_S}.invalid_challenge(NULL, address, ws, 'unknown attempt');
        END IF;
        IF now_ - c.created_at > make_interval(secs => {_L["max_challenge_age_s"]}) THEN
            RETURN {_S}.invalid_challenge(p.login, address, ws, 'too old to renew');
        END IF;
        refusal := {_S}.challenge_refusal(c, p, address, ws, now_, true);
        IF refusal IS NOT NULL THEN
            RETURN refusal;
        END IF;
        SELECT bool_or(o.created_at > c.created_at), max(o.last_sent_at)
          INTO newer, last_sent
          FROM (SELECT x.created_at, x.last_sent_at FROM {_S}.login_challenges x
                 WHERE x.person_id = p.id AND x.id <> c.id AND x.used_at IS NULL
                   FOR UPDATE) AS o;
        IF coalesce(newer, false) THEN
            UPDATE {_S}.login_challenges SET retired_at = now_ WHERE id = c.id;
            RETURN {_S}.invalid_challenge(p.login, address, ws, 'replaced');
        END IF;
        IF {_S}.locked_out(p, address, now_) THEN
            RETURN {_S}.refuse(p.login, address, ws, 'locked', 'bad_credentials');
        END IF;
        last_sent := greatest(last_sent, c.last_sent_at);
        IF last_sent IS NOT NULL
           AND now_ < last_sent + make_interval(secs => {_L["resend_interval_s"]}) THEN
            RETURN {_S}.refuse(p.login, address, ws, 'too_soon', 'too_soon', jsonb_build_object(
                'retry_after_s', greatest(1, ceil(extract(epoch FROM last_sent
                    + make_interval(secs => {_L["resend_interval_s"]}) - now_)))::integer,
                'retry_at', last_sent + make_interval(secs => {_L["resend_interval_s"]}),
                'attempts_left', {_L["max_code_attempts"]} - c.attempts));
        END IF;
        SELECT * INTO settings FROM {_S}.security_settings ORDER BY id LIMIT 1;
        dest := {_S}.destination(p, settings.delivery_method);
        IF dest IS NULL THEN
            RETURN {_S}.refuse(p.login, address, ws,
                'no_destination method=' || settings.delivery_method, 'no_destination',
                                jsonb_build_object('method', settings.delivery_method));
        END IF;
        PERFORM {_S}.retire_others(p.id, c.id, now_);
        c.expires_at := now_ + make_interval(mins => settings.code_ttl_minutes);
        c.last_sent_at := now_;
        c.code_hash := {_S}.queue_code(c.id, p, settings.delivery_method, dest,
                                       settings.code_ttl_minutes, address, ws, now_);
        UPDATE {_S}.login_challenges
           SET code_hash = c.code_hash, expires_at = c.expires_at, last_sent_at = now_
         WHERE id = c.id;
        RETURN {_S}.code_needed(c, dest, now_, NULL);
    END
    $$""",
    # How the newest code of a challenge fared with the relay, waiting up to wait_ms while it
    # is still queued or being sent; only from the challenge's own address and workstation.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.code_status(challenge text, workstation text, wait_ms integer)
    RETURNS jsonb
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        deadline timestamptz := clock_timestamp()
            + make_interval(secs => least(greatest(coalesce(wait_ms, 0), 0), 10000) / 1000.0);
        c {_S}.login_challenges%ROWTYPE;
        q record;
    BEGIN
        IF challenge IS NULL OR challenge !~ '{CHALLENGE_ID}' THEN
            RETURN jsonb_build_object('state', 'gone');
        END IF;
        LOOP
            SELECT * INTO c FROM {_S}.login_challenges x WHERE x.id = challenge;
            IF NOT FOUND OR c.address IS DISTINCT FROM {_S}.client_address()
               OR c.workstation <> left(coalesce(workstation, ''), 255) THEN
                RETURN jsonb_build_object('state', 'gone');
            END IF;
            SELECT x.state, x.error INTO q FROM {_S}.code_queue x
             WHERE x.challenge_id = challenge ORDER BY x.id DESC LIMIT 1;
            EXIT WHEN q.state IS NULL OR q.state NOT IN ('queued', 'sending')
                      OR clock_timestamp() >= deadline;
            PERFORM pg_sleep(0.05);
        END LOOP;
        RETURN jsonb_build_object(
            'state', coalesce(q.state, 'gone'), 'error', q.error,
            'resend_after_s', CASE WHEN c.last_sent_at IS NULL THEN 0 ELSE greatest(0,
                extract(epoch FROM c.last_sent_at + make_interval(
                    secs => {_L["resend_interval_s"]}) - {_S}.now()))::integer END,
            'resend_at', c.last_sent_at + make_interval(secs => {_L["resend_interval_s"]}),
            'relay_last_seen_s', {_S}.relay_last_seen_s());
    END
    $$""",
)

#: What the workstation role may call (signatures for GRANT EXECUTE).
WORKSTATION_FUNCTIONS = (
    "limits()",
    "sign_in(text, text, text, text, text, text, text)",
    "check_code(text, text, boolean, text, text, text)",
    "resend_code(text, text)",
    "code_status(text, text, integer)",
    "relay_status()",
)
