"""Trust alerts on a server-enforced PostgreSQL (issue 16 §4; docs/server-enforced.md §6.8).

An AFTER trigger on ``trusted_ips`` queues the alert whenever a trust period starts (a new row,
or a row trusted again after its period ended) for an address outside every office network:
one ``code_queue`` row of kind ``alert`` for the person's e-mail address and one for the
helpdesk mailbox (``security_settings.helpdesk_mailbox``), in the transaction that trusts the
address, whoever wrote it (``check_code`` at sign-in, an administrator's ``ip trust``, a row
written by hand). The relay sends them like codes, at most once, and audits ``alert.sent`` /
``alert.failed`` (``relay_finish``). The workstation role has no right on ``code_queue`` and
cannot disable a trigger it does not own: it cannot suppress or change an alert.

Every statement is idempotent: ``server init`` runs them all each time, after ``queue_sql``,
``login_sql`` and ``networks_sql``.
"""

from __future__ import annotations

from pmdesk.core.delivery.base import ALERT_NOBODY
from pmdesk.core.server.queue_sql import ALERT_WORKSTATION, PRESENTED_SESSION
from pmdesk.core.server.roles import SCHEMA

_S = SCHEMA

#: How long a queued alert waits for a relay before it is dropped unsent (a week).
ALERT_MINUTES = 7 * 24 * 60
#: A bare address, or ``Name <address>`` (the client's ``clean_helpdesk_mailbox`` is stricter).
_ADDRESS = "[^@<>,[:space:]]+@[^@<>,[:space:]]+"
MAILBOX_PATTERN = f"^({_ADDRESS}|[^<>@]*<{_ADDRESS}>)$"


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


STATEMENTS: tuple[str, ...] = (
    # Queue the alert for a trust period that starts now, outside every office network.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.queue_trust_alert() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        p {_S}.personnel%ROWTYPE;
        settings {_S}.security_settings%ROWTYPE;
        ws text;
        login text;
        own text;
        mailbox text;
        helpdesk text;
        helpdesk_name text := '';
        queued integer := 0;
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.created_at IS NOT DISTINCT FROM OLD.created_at THEN
            RETURN NULL;  -- the same trust period: used again, nothing new to say
        END IF;
        IF {_S}.office_network_of(NEW.address::inet) IS NOT NULL THEN
            RETURN NULL;  -- inside an office network: no alert
        END IF;
        SELECT * INTO p FROM {_S}.personnel x WHERE x.id = NEW.person_id;
        SELECT * INTO settings FROM {_S}.security_settings x
         ORDER BY (x.id = 1) DESC, x.id LIMIT 1;
        login := coalesce(nullif(p.login, ''), {_S}.full_name(p), 'person #' || NEW.person_id);
        ws := left(coalesce(nullif(current_setting('{ALERT_WORKSTATION}', true), ''),
                            (SELECT x.workstation FROM {_S}.user_sessions x
                             WHERE {PRESENTED_SESSION}), ''), 255);
        own := CASE WHEN btrim(p.email) ~ '^[^@[:space:]]+@[^@[:space:]]+$'
                    THEN btrim(p.email) END;
        mailbox := btrim(coalesce(settings.helpdesk_mailbox, ''));
        IF mailbox ~ '<[^<>]+>$' THEN
            helpdesk := substring(mailbox from '<([^<>]+)>$');
            helpdesk_name := btrim(btrim(substring(mailbox from '^([^<]*)<')), '"');
        ELSIF mailbox <> '' THEN
            helpdesk := mailbox;
        END IF;
        IF helpdesk IS NOT NULL AND lower(helpdesk) = lower(own) THEN
            helpdesk := NULL;  -- the same mailbox once
        END IF;
        INSERT INTO {_S}.code_queue (challenge_id, person_id, subject, kind, method,
            destination, person_name, code, valid_minutes, requested_from, workstation,
            created_at, reference)
        SELECT NULL, NEW.person_id, login, 'alert', coalesce(settings.delivery_method, 'outbox'),
               d.destination, d.name, NULL, {ALERT_MINUTES}, NEW.address, ws, NEW.created_at,
               NEW.id
        FROM (VALUES (1, own, {_S}.display_name(p)), (2, helpdesk, helpdesk_name))
             AS d(n, destination, name)
        WHERE d.destination IS NOT NULL
        ORDER BY d.n;
        GET DIAGNOSTICS queued = ROW_COUNT;
        IF queued = 0 THEN
            PERFORM {_S}.audit_row(login, 'alert.failed', login, NEW.address, ws,
                                   '(reference #' || NEW.id || '): ' || {_quoted(ALERT_NOBODY)});
        ELSE
            PERFORM pg_notify('pmdesk_codes', '');
        END IF;
        RETURN NULL;
    END
    $$""",
    f"DROP TRIGGER IF EXISTS pmdesk_trust_alert ON {_S}.trusted_ips",
    f"CREATE TRIGGER pmdesk_trust_alert AFTER INSERT OR UPDATE OF created_at "
    f"ON {_S}.trusted_ips FOR EACH ROW EXECUTE FUNCTION {_S}.queue_trust_alert()",
)

#: Internal: EXECUTE for nobody (the trigger runs as the owner).
INTERNAL_FUNCTIONS = ("queue_trust_alert()",)
