"""The attack suite, the rules of level 6 (docs/server-enforced.md §9, 4c): what an
administrator's own session could still do with raw SQL after every write was checked for
rights: leave nobody able to administer, set a password that keeps the old one's trusted
addresses and sessions, replay a token to fill the log.

Raw SQL over psycopg as the workstation role, presenting a real session's token as pmdesk
does. pmdesk's code only sets the stage, as the owner; the owner reads back what changed.
Each refusal has its control: the same statement works once it no longer breaks the rule.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pmdesk.core.auth import LoginService
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.login_results import SignedIn
from pmdesk.core.permissions import ADMINISTERED, last_administrator_message
from pmdesk.core.sessions import COMMAND_LINE, DESKTOP
from pmdesk.secrets import MemoryStore
from tests.helpers.databases import HardenedDatabase, hardened_or_skip
from tests.helpers.login import add_user, cheap_passwords
from tests.helpers.pg import connect, sql
from tests.helpers.staff import FAKE_HASH, add_group

PASSWORD = "a long enough secret"
LAST_ADMINISTRATOR = "PMD04"
EVERYTHING_LOST = last_administrator_message(label for _, label in ADMINISTERED)


@pytest.fixture(scope="module")
def hardened() -> Iterator[HardenedDatabase]:
    with hardened_or_skip() as made:
        yield made


@pytest.fixture
def office(hardened: HardenedDatabase, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """One administrator (boss) and a clerk (anne, Maintenance Read/Edit), each signed in on
    the command line; a group for people with no rights at all."""
    owner = Database(hardened.owner_url)
    ctx = CoreContext(db=owner, secrets=MemoryStore(), outbox_default=tmp_path)
    clerks = add_group(owner, "Clerks", {"maintenance": "re"})
    nobodies = add_group(owner, "Nobodies")
    ids = {"boss": add_user(ctx, "boss", PASSWORD), "anne": add_user(ctx, "anne", PASSWORD)}
    owner_sql(hardened, "UPDATE pmdesk.personnel SET group_id = %s WHERE login = 'anne'", clerks)
    owner.dispose()
    tokens = {login: sign_in(hardened, tmp_path, login).session_token for login in ids}
    yield {"ids": ids, "tokens": tokens, "clerks": clerks, "nobodies": nobodies}
    for table in ("trusted_ips", "user_sessions", "audit_events", "personnel"):
        owner_sql(hardened, f"DELETE FROM pmdesk.{table}")
    owner_sql(hardened, "DELETE FROM pmdesk.user_groups WHERE id <> 1")


def owner_sql(hardened: HardenedDatabase, statement: str, *params: object) -> list[Any]:
    return sql(hardened.owner_url, statement, *params)


def sign_in(
    hardened: HardenedDatabase, tmp_path: Path, login: str, kind: str = COMMAND_LINE
) -> SignedIn:
    workstation = Database(hardened.workstation_url)
    try:
        signed = LoginService(
            CoreContext(db=workstation, secrets=MemoryStore(), outbox_default=tmp_path),
            passwords=cheap_passwords(),
            workstation="ws-attack",
            session_kind=kind,
        ).begin(login, PASSWORD)
    finally:
        workstation.dispose()
    assert isinstance(signed, SignedIn) and signed.session_token, signed
    return signed


def attempt(hardened: HardenedDatabase, token: str | None, *statements: str) -> list[int]:
    """``statements`` in one transaction as the workstation presenting ``token``; the rows
    each changed (a deferred refusal comes at the commit)."""
    with connect(hardened.workstation_url) as conn:
        if token is not None:
            conn.execute("SELECT set_config('pmdesk.session', %s, false)", (token,))
        with conn.transaction():
            return [conn.execute(statement).rowcount for statement in statements]


def refusal(hardened: HardenedDatabase, token: str | None, *statements: str) -> psycopg.Error:
    try:
        attempt(hardened, token, *statements)
    except psycopg.Error as exc:
        return exc
    raise AssertionError(f"accepted: {statements}")


def administration(hardened: HardenedDatabase) -> dict[str, Any]:
    return {
        "people": owner_sql(
            hardened,
            "SELECT id, login, login_key, group_id, password_hash FROM pmdesk.personnel "
            "ORDER BY id",
        ),
        "credentials": owner_sql(hardened, "SELECT person_id FROM pmdesk.credentials"),
        "rights": owner_sql(hardened, "SELECT * FROM pmdesk.group_permissions ORDER BY 1, 2"),
        "log": owner_sql(hardened, "SELECT id, event FROM pmdesk.audit_events"),
    }


def takings(office: dict[str, Any]) -> list[tuple[str, ...]]:
    """Ways the last administrator's own session could leave nobody administering."""
    boss = office["ids"]["boss"]
    return [
        (f"UPDATE pmdesk.personnel SET group_id = {office['nobodies']} WHERE id = {boss}",),
        (f"UPDATE pmdesk.personnel SET login = NULL, login_key = NULL WHERE id = {boss}",),
        (f"UPDATE pmdesk.personnel SET password_hash = NULL WHERE id = {boss}",),
        (
            "UPDATE pmdesk.group_permissions SET can_edit = false "
            "WHERE group_id = 1 AND module_key = 'system.security'",
        ),
        (
            "UPDATE pmdesk.group_permissions SET can_read = false "
            "WHERE group_id = 1 AND module_key = 'system'",
        ),
        (
            "DELETE FROM pmdesk.group_permissions "
            "WHERE group_id = 1 AND module_key = 'system.security'",
        ),
    ]


def test_the_last_administrator_cannot_leave_nobody_administering(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    before = administration(hardened)
    boss = office["tokens"]["boss"]
    for statements in takings(office):
        exc = refusal(hardened, boss, *statements)
        assert exc.sqlstate == LAST_ADMINISTRATOR, (exc, statements)
        assert exc.diag.message_primary is not None
        assert exc.diag.message_primary.startswith("This change would leave nobody able to ")
    # The client's own sentence, word for word.
    exc = refusal(hardened, boss, takings(office)[0][0])
    assert exc.diag.message_primary == EVERYTHING_LOST
    security_only = refusal(hardened, boss, takings(office)[3][0])
    assert security_only.diag.message_primary == last_administrator_message(["System → Security"])
    assert administration(hardened) == before


def test_deleting_the_other_administrator_then_stepping_down_is_refused_at_commit(
    hardened: HardenedDatabase, office: dict[str, Any], tmp_path: Path
) -> None:
    """Each statement alone passes (there are two administrators at the first, and the second
    is the boss's own row); the transaction as a whole would leave none."""
    owner = Database(hardened.owner_url)
    deputy = add_user(
        CoreContext(db=owner, secrets=MemoryStore(), outbox_default=tmp_path), "deputy", PASSWORD
    )
    owner.dispose()
    before = administration(hardened)
    exc = refusal(
        hardened,
        office["tokens"]["boss"],
        f"DELETE FROM pmdesk.personnel WHERE id = {deputy}",
        f"UPDATE pmdesk.personnel SET group_id = {office['nobodies']} "
        f"WHERE id = {office['ids']['boss']}",
    )
    assert exc.sqlstate == LAST_ADMINISTRATOR
    assert administration(hardened) == before


def checked_then_undone(hardened: HardenedDatabase, token: str, statement: str) -> int:
    """``statement``, then the deferred checks run at once (SET CONSTRAINTS ALL IMMEDIATE),
    then everything rolled back: whether the rule lets it through, leaving the stage as it
    was for the next one. The rows it changed."""

    class Undo(Exception):
        pass

    changed = 0
    with connect(hardened.workstation_url) as conn:
        conn.execute("SELECT set_config('pmdesk.session', %s, false)", (token,))
        try:
            with conn.transaction():
                changed = conn.execute(statement).rowcount
                conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
                raise Undo
        except Undo:
            pass
    return changed


def test_with_a_second_administrator_the_same_changes_are_made(
    hardened: HardenedDatabase, office: dict[str, Any], tmp_path: Path
) -> None:
    """The controls: every refused change passes once someone else administers, and the
    boss really steps down."""
    owner = Database(hardened.owner_url)
    add_user(
        CoreContext(db=owner, secrets=MemoryStore(), outbox_default=tmp_path), "deputy", PASSWORD
    )
    admins = add_group(owner, "Admins too", {"system": "re", "system.security": "re"})
    owner.dispose()
    owner_sql(hardened, "UPDATE pmdesk.personnel SET group_id = %s WHERE login = 'deputy'", admins)
    boss = office["tokens"]["boss"]
    for (statement,) in takings(office):
        assert checked_then_undone(hardened, boss, statement) >= 1, statement
    assert attempt(hardened, boss, takings(office)[0][0]) == [1]
    [(group,)] = owner_sql(hardened, "SELECT group_id FROM pmdesk.personnel WHERE login = 'boss'")
    assert group == office["nobodies"]


def trusted_and_sessions(hardened: HardenedDatabase, person: int) -> tuple[int, int]:
    [(trusted, sessions)] = owner_sql(
        hardened,
        "SELECT (SELECT count(*) FROM pmdesk.trusted_ips WHERE person_id = %s), "
        "(SELECT count(*) FROM pmdesk.user_sessions WHERE person_id = %s)",
        person,
        person,
    )
    return int(trusted), int(sessions)


def trust(hardened: HardenedDatabase, person: int, *addresses: str) -> None:
    for address in addresses:
        owner_sql(
            hardened,
            "INSERT INTO pmdesk.trusted_ips (person_id, address, created_at) "
            "VALUES (%s, %s, pmdesk.now())",
            person,
            address,
        )


def password_rows(hardened: HardenedDatabase) -> list[tuple[Any, ...]]:
    return owner_sql(
        hardened,
        "SELECT actor, subject, workstation, detail FROM pmdesk.audit_events "
        "WHERE event = 'password.changed' ORDER BY id",
    )


def test_a_password_set_with_raw_sql_ends_the_old_ones_trust_and_sessions(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    anne = office["ids"]["anne"]
    trust(hardened, anne, "10.1.1.1", "10.1.1.2")
    assert trusted_and_sessions(hardened, anne) == (2, 1)
    # The boss sets anne's password and tries to keep her trusted addresses: no date, or a
    # date in the past (which would keep her sessions too).
    assert attempt(
        hardened,
        office["tokens"]["boss"],
        f"UPDATE pmdesk.personnel SET password_hash = '{FAKE_HASH}', "
        f"password_changed_at = '2001-01-01' WHERE id = {anne}",
    ) == [1]
    assert trusted_and_sessions(hardened, anne) == (0, 0)
    [(dated_now,)] = owner_sql(
        hardened,
        "SELECT password_changed_at > pmdesk.now() - interval '1 minute' "
        "FROM pmdesk.personnel WHERE id = %s",
        anne,
    )
    assert dated_now  # not 2001: the sessions it would have kept are gone
    assert password_rows(hardened) == [
        ("boss (cli)", "anne", "ws-attack", "trusted addresses removed: 2; sessions ended: 1")
    ]


def test_ones_own_new_password_through_raw_sql_is_audited_once(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    anne = office["ids"]["anne"]
    trust(hardened, anne, "10.1.1.3")
    assert attempt(
        hardened,
        office["tokens"]["anne"],
        f"UPDATE pmdesk.personnel SET password_hash = '{FAKE_HASH}' WHERE id = {anne}",
    ) == [1]
    assert trusted_and_sessions(hardened, anne) == (0, 0)
    assert password_rows(hardened) == [
        ("anne (cli)", "anne", "ws-attack", "trusted addresses removed: 1; sessions ended: 1")
    ]


def test_only_the_date_or_the_servers_own_rehash_is_no_new_password(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    """Controls: writing password_changed_at alone, or the owner rewriting a hash, leaves
    the trusted addresses and writes no password.changed row."""
    anne = office["ids"]["anne"]
    trust(hardened, anne, "10.1.1.4")
    assert attempt(
        hardened,
        office["tokens"]["boss"],
        "UPDATE pmdesk.personnel SET password_changed_at = timezone('UTC', now()) "
        f"WHERE id = {anne}",
    ) == [1]
    owner_sql(
        hardened, "UPDATE pmdesk.personnel SET password_hash = %s WHERE id = %s", FAKE_HASH, anne
    )
    assert trusted_and_sessions(hardened, anne)[0] == 1
    assert password_rows(hardened) == []


def test_a_replayed_token_writes_one_late_sign_out_and_only_for_a_desktop(
    hardened: HardenedDatabase, office: dict[str, Any], tmp_path: Path
) -> None:
    desktop = sign_in(hardened, tmp_path, "anne", DESKTOP).session_token
    assert desktop is not None
    owner_sql(
        hardened, "DELETE FROM pmdesk.user_sessions WHERE person_id = %s", office["ids"]["anne"]
    )

    def signed_out_rows() -> list[Any]:
        return owner_sql(
            hardened,
            "SELECT actor, subject, workstation FROM pmdesk.audit_events "
            "WHERE event = 'signed_out'",
        )

    for _ in range(3):
        [answer] = attempt(hardened, desktop, "SELECT pmdesk.sign_out()")
        assert answer == 1
    assert signed_out_rows() == [("anne", "anne", "ws-attack")]
    # A command-line session ended elsewhere: `pmdesk logout` writes nothing, as elsewhere.
    attempt(hardened, office["tokens"]["anne"], "SELECT pmdesk.sign_out()")
    # A token nobody was given: nothing either.
    attempt(hardened, "B" * 43, "SELECT pmdesk.sign_out()")
    assert signed_out_rows() == [("anne", "anne", "ws-attack")]
    # Nobody reads the tombstones.
    exc = refusal(hardened, office["tokens"]["boss"], "SELECT * FROM pmdesk.ended_sessions")
    assert exc.sqlstate == "42501"


def test_two_administrators_stepping_down_at_the_same_moment_leave_one(
    hardened: HardenedDatabase, office: dict[str, Any], tmp_path: Path
) -> None:
    """Each alone would leave the other; committed at the same moment, the checks take turns
    (an advisory lock, held here by the owner until both are waiting at it), so the second
    sees the first's change and is refused."""
    owner = Database(hardened.owner_url)
    add_user(
        CoreContext(db=owner, secrets=MemoryStore(), outbox_default=tmp_path), "deputy", PASSWORD
    )
    owner.dispose()
    deputy = sign_in(hardened, tmp_path, "deputy").session_token
    assert deputy is not None
    outcomes: dict[str, str] = {}
    both_changed = threading.Barrier(2)

    def step_down(login: str, token: str) -> None:
        with connect(hardened.workstation_url) as conn:
            conn.execute("SELECT set_config('pmdesk.session', %s, false)", (token,))
            conn.execute("BEGIN")
            conn.execute(
                "UPDATE pmdesk.personnel SET group_id = %s WHERE login = %s",
                (office["nobodies"], login),
            )
            both_changed.wait(10)  # neither commits before both have made their change
            try:
                conn.execute("COMMIT")
                outcomes[login] = "committed"
            except psycopg.Error as exc:
                outcomes[login] = str(exc.sqlstate)

    with connect(hardened.owner_url) as holder:
        holder.execute("SELECT pg_advisory_lock(7013, 1)")
        steps = []
        for login, token in (("boss", office["tokens"]["boss"]), ("deputy", deputy)):
            step = threading.Thread(target=step_down, args=(login, token))
            step.start()
            steps.append(step)
        time.sleep(1)  # both COMMITs are now at the lock (without it, both are done)
        holder.execute("SELECT pg_advisory_unlock(7013, 1)")
    for step in steps:
        step.join(10)
    assert sorted(outcomes.values()) == [LAST_ADMINISTRATOR, "committed"], outcomes
    [(administrators,)] = owner_sql(
        hardened, "SELECT count(*) FROM pmdesk.personnel WHERE group_id = 1"
    )
    assert administrators == 1
