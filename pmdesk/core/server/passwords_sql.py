"""Hardening level 2: passwords verified by the server (docs/server-enforced.md §2).

The client still hashes with argon2id (memory-hard, as before), but the server keeps only a
bcrypt of the raw argon2 output (the "proof") in ``pmdesk.credentials``, which no login role may
read; ``personnel.password_hash`` holds the marker ``server``. A trigger takes any argon2id PHC
string written to ``password_hash`` (by this client, an older one during the rollout, or a
script) and turns it into a credential in the same statement, so a readable hash never stays.

Signing in: ``password_salt(login_key)`` serves the salt and parameters (a made-up but stable
salt for an unknown login), the client computes the proof, and ``check_password`` compares it
inside the sign-in transaction, costing the same for unknown, wrong and right.

Every statement here is idempotent: ``server init`` runs them all each time.
"""

from __future__ import annotations

from pmdesk.core.server.roles import CRYPTO_SCHEMA, SCHEMA

# bcrypt only stops a stolen credentials table from being a list of pass-the-hash proofs: the
# proof already costs an argon2id per guess. Cost 8 is ~24 ms on a small server.
BCRYPT_COST = 8
DEFAULT_PARAMS = "m=65536,t=3,p=4"  # argon2-cffi's defaults, served for unknown logins
MARKER = "server"

_C = CRYPTO_SCHEMA
_S = SCHEMA

STATEMENTS: tuple[str, ...] = (
    f"""
    CREATE TABLE IF NOT EXISTS {_S}.server_secret (
        id             integer PRIMARY KEY CHECK (id = 1),
        salt_key       bytea NOT NULL CHECK (octet_length(salt_key) = 32),
        dummy_verifier text  NOT NULL
    )""",
    f"""
    INSERT INTO {_S}.server_secret (id, salt_key, dummy_verifier)
    VALUES (1, {_C}.gen_random_bytes(32),
            {_C}.crypt(encode({_C}.gen_random_bytes(32), 'base64'),
                       {_C}.gen_salt('bf', {BCRYPT_COST})))
    ON CONFLICT (id) DO NOTHING""",
    f"""
    CREATE TABLE IF NOT EXISTS {_S}.credentials (
        person_id  integer PRIMARY KEY
                   REFERENCES {_S}.personnel (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
        salt       bytea   NOT NULL CHECK (octet_length(salt) BETWEEN 8 AND 64),
        params     text    NOT NULL
                   CHECK (params ~ '^m=[0-9]{{1,7}},t=[0-9]{{1,2}},p=[0-9]{{1,2}}$'),
        verifier   text    NOT NULL,
        changed_at timestamp NOT NULL DEFAULT timezone('UTC', now())
    )""",
    # Unpadded base64, as in PHC strings, both ways.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.b64_decode(value text) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
        SELECT decode(rpad(value, (length(value) + 3) / 4 * 4, '='), 'base64')
    $$""",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.b64_encode(value bytea) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT SET search_path = pg_catalog, pg_temp AS $$
        SELECT rtrim(replace(encode(value, 'base64'), E'\\n', ''), '=')
    $$""",
    # BEFORE INSERT OR UPDATE OF password_hash: a PHC string becomes a credential.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.take_password_hash() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        parts text[];
        m integer; t integer; p integer;
    BEGIN
        IF NEW.password_hash IS NULL THEN
            DELETE FROM {_S}.credentials WHERE person_id = NEW.id;
            RETURN NEW;
        END IF;
        IF NEW.password_hash = '{MARKER}' THEN
            -- Only the server writes the marker; without a credential it means no password.
            IF NOT EXISTS (SELECT 1 FROM {_S}.credentials WHERE person_id = NEW.id) THEN
                NEW.password_hash := NULL;
            END IF;
            RETURN NEW;
        END IF;
        parts := string_to_array(NEW.password_hash, '$');
        IF array_length(parts, 1) <> 6 OR parts[2] <> 'argon2id' OR parts[3] <> 'v=19'
           OR parts[4] !~ '^m=[0-9]{{1,7}},t=[0-9]{{1,2}},p=[0-9]{{1,2}}$'
           OR parts[5] !~ '^[A-Za-z0-9+/]{{11,86}}$' OR parts[6] !~ '^[A-Za-z0-9+/]{{43}}$' THEN
            RAISE EXCEPTION 'A password can only be stored as an argon2id hash.'
                USING ERRCODE = 'PMD05', DETAIL = 'password';
        END IF;
        m := substring(parts[4] from 'm=([0-9]+)')::integer;
        t := substring(parts[4] from 't=([0-9]+)')::integer;
        p := substring(parts[4] from 'p=([0-9]+)')::integer;
        -- Bounds: a hostile client must not make a victim's next sign-in need 4 GiB.
        IF m < 8 * p OR m > 1048576 OR t < 1 OR t > 10 OR p < 1 OR p > 8 THEN
            RAISE EXCEPTION 'The password hash parameters are out of bounds.'
                USING ERRCODE = 'PMD05', DETAIL = 'password';
        END IF;
        INSERT INTO {_S}.credentials AS c (person_id, salt, params, verifier, changed_at)
        VALUES (NEW.id, {_S}.b64_decode(parts[5]), parts[4],
                {_C}.crypt(parts[6], {_C}.gen_salt('bf', {BCRYPT_COST})),
                timezone('UTC', now()))
        ON CONFLICT (person_id) DO UPDATE
            SET salt = EXCLUDED.salt, params = EXCLUDED.params,
                verifier = EXCLUDED.verifier, changed_at = EXCLUDED.changed_at;
        NEW.password_hash := '{MARKER}';
        RETURN NEW;
    END
    $$""",
    f"DROP TRIGGER IF EXISTS pmdesk_take_password_hash ON {_S}.personnel",
    f"""
    CREATE TRIGGER pmdesk_take_password_hash
    BEFORE INSERT OR UPDATE OF password_hash ON {_S}.personnel
    FOR EACH ROW EXECUTE FUNCTION {_S}.take_password_hash()""",
    # Salt and argon2 parameters for a login key; unknown logins get a salt made from the key
    # with a server secret: stable, and not to be told from a real one without that secret.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.password_salt(key text)
    RETURNS TABLE (salt text, params text)
    LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        secret bytea := (SELECT s.salt_key FROM {_S}.server_secret s WHERE s.id = 1);
        made bytea := substring({_C}.hmac(convert_to(coalesce(left(key, 256), ''), 'UTF8'),
                                           secret, 'sha256') for 16);
        usual text := coalesce((SELECT c.params FROM {_S}.credentials c
                                ORDER BY c.changed_at DESC LIMIT 1), '{DEFAULT_PARAMS}');
        found record;
    BEGIN
        SELECT c.salt, c.params INTO found
        FROM {_S}.personnel p JOIN {_S}.credentials c ON c.person_id = p.id
        WHERE key IS NOT NULL AND length(key) <= 256 AND p.login_key = key
          AND p.password_hash = '{MARKER}';
        IF found IS NULL THEN
            RETURN QUERY SELECT {_S}.b64_encode(made), usual;
        ELSE
            RETURN QUERY SELECT {_S}.b64_encode(found.salt), found.params;
        END IF;
    END
    $$""",
    # Which proof matched: 'normal' (of the NFKC password), 'typed' (of the password as typed,
    # for a hash made before normalisation), or NULL. Always one bcrypt per proof given,
    # against the dummy verifier when there is no such person.
    f"""
    CREATE OR REPLACE FUNCTION {_S}.check_password(person integer, proof text, alt_proof text)
    RETURNS text
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = {_S}, pg_temp AS $$
    DECLARE
        stored text := (SELECT c.verifier FROM {_S}.credentials c WHERE c.person_id = person);
        target text := coalesce(stored,
                                (SELECT s.dummy_verifier FROM {_S}.server_secret s WHERE s.id = 1));
        normal_ok boolean;
        typed_ok boolean := false;
    BEGIN
        normal_ok := {_S}.proof_matches(proof, target);
        IF alt_proof IS NOT NULL THEN
            typed_ok := {_S}.proof_matches(alt_proof, target);
        END IF;
        IF stored IS NULL THEN
            RETURN NULL;
        ELSIF normal_ok THEN
            RETURN 'normal';
        ELSIF typed_ok THEN
            RETURN 'typed';
        END IF;
        RETURN NULL;
    END
    $$""",
    f"""
    CREATE OR REPLACE FUNCTION {_S}.proof_matches(proof text, target text) RETURNS boolean
    LANGUAGE sql VOLATILE SET search_path = {_S}, pg_temp AS $$
        -- A malformed proof costs the same bcrypt as a wrong one.
        SELECT {_C}.crypt(CASE WHEN proof ~ '^[A-Za-z0-9+/]{{43}}$' THEN proof ELSE '-' END,
                          target) = target
               AND proof ~ '^[A-Za-z0-9+/]{{43}}$'
    $$""",
)

_WELL_FORMED = (
    "'^[$]argon2id[$]v=19[$]m=[0-9]{1,7},t=[0-9]{1,2},p=[0-9]{1,2}[$]"
    "[A-Za-z0-9+/]{11,86}[$][A-Za-z0-9+/]{43}$'"
)
#: Once, when converting (the trigger exists): every readable hash becomes a credential.
CONVERT_EXISTING = f"""
UPDATE {_S}.personnel SET password_hash = password_hash
WHERE password_hash <> '{MARKER}' AND password_hash ~ {_WELL_FORMED}"""

#: Before converting: people whose password_hash is something else; they lose it (they were
#: never able to sign in with it) and are listed, so that someone sets them a password.
UNCONVERTIBLE = f"""
SELECT coalesce(login, '#' || id::text) FROM {_S}.personnel
WHERE password_hash <> '{MARKER}' AND password_hash !~ {_WELL_FORMED} ORDER BY 1"""
DROP_UNCONVERTIBLE = f"""
UPDATE {_S}.personnel SET password_hash = NULL
WHERE password_hash <> '{MARKER}' AND password_hash !~ {_WELL_FORMED}"""

#: Tables no login role may touch, and the functions the workstation may call.
SECRET_TABLES = ("credentials", "server_secret")
WORKSTATION_FUNCTIONS = ("password_salt(text)", "check_password(integer, text, text)")
