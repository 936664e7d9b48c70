"""Hardening level 3: the tables codes travel through, and helpers the definer functions share.

Codes are made on the server (``login_sql``) and leave it only through ``code_queue``, which
only the relay's functions read (``relay_sql``); the workstation role has no right on either
table (docs/server-enforced.md §3, §6). ``relay_heartbeat`` is where each running relay says
it is alive.

Every statement here is idempotent: ``server init`` runs them all each time.
"""

from __future__ import annotations

from pmdesk.core.server.roles import SCHEMA

_S = SCHEMA

#: SQL text: the audit subject of the personnel row ``p``, as ``audit.person_subject`` names
#: a person (login, else the name, else the id).
PERSON_SUBJECT = f"coalesce(nullif(p.login, ''), {_S}.full_name(p), 'person #' || p.id)"
#: SQL text: true for the ``user_sessions`` row ``x`` this connection presents.
PRESENTED_SESSION = f"x.token_hash = {_S}.token_hash(current_setting('pmdesk.session', true))"

#: The workstation a trust alert made at sign-in names (set by ``trust_address_internal``,
#: read by ``alerts_sql``'s trigger; else the session's). Its name is the client's word anyway.
ALERT_WORKSTATION = "pmdesk.alert_workstation"
#: What a queued message is: a security code, a test message, a trust alert.
QUEUE_KINDS = ("code", "test", "alert")
#: States of a queued message (§6.3: at most once, never back from ``sending``).
QUEUE_STATES = ("queued", "sending", "sent", "failed", "unknown", "dropped")

STATEMENTS: tuple[str, ...] = (
    # The server's clock, naive UTC like every timestamp column.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.now() RETURNS timestamp
    LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
        SELECT timezone('UTC', now())
    $$""",
    # One audit row, as pmdesk.core.audit.record writes it (lengths cut to the columns).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.audit_row(
        actor text, event text, subject text, address text, workstation text, detail text)
    RETURNS void
    LANGUAGE sql VOLATILE SET search_path = {_S}, pg_temp AS $$
        INSERT INTO {_S}.audit_events (occurred_at, actor, event, subject, address,
                                       workstation, detail)
        VALUES ({_S}.now(), left(coalesce(actor, ''), 255), event,
                left(coalesce(subject, ''), 255), left(coalesce(address, ''), 45),
                left(coalesce(workstation, ''), 255), coalesce(detail, ''))
    $$""",
    # Where a code went, masked as validation.mask_email / mask_phone write it.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.mask_destination(destination text) RETURNS text
    LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    DECLARE
        compact text;
    BEGIN
        IF destination IS NULL THEN
            RETURN NULL;
        ELSIF position('@' in destination) > 0 THEN
            RETURN left(destination, 1) || '***@'
                   || substring(destination from '@([^@]*)$');
        END IF;
        compact := regexp_replace(destination, '[[:space:]().-]', '', 'g');
        IF length(compact) > 6 THEN
            RETURN left(compact, 3) || '•••••' || right(compact, 2);
        END IF;
        RETURN '•••';
    END
    $$""",
    f"""
    CREATE TABLE IF NOT EXISTS {_S}.code_queue (
        id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        challenge_id   varchar(43),              -- NULL for a test message
        person_id      integer REFERENCES {_S}.personnel (id) ON DELETE CASCADE,
        subject        text NOT NULL,            -- the person's login, for the audit trail
        kind           text NOT NULL CONSTRAINT code_queue_kind_check
                       CHECK (kind IN ({", ".join(f"'{k}'" for k in QUEUE_KINDS)})),
        method         text NOT NULL,            -- the delivery method at queue time
        destination    text NOT NULL,            -- e-mail address or E.164 number
        person_name    text NOT NULL,
        code           char(6) CHECK (code ~ '^[0-9]{{6}}$'),  -- NULL once it left 'sending'
        valid_minutes  integer NOT NULL,
        requested_from text,
        workstation    text NOT NULL,
        state          text NOT NULL DEFAULT 'queued'
                       CHECK (state IN ({", ".join(f"'{s}'" for s in QUEUE_STATES)})),
        attempt        uuid,
        claimed_by     uuid,
        claimed_at     timestamp,
        finished_at    timestamp,
        error          text,
        created_at     timestamp NOT NULL,
        reference      bigint                    -- an alert's trusted address (its row id)
    )""",
    # A queue made before trust alerts (issue 16 §4): the kind and the reference they need.
    f"ALTER TABLE {_S}.code_queue ADD COLUMN IF NOT EXISTS reference bigint",
    f"""ALTER TABLE {_S}.code_queue DROP CONSTRAINT IF EXISTS code_queue_kind_check,
        ADD CONSTRAINT code_queue_kind_check
        CHECK (kind IN ({", ".join(f"'{k}'" for k in QUEUE_KINDS)}))""",
    f"""CREATE INDEX IF NOT EXISTS ix_code_queue_waiting ON {_S}.code_queue (id)
        WHERE state = 'queued'""",
    f"""CREATE INDEX IF NOT EXISTS ix_code_queue_challenge ON {_S}.code_queue (challenge_id, id)""",
    f"""CREATE INDEX IF NOT EXISTS ix_code_queue_sending ON {_S}.code_queue (claimed_at)
        WHERE state = 'sending'""",
    f"""
    CREATE TABLE IF NOT EXISTS {_S}.relay_heartbeat (
        instance     uuid PRIMARY KEY,
        host         text NOT NULL,
        pid          integer NOT NULL,
        version      text NOT NULL,
        started_at   timestamp NOT NULL,
        last_seen_at timestamp NOT NULL,
        method       text NOT NULL DEFAULT '',
        problem      text NOT NULL DEFAULT ''
    )""",
)

#: Tables no login role may touch directly (the relay reaches them through its functions).
SECRET_TABLES = ("login_challenges", "code_queue", "relay_heartbeat")
