"""The attack suite (docs/server-enforced.md §8.1), for what the server enforces today.

An insider holds the workstation's database login (copied from a keyring, or typed into psql on
the office network) and no person's password. Everything here is raw SQL over psycopg as that
role; pmdesk's own code only sets the database up (`server init`) and, as the owner, reads back
that nothing changed. Every attack must fail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pmdesk.core.server import objects
from tests.helpers.databases import (
    HardenedDatabase,
    hardened_or_skip,
)
from tests.helpers.pg import connect, sql
from tests.helpers.relay import new_challenge, person_for_relay

SECRET_TABLES = (
    "credentials",
    "server_secret",
    "login_challenges",
    "code_queue",
    "relay_heartbeat",
)
DENIED = (psycopg.errors.InsufficientPrivilege,)


@pytest.fixture(scope="module")
def hardened() -> Iterator[HardenedDatabase]:
    with hardened_or_skip() as made:
        yield made


@pytest.fixture
def anne(hardened: HardenedDatabase) -> Iterator[int]:
    with person_for_relay(hardened) as person:
        yield person


def as_workstation(hardened: HardenedDatabase, statement: str, *params: object) -> Any:
    return sql(hardened.workstation_url, statement, *params)


def attempt_from_here(hardened: HardenedDatabase, person: int) -> str:
    """A live login attempt whose code is 123456, bound (as sign_in binds one to the address
    the server saw) to where the attacker connects from, so that only the code stands in the
    way."""
    challenge = new_challenge(hardened, person)
    (address,) = as_workstation(hardened, "SELECT host(inet_client_addr())")[0]
    sql(
        hardened.owner_url,
        "UPDATE pmdesk.login_challenges SET address = %s, "
        "code_hash = pmdesk.code_hash(id, '123456') WHERE id = %s",
        address,
        challenge,
    )
    return challenge


def snapshot(hardened: HardenedDatabase) -> dict[str, list[tuple[Any, ...]]]:
    """Everything an attack could have changed, read as the owner."""
    return {
        table: sql(hardened.owner_url, f"SELECT * FROM pmdesk.{table} ORDER BY 1")
        for table in (*SECRET_TABLES, "personnel", "audit_events")
    }


def test_the_secret_tables_cannot_be_read_or_changed(hardened: HardenedDatabase, anne: int) -> None:
    new_challenge(hardened, anne)
    before = snapshot(hardened)
    assert before["credentials"] and before["login_challenges"], "something to steal"
    for table in SECRET_TABLES:
        key = {"credentials": "person_id", "code_queue": "state", "relay_heartbeat": "host"}.get(
            table, "id"
        )
        for statement in (
            f"SELECT * FROM pmdesk.{table}",
            f"SELECT count(*) FROM pmdesk.{table}",
            f"UPDATE pmdesk.{table} SET {key} = {key}",
            f"DELETE FROM pmdesk.{table}",
            f"TRUNCATE pmdesk.{table}",
            f"COPY pmdesk.{table} TO STDOUT",
        ):
            with pytest.raises(DENIED):
                as_workstation(hardened, statement)
    assert snapshot(hardened) == before


def test_no_role_can_be_borrowed_and_nothing_can_be_created(hardened: HardenedDatabase) -> None:
    prefix = hardened.prefix
    for statement in (
        f"SET ROLE {prefix}_owner",
        f"SET ROLE {prefix}_relay",
        "SET ROLE postgres",
        f"SET SESSION AUTHORIZATION {prefix}_owner",
        "CREATE TABLE pmdesk.shadow (id int)",
        "CREATE TABLE public.shadow (id int)",
        "CREATE TEMP TABLE shadow (id int)",
        "CREATE FUNCTION pmdesk.now() RETURNS timestamp LANGUAGE sql AS 'SELECT now()'",
        "SELECT pmdesk_crypto.gen_random_bytes(4)",
        "SELECT pg_read_file('postgresql.conf')",
        "SELECT pg_ls_logdir()",
        f"ALTER ROLE {prefix}_workstation BYPASSRLS",
        f"GRANT {prefix}_owner TO {prefix}_workstation",
    ):
        with pytest.raises((*DENIED, psycopg.errors.UndefinedFunction)):
            as_workstation(hardened, statement)


def test_the_relays_and_the_internal_functions_are_not_the_workstations(
    hardened: HardenedDatabase,
) -> None:
    callable_ = {
        str(name).removeprefix("pmdesk.").replace(", ", ",")
        for (name,) in as_workstation(
            hardened,
            "SELECT p.oid::regprocedure::text FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'pmdesk' "
            "AND has_function_privilege(current_user, p.oid, 'EXECUTE')",
        )
    }
    granted = {f.replace(", ", ",") for f in objects.WORKSTATION_FUNCTIONS}
    # Exactly the workstation's list: no relay function, no internal helper (check_password
    # would be a password oracle outside the lockout, relay_claim a way to read codes).
    assert callable_ == granted
    for relay_call in (
        "SELECT * FROM pmdesk.relay_claim(gen_random_uuid(), 50)",
        "SELECT pmdesk.relay_settings()",
        "SELECT pmdesk.expire(1000)",
    ):
        with pytest.raises(DENIED):
            as_workstation(hardened, relay_call)


def test_brute_forcing_a_code_voids_it_after_five_tries(
    hardened: HardenedDatabase, anne: int
) -> None:
    sql(hardened.owner_url, "UPDATE pmdesk.security_settings SET two_factor_enabled = true")
    challenge = attempt_from_here(hardened, anne)
    answers = [
        as_workstation(
            hardened,
            "SELECT pmdesk.check_code(%s, %s, true, 'ws-test', 'cli', 'x')",
            challenge,
            f"{n:06d}",
        )[0][0]
        for n in range(5)
    ]
    assert [a["reason"] for a in answers] == ["wrong_code"] * 4 + ["code_voided"]
    (right,) = as_workstation(
        hardened, "SELECT pmdesk.check_code(%s, '123456', true, 'ws-test', 'cli', 'x')", challenge
    )[0]
    assert right["outcome"] == "refused" and right["reason"] == "code_voided"
    assert sql(hardened.owner_url, "SELECT count(*) FROM pmdesk.trusted_ips") == [(0,)]
    assert sql(hardened.owner_url, "SELECT failed_logins FROM pmdesk.personnel") == [(5,)]


def test_another_workstation_cannot_read_a_code_attempt_from_pg_stat_activity(
    hardened: HardenedDatabase, anne: int
) -> None:
    challenge = attempt_from_here(hardened, anne)
    # A code waiting for a relay that is not running: code_status waits for it.
    sql(
        hardened.owner_url,
        "INSERT INTO pmdesk.code_queue (challenge_id, person_id, subject, kind, method, "
        "destination, person_name, code, valid_minutes, workstation, created_at) "
        "VALUES (%s, %s, 'anne', 'code', 'outbox', 'a@example.com', 'Anne', '123456', 10, "
        "'ws-test', pmdesk.now())",
        challenge,
        anne,
    )
    secret_part = challenge[:20]
    seen: list[str] = []

    def waiting_call() -> None:
        as_workstation(hardened, "SELECT pmdesk.code_status(%s, 'ws-test', 1500)", challenge)

    caller = threading.Thread(target=waiting_call)
    caller.start()
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any("code_status" in q for q in seen):
            seen = [
                str(q)
                for (q,) in as_workstation(
                    hardened,
                    "SELECT coalesce(query, '') FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid()",
                )
            ]
            time.sleep(0.02)
    finally:
        caller.join()
    watched = [q for q in seen if "code_status" in q]
    assert watched, "the other call was never seen running"
    assert all(secret_part not in q and "$1" in q for q in watched), watched


_TEXT = st.one_of(
    st.none(),
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=300,
    ),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
    st.just("x" * 100_000),
)


#: What a definer function may answer a hostile call with: a refusal in its answer, or one of
#: these (sign in first, permission, not found, conflict, last administrator, validation).
CLEAN_REFUSALS = {"28000", "PMD01", "PMD02", "PMD03", "PMD04", "PMD05"}


@settings(max_examples=30, deadline=None)
@given(
    a=_TEXT,
    b=_TEXT,
    c=_TEXT,
    d=_TEXT,
    flag=st.one_of(st.none(), st.booleans()),
    wait=st.one_of(st.none(), st.integers(min_value=-(2**31), max_value=2**31 - 1)),
)
def test_hostile_arguments_get_a_refusal_and_change_nothing(
    hardened: HardenedDatabase,
    a: str | None,
    b: str | None,
    c: str | None,
    d: str | None,
    flag: bool | None,
    wait: int | None,
) -> None:
    before = sql(hardened.owner_url, "SELECT count(*) FROM pmdesk.login_challenges")
    url = hardened.workstation_url
    with connect(url) as conn:
        for statement, args in (
            ("SELECT pmdesk.password_salt(%s)", (a,)),
            ("SELECT pmdesk.sign_in(%s, %s, %s, %s, %s, %s)", (a, b, c, d, b, a)),
            ("SELECT pmdesk.sign_in(%s, %s, %s, %s, 'cli', %s)", (a, b, c, d, a)),
            ("SELECT pmdesk.check_code(%s, %s, %s, %s, %s, %s)", (a, b, flag, d, c, a)),
            ("SELECT pmdesk.resend_code(%s, %s)", (a, b)),
            ("SELECT pmdesk.code_status(%s, %s, %s)", (a, b, min(wait or 0, 50))),
            ("SELECT pmdesk.resume(%s, %s)", (a, b)),
            ("SELECT pmdesk.list_sessions(%s)", (wait,)),
            ("SELECT pmdesk.end_sessions(%s)", (wait,)),
            ("SELECT pmdesk.limits()", ()),
        ):
            try:
                rows = conn.execute(statement, args or None).fetchall()  # type: ignore[arg-type]
            except psycopg.Error as exc:
                assert exc.sqlstate in CLEAN_REFUSALS, (statement, args, exc.sqlstate, exc)
                continue
            answer = rows[0][0]
            if isinstance(answer, dict) and "outcome" in answer:
                assert answer["outcome"] == "refused", (statement, args, answer)
    # Nobody exists: no attempt can have been made, nothing to count against anyone.
    assert sql(hardened.owner_url, "SELECT count(*) FROM pmdesk.login_challenges") == before
