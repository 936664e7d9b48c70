"""The attack suite, reads (docs/server-enforced.md §5.2, §8.1): what the issue's insider reads
with the workstation's database login, with no session or with a clerk's.

Raw SQL over psycopg as the workstation role, presenting the token a real sign-in gave as pmdesk
presents it. pmdesk's code only sets the stage, as the owner. Each refusal has its control: the
owner (and an administrator's session) sees the rows the attack did not, so no test passes on
an empty table.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import URL

from pmdesk.core.auth import LoginService
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.login_results import SignedIn
from pmdesk.core.server import reads_sql
from pmdesk.core.sessions import COMMAND_LINE
from pmdesk.secrets import MemoryStore
from tests.helpers.databases import HardenedDatabase, hardened_or_skip
from tests.helpers.login import add_user, cheap_passwords
from tests.helpers.pg import connect, sql
from tests.helpers.staff import add_group

PASSWORD = "a long enough secret"
_AUDIT_COLUMNS = "occurred_at, actor, event, subject, address, workstation, detail"


@pytest.fixture(scope="module")
def hardened() -> Iterator[HardenedDatabase]:
    with hardened_or_skip() as made:
        yield made


@pytest.fixture(scope="module")
def office(hardened: HardenedDatabase, tmp_path_factory: Any) -> Iterator[dict[str, Any]]:
    """An administrator, a clerk (Job only: no Maintenance, System, Security or Log right) and
    a desk worker (Maintenance Read), each signed in; a trusted address each, a log, a
    delivery outcome."""
    folder = tmp_path_factory.mktemp("reads")
    owner = Database(hardened.owner_url)
    ctx = CoreContext(db=owner, secrets=MemoryStore(), outbox_default=folder)
    groups = {
        "clerk": add_group(owner, "Clerks", {"job": "re"}),
        "desk": add_group(owner, "Desk", {"maintenance": "r"}),
    }
    ids = {login: add_user(ctx, login, PASSWORD) for login in ("admin", "clerk", "desk")}
    owner.dispose()
    for login, group in groups.items():
        sql(
            hardened.owner_url,
            "UPDATE pmdesk.personnel SET group_id = %s WHERE id = %s",
            group,
            ids[login],
        )
    for n, person in enumerate(ids.values(), start=1):
        sql(
            hardened.owner_url,
            "INSERT INTO pmdesk.trusted_ips (person_id, address, created_at) "
            "VALUES (%s, %s, now())",
            person,
            f"10.0.0.{n}",
        )
    sql(
        hardened.owner_url,
        "INSERT INTO pmdesk.delivery_outcomes (method, last_at, ok, step, message, "
        "failures_in_row) VALUES ('smtp', now(), false, 'connect', 'refused', 3)",
    )
    workstation = Database(hardened.workstation_url)
    service = LoginService(
        CoreContext(db=workstation, secrets=MemoryStore(), outbox_default=folder),
        passwords=cheap_passwords(),
        workstation="ws-attack",
        session_kind=COMMAND_LINE,
    )
    tokens = {}
    for login in ids:
        signed = service.begin(login, PASSWORD)
        assert isinstance(signed, SignedIn) and signed.session_token, signed
        tokens[login] = signed.session_token
    workstation.dispose()
    sql(hardened.owner_url, "ANALYZE")  # statistics exist, for pg_stats to hide
    yield {"ids": ids, "tokens": tokens}
    for table in ("trusted_ips", "user_sessions", "audit_events", "delivery_outcomes"):
        sql(hardened.owner_url, f"DELETE FROM pmdesk.{table}")
    sql(hardened.owner_url, "DELETE FROM pmdesk.personnel")
    sql(hardened.owner_url, "DELETE FROM pmdesk.user_groups WHERE id <> 1")


def read(url: URL, token: str | None, statement: str, *params: object) -> list[tuple[Any, ...]]:
    """One query as the workstation, presenting ``token`` as pmdesk does."""
    with connect(url) as conn:
        if token is not None:
            conn.execute("SELECT set_config('pmdesk.session', %s, false)", (token,))
        cur = conn.execute(statement, params or None)  # type: ignore[arg-type]
        return list(cur.fetchall()) if cur.description else []


def rows_seen(url: URL, token: str | None, table: str) -> int | None:
    """How many rows of ``table`` a SELECT shows; None when it is refused outright."""
    try:
        return int(read(url, token, f"SELECT count(*) FROM pmdesk.{table}")[0][0])
    except psycopg.errors.InsufficientPrivilege:
        return None


def existing(hardened: HardenedDatabase, tables: tuple[str, ...]) -> list[str]:
    """Those of ``tables`` this schema has (a later migration's may not be there yet)."""
    found = sql(
        hardened.owner_url,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'pmdesk' AND tablename = ANY(%s)",
        list(tables),
    )
    assert len(found) >= len(tables) - 2, found  # not vacuous (a table or two may be newer)
    return sorted(str(name) for (name,) in found)


def owner_count(hardened: HardenedDatabase, table: str) -> int:
    return int(sql(hardened.owner_url, f"SELECT count(*) FROM pmdesk.{table}")[0][0])


def test_without_a_session_no_table_shows_a_row(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    url = hardened.workstation_url
    for token in (None, "A" * 43):  # no session, and a guessed one
        for table in existing(hardened, tuple(reads_sql.EXPECTED)):  # secret ones too
            assert rows_seen(url, token, table) in (0, None), (token, table)
            with connect(url) as conn:  # nor through COPY
                copied = b""
                try:
                    with conn.cursor().copy(f"COPY pmdesk.{table} TO STDOUT") as copy:
                        copied = b"".join(bytes(block) for block in copy)
                except psycopg.errors.InsufficientPrivilege:
                    pass
                assert copied == b"", table
    # The control: the rows are there.
    for table in ("personnel", "trusted_ips", "audit_events", "delivery_outcomes", "modules"):
        assert owner_count(hardened, table) > 0, table
    # And with a session the same login sees them: it is the session that opens them.
    admin = office["tokens"]["admin"]
    assert rows_seen(url, admin, "personnel") == owner_count(hardened, "personnel")


def test_a_clerk_reads_only_their_own_row_and_addresses_and_no_log(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    url, clerk, ids = hardened.workstation_url, office["tokens"]["clerk"], office["ids"]
    people = read(url, clerk, "SELECT id, login FROM pmdesk.personnel")
    assert people == [(ids["clerk"], "clerk")]
    trusted = read(url, clerk, "SELECT person_id FROM pmdesk.trusted_ips")
    assert trusted == [(ids["clerk"],)]
    assert rows_seen(url, clerk, "audit_events") == 0
    assert rows_seen(url, clerk, "delivery_outcomes") == 0
    # Asking by id changes nothing: the administrator's row is not there for the clerk.
    assert read(url, clerk, "SELECT * FROM pmdesk.personnel WHERE id = %s", ids["admin"]) == []
    for table in existing(hardened, reads_sql.SIGNED_IN_TABLES):
        assert rows_seen(url, clerk, table) == owner_count(hardened, table), table
    # The controls: the administrator sees every person, address, log row and outcome.
    admin = office["tokens"]["admin"]
    for table in ("personnel", "trusted_ips", "audit_events", "delivery_outcomes"):
        seen = rows_seen(url, admin, table)
        assert seen == owner_count(hardened, table) and seen, table


def test_maintenance_read_shows_people_and_addresses_but_not_the_log(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    url, desk = hardened.workstation_url, office["tokens"]["desk"]
    assert rows_seen(url, desk, "personnel") == owner_count(hardened, "personnel") == 3
    assert rows_seen(url, desk, "trusted_ips") == owner_count(hardened, "trusted_ips") == 3
    assert rows_seen(url, desk, "audit_events") == 0 < owner_count(hardened, "audit_events")


def test_what_a_clerk_cannot_see_they_cannot_change_either(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    url, clerk, admin = hardened.workstation_url, office["tokens"]["clerk"], office["ids"]["admin"]
    before = {
        table: sql(hardened.owner_url, f"SELECT * FROM pmdesk.{table} ORDER BY 1")
        for table in ("personnel", "trusted_ips", "audit_events")
    }
    with connect(url) as conn:
        conn.execute("SELECT set_config('pmdesk.session', %s, false)", (clerk,))
        for statement in (
            "UPDATE pmdesk.personnel SET first_name = 'x' WHERE id = %s",
            "DELETE FROM pmdesk.trusted_ips WHERE person_id = %s",
        ):
            assert conn.execute(statement, (admin,)).rowcount == 0, statement
        with pytest.raises(psycopg.errors.InsufficientPrivilege):  # no grant at all
            conn.execute("DELETE FROM pmdesk.audit_events WHERE id > 0")
    after = {
        table: sql(hardened.owner_url, f"SELECT * FROM pmdesk.{table} ORDER BY 1")
        for table in before
    }
    assert after == before


def test_a_clerk_sees_the_log_rows_they_write_and_no_other(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    """Every change a clerk makes is logged by an INSERT … RETURNING (the ORM's): the rows
    being written must pass the read policy, and nothing else of the log may."""
    url, clerk = hardened.workstation_url, office["tokens"]["clerk"]
    values = "(now(), 'clerk', 'test.event', '', '', 'ws', %s)"
    with connect(url) as conn:
        conn.execute("SELECT set_config('pmdesk.session', %s, false)", (clerk,))
        written = conn.execute(
            f"INSERT INTO pmdesk.audit_events ({_AUDIT_COLUMNS}) VALUES {values}, {values} "
            "RETURNING id, detail",
            ("one", "two"),
        ).fetchall()
        assert [detail for _id, detail in written] == ["one", "two"]
        # Afterwards: the last row this connection wrote, never anyone else's.
        seen = conn.execute("SELECT id, detail FROM pmdesk.audit_events").fetchall()
        assert seen == [written[-1]]
    with connect(url) as conn:  # a new connection has written nothing
        conn.execute("SELECT set_config('pmdesk.session', %s, false)", (clerk,))
        assert conn.execute("SELECT count(*) FROM pmdesk.audit_events").fetchone() == (0,)
    # The sequence cannot be pointed at someone else's row: no setval for the workstation.
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        read(url, clerk, "SELECT setval(pg_get_serial_sequence('pmdesk.audit_events', 'id'), 1)")
    assert owner_count(hardened, "audit_events") > 2


def test_pg_stats_shows_nothing_of_a_protected_table(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    query = (
        "SELECT count(*) FROM pg_stats WHERE schemaname = 'pmdesk' "
        "AND tablename IN ('personnel', 'trusted_ips', 'audit_events')"
    )
    assert sql(hardened.owner_url, query)[0][0] > 0  # the control: statistics exist
    for token in (None, office["tokens"]["clerk"], office["tokens"]["admin"]):
        assert read(hardened.workstation_url, token, query) == [(0,)]


def test_before_a_sign_in_the_workstation_learns_nothing_about_a_person(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    (answer,) = read(hardened.workstation_url, None, "SELECT pmdesk.server_info()")[0]
    assert set(answer) == {
        "hardening",
        "schema",
        "has_users",
        "anyone_can_sign_in",
        "two_factor",
        "delivery_trouble",
        "relay_host",
        "relay_last_seen_s",
        "trust_refusal",
    }
    assert answer["has_users"] is True and answer["anyone_can_sign_in"] is True
    for value in answer.values():  # no login, name or id slips through
        assert not any(login in str(value) for login in office["ids"])


def test_office_networks_are_read_signed_in_and_changed_with_security_edit(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    """The networks whose addresses may be trusted: an insider who could add one could make
    their own address trustable. No session or a clerk's: refused; the administrator: the
    control."""
    url, tokens = hardened.workstation_url, office["tokens"]
    add = (
        "INSERT INTO pmdesk.office_networks (name, name_key, ranges, created_at) "
        "VALUES (%s, %s, '10.66.0.0/16', now())"
    )
    for token in (None, tokens["clerk"], tokens["desk"]):
        with pytest.raises(psycopg.Error) as caught:
            read(url, token, add, "Moles", "moles")
        assert caught.value.sqlstate in {"28000", "PMD01", "42501"}, token
    assert owner_count(hardened, "office_networks") == 0
    read(url, tokens["admin"], add, "Head office", "head office")
    assert rows_seen(url, None, "office_networks") == 0
    assert rows_seen(url, tokens["clerk"], "office_networks") == 1  # signed in: may read
    with connect(url) as conn:  # the clerk cannot remove it either
        conn.execute("SELECT set_config('pmdesk.session', %s, false)", (tokens["clerk"],))
        with pytest.raises(psycopg.Error):
            conn.execute("DELETE FROM pmdesk.office_networks")
    assert owner_count(hardened, "office_networks") == 1
    sql(hardened.owner_url, "DELETE FROM pmdesk.office_networks")
