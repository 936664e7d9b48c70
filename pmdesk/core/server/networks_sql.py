"""Office networks and the trust policy on a server-enforced PostgreSQL (issue 16 §1).

``trust_policy_refusal(address)`` is ``office_networks.policy_refusal`` in SQL, with the same
sentences: ``trust_refusal`` (login_sql) asks it last, so the sign-in's code step, the trusted
address guard and ``server_info`` refuse outside the policy as the client does. It is a
definer: before a sign-in, and for a person without System → Security Read, row-level security
hides the office networks, and the answer must not depend on who asks. It tells no more than
whether one address may be trusted.

Writing ``office_networks`` needs System → Security Edit (guards_sql); reading it, what
reading trusted addresses needs (reads_sql).
"""

from __future__ import annotations

from pmdesk.core.office_networks import NEVER_REFUSAL, NEW_DATABASE_POLICY, OUTSIDE_REFUSAL
from pmdesk.core.server.roles import SCHEMA

_S = SCHEMA


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


STATEMENTS: tuple[str, ...] = (
    # The office network holding ``address``, or NULL (office_networks.network_of).
    f"""
    CREATE OR REPLACE FUNCTION {_S}.office_network_of(address inet) RETURNS text
    LANGUAGE plpgsql STABLE SET search_path = {_S}, pg_temp AS $$
    DECLARE
        n record;
    BEGIN
        FOR n IN
            SELECT o.name, btrim(r) AS range_ FROM {_S}.office_networks o,
                   regexp_split_to_table(o.ranges, ',') AS r
            ORDER BY o.id
        LOOP
            BEGIN
                IF family(n.range_::cidr) = family(address) AND address <<= n.range_::cidr THEN
                    RETURN n.name;
                END IF;
            EXCEPTION WHEN others THEN
                CONTINUE;  -- a range saved by hand that is not valid is skipped
            END;
        END LOOP;
        RETURN NULL;
    END
    $$""",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.trust_policy_refusal(address inet) RETURNS text
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        chosen text := (SELECT s.trust_policy FROM {_S}.security_settings s
                        ORDER BY s.id LIMIT 1);
    BEGIN
        IF chosen = 'never' THEN
            RETURN {_quoted(NEVER_REFUSAL)};
        END IF;
        IF chosen IS DISTINCT FROM 'office-networks' THEN
            RETURN NULL;
        END IF;
        IF {_S}.office_network_of(address) IS NOT NULL THEN
            RETURN NULL;
        END IF;
        RETURN {_quoted(OUTSIDE_REFUSAL)};
    END
    $$""",
    # A new database trusts only inside office networks (office_networks.NEW_DATABASE_POLICY).
    # The client asks for it as it adds the first administrator, in that same transaction and
    # signed in as nobody, so it cannot write the setting itself: this does, while nobody can
    # sign in yet (``bootstrapping()``), and does nothing at any other time.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.start_new_database() RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    BEGIN
        IF {_S}.bootstrapping() THEN
            UPDATE {_S}.security_settings SET trust_policy = {_quoted(NEW_DATABASE_POLICY)}
             WHERE trust_policy IS DISTINCT FROM {_quoted(NEW_DATABASE_POLICY)};
        END IF;
    END
    $$""",
)

#: What the workstation role may call (trust_refusal, which it calls, asks the first; the
#: first run, the second).
WORKSTATION_FUNCTIONS = ("trust_policy_refusal(inet)", "start_new_database()")
#: Internal: EXECUTE for nobody (trust_policy_refusal and the trust alerts' trigger, both
#: definers, call it as the owner).
INTERNAL_FUNCTIONS = ("office_network_of(inet)",)
