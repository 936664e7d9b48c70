"""Undo of a removal from the trusted-address list on a server-enforced PostgreSQL (issue 16 §2).

The workstation may neither read nor write ``trusted_ip_removals`` (a secret table: a snapshot
it could write would let it "restore" any address it likes). Instead:

- **remember_removed_trust** (AFTER DELETE on ``trusted_ips``, per statement): when the session
  removing rows asked for an undoable removal (``TrustedIpService.remove`` sets
  ``pmdesk.undoable_removal`` for its own transaction) and presents a session, each deleted row
  is kept as it was, with who removed it and when. The DELETE itself passed the guard
  (guards_sql: Security Delete, within one's own rights), so only rows one could remove are
  remembered. Rows older than the undo window are purged at the same time.
- **restore_trusted_ips(ids)**: ``TrustedIpService.restore`` on the server. System → Security
  Edit; only rows the caller's own person removed within the undo window; never for someone
  whose group has rights beyond the caller's. It puts back the same person, address,
  created_at and last_used_at (an undo never extends trust), skips a row whose person is gone
  or whose address that person has trusted again meanwhile, and writes one ``ip.restored``
  row per address put back. A raw-SQL caller can therefore restore nothing it did not just
  remove itself.
"""

from __future__ import annotations

from pmdesk.core.audit import Event
from pmdesk.core.server.queue_sql import PERSON_SUBJECT, PRESENTED_SESSION
from pmdesk.core.server.roles import SCHEMA
from pmdesk.core.trusted_ips import UNDO_WINDOW, UNDOABLE_SETTING

_S = SCHEMA
_WINDOW = f"make_interval(secs => {int(UNDO_WINDOW.total_seconds())})"

STATEMENTS: tuple[str, ...] = (
    f"""
    CREATE OR REPLACE FUNCTION {_S}.remember_removed_trust() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        me integer;
    BEGIN
        IF coalesce(current_setting('{UNDOABLE_SETTING}', true), '') <> 'on' THEN
            RETURN NULL;
        END IF;
        me := {_S}.current_person();
        IF me IS NULL THEN
            RETURN NULL;
        END IF;
        DELETE FROM {_S}.trusted_ip_removals r WHERE r.removed_at < {_S}.now() - {_WINDOW};
        INSERT INTO {_S}.trusted_ip_removals
               (trusted_ip_id, person_id, address, created_at, last_used_at, trusted_by,
                trusted_on, removed_by, removed_at)
        SELECT g.id, g.person_id, g.address, g.created_at, g.last_used_at, g.trusted_by,
               g.trusted_on, me, {_S}.now()
        FROM gone g ORDER BY g.id;
        RETURN NULL;
    END
    $$""",
    f"DROP TRIGGER IF EXISTS pmdesk_remember_removed ON {_S}.trusted_ips",
    f"CREATE TRIGGER pmdesk_remember_removed AFTER DELETE ON {_S}.trusted_ips "
    f"REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
    f"EXECUTE FUNCTION {_S}.remember_removed_trust()",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.restore_trusted_ips(wanted integer[]) RETURNS integer
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        me integer := {_S}.require_person();
        mine {_S}.user_sessions%ROWTYPE;
        who text;
        r record;
        p {_S}.personnel%ROWTYPE;
        new_id integer;
        restored integer := 0;
    BEGIN
        IF NOT {_S}.may('system.security', 'edit') THEN
            PERFORM {_S}.refuse_write('put back trusted addresses');
        END IF;
        IF EXISTS (
            SELECT 1 FROM {_S}.trusted_ip_removals x JOIN {_S}.personnel o ON o.id = x.person_id
            WHERE x.trusted_ip_id = ANY(wanted) AND x.removed_by = me
              AND x.removed_at >= {_S}.now() - {_WINDOW}
              AND o.id <> me AND NOT {_S}.within_own_rights(o.group_id)) THEN
            PERFORM {_S}.refuse_write('put back the trusted addresses of this person');
        END IF;
        SELECT * INTO mine FROM {_S}.user_sessions x WHERE {PRESENTED_SESSION};
        who := coalesce({_S}.actor_name((SELECT x.login FROM {_S}.personnel x WHERE x.id = me),
                                        mine.kind), 'unknown');
        FOR r IN
            SELECT * FROM {_S}.trusted_ip_removals x
             WHERE x.trusted_ip_id = ANY(wanted) AND x.removed_by = me
               AND x.removed_at >= {_S}.now() - {_WINDOW}
             ORDER BY x.id FOR UPDATE
        LOOP
            DELETE FROM {_S}.trusted_ip_removals x WHERE x.id = r.id;
            SELECT * INTO p FROM {_S}.personnel o WHERE o.id = r.person_id;
            CONTINUE WHEN NOT FOUND;
            new_id := CASE WHEN EXISTS (SELECT 1 FROM {_S}.trusted_ips t
                                        WHERE t.id = r.trusted_ip_id)
                      THEN nextval(pg_get_serial_sequence('{_S}.trusted_ips', 'id'))::integer
                      ELSE r.trusted_ip_id END;
            INSERT INTO {_S}.trusted_ips (id, person_id, address, created_at, last_used_at,
                                          trusted_by, trusted_on)
            VALUES (new_id, r.person_id, r.address, r.created_at, r.last_used_at, r.trusted_by,
                    r.trusted_on)
            ON CONFLICT ON CONSTRAINT uq_trusted_ips_person_address DO NOTHING;
            CONTINUE WHEN NOT FOUND;
            restored := restored + 1;
            PERFORM {_S}.audit_row(who, '{Event.IP_RESTORED}', {PERSON_SUBJECT},
                {_S}.client_address(), mine.workstation,
                'address ' || r.address || ', trusted since '
                || to_char(r.created_at, 'YYYY-MM-DD HH24:MI:SS') || ' UTC (#'
                || r.trusted_ip_id || ')');
        END LOOP;
        RETURN restored;
    END
    $$""",
)

SECRET_TABLES = ("trusted_ip_removals",)
WORKSTATION_FUNCTIONS = ("restore_trusted_ips(integer[])",)
