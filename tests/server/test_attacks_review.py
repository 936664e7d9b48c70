"""The attack suite, Undo of a removal from the trusted-address list (issue 16 §2) on a hardened
PostgreSQL: raw SQL as the workstation role, presenting a real session's token.

What Undo may put back is kept by the server (``trusted_ip_removals``, which the workstation may
neither read nor write) and put back only by ``pmdesk.restore_trusted_ips``: for someone with
System → Security Edit, only rows their own session removed in the last minute, exactly as they
were. Nobody can use it to trust an arbitrary address. The owner sets the stage and reads back.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.databases import HardenedDatabase, hardened_or_skip
from tests.helpers.pg import connect
from tests.server.test_attacks_rules import attempt, owner_sql, refusal
from tests.server.test_attacks_rules import office as office  # the fixture, reused

HOME = "81.2.69.160"
UNDOABLE = "SELECT set_config('pmdesk.undoable_removal', 'on', true)"


@pytest.fixture(scope="module")
def hardened() -> Iterator[HardenedDatabase]:
    with hardened_or_skip() as made:
        yield made


@pytest.fixture
def trusted(hardened: HardenedDatabase, office: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The office of test_attacks_rules; anne has HOME trusted since ten days, used once."""
    anne = office["ids"]["anne"]
    (row,) = owner_sql(
        hardened,
        "INSERT INTO pmdesk.trusted_ips (person_id, address, created_at, last_used_at) "
        f"VALUES ({anne}, '{HOME}', pmdesk.now() - interval '10 days', "
        "pmdesk.now() - interval '9 days') RETURNING id",
    )
    yield {**office, "row": row[0]}
    owner_sql(hardened, "DELETE FROM pmdesk.trusted_ip_removals")


def trusted_rows(hardened: HardenedDatabase) -> list[Any]:
    return owner_sql(
        hardened,
        "SELECT id, person_id, address, created_at, last_used_at FROM pmdesk.trusted_ips "
        "ORDER BY id",
    )


def restore(hardened: HardenedDatabase, token: str | None, *statements: str) -> int:
    """``statements`` then ``restore_trusted_ips`` of every id in one transaction; how many
    rows it put back."""
    with connect(hardened.workstation_url) as conn:
        if token is not None:
            conn.execute("SELECT set_config('pmdesk.session', %s, false)", (token,))
        with conn.transaction():
            for statement in statements:
                conn.execute(statement)
            found = conn.execute(
                "SELECT pmdesk.restore_trusted_ips(ARRAY(SELECT generate_series(1, 100000)))"
            ).fetchone()
            assert found is not None
            return int(found[0])


def test_the_workstation_cannot_read_or_write_what_undo_may_put_back(
    hardened: HardenedDatabase, trusted: dict[str, Any]
) -> None:
    boss, anne = trusted["tokens"]["boss"], trusted["ids"]["anne"]
    before = trusted_rows(hardened)
    forged = (
        "INSERT INTO pmdesk.trusted_ip_removals (trusted_ip_id, person_id, address, created_at, "
        f"removed_by, removed_at) VALUES (99999, {anne}, '8.8.8.8', now(), "
        f"{trusted['ids']['boss']}, pmdesk.now())"
    )
    for statement in (forged, "SELECT * FROM pmdesk.trusted_ip_removals"):
        failed = refusal(hardened, boss, statement)
        assert failed.sqlstate == "42501", (statement, failed)
    assert restore(hardened, boss) == 0
    assert trusted_rows(hardened) == before
    assert owner_sql(hardened, "SELECT count(*) FROM pmdesk.trusted_ip_removals") == [(0,)]


def test_undo_puts_back_only_what_ones_own_session_just_removed(
    hardened: HardenedDatabase, trusted: dict[str, Any]
) -> None:
    boss, row = trusted["tokens"]["boss"], trusted["row"]
    before = trusted_rows(hardened)
    # A removal without asking for Undo is not kept: nothing to put back.
    delete = f"DELETE FROM pmdesk.trusted_ips WHERE id = {row}"
    assert restore(hardened, boss, delete) == 0
    assert trusted_rows(hardened) == []
    owner_sql(
        hardened,
        "INSERT INTO pmdesk.trusted_ips (id, person_id, address, created_at, last_used_at) "
        "VALUES (%s, %s, %s, %s, %s)",
        *before[0],
    )
    # The control: an undoable removal comes back exactly as it was, audited.
    assert attempt(hardened, boss, UNDOABLE, delete) == [1, 1]
    assert trusted_rows(hardened) == []
    assert restore(hardened, boss) == 1
    assert trusted_rows(hardened) == before
    assert owner_sql(
        hardened, "SELECT subject, detail FROM pmdesk.audit_events WHERE event = 'ip.restored'"
    ) == [("anne", f"address {HOME}, trusted since {before[0][3]:%Y-%m-%d %H:%M:%S} UTC (#{row})")]
    # Once: a second call puts back nothing more.
    assert restore(hardened, boss) == 0


def test_a_clerk_or_no_session_cannot_undo_and_the_window_closes(
    hardened: HardenedDatabase, trusted: dict[str, Any]
) -> None:
    boss, anne, row = trusted["tokens"]["boss"], trusted["tokens"]["anne"], trusted["row"]
    # anne may remove her own address (guards_sql), but not put anything back.
    assert attempt(hardened, anne, UNDOABLE, f"DELETE FROM pmdesk.trusted_ips WHERE id = {row}")
    failed = refusal(hardened, anne, "SELECT pmdesk.restore_trusted_ips(ARRAY[1, 2, 3])")
    assert failed.sqlstate == "PMD01"
    failed = refusal(hardened, None, "SELECT pmdesk.restore_trusted_ips(ARRAY[1, 2, 3])")
    assert failed.sqlstate in {"28000", "42501"}
    # What anne removed is not the boss's to put back either.
    assert restore(hardened, boss) == 0
    assert trusted_rows(hardened) == []
    # A removal older than the window is gone for good (the boss's, a minute and more ago).
    owner_sql(
        hardened,
        "INSERT INTO pmdesk.trusted_ips (person_id, address, created_at) "
        f"VALUES ({trusted['ids']['anne']}, '10.9.9.9', pmdesk.now())",
    )
    attempt(hardened, boss, UNDOABLE, "DELETE FROM pmdesk.trusted_ips")
    owner_sql(
        hardened,
        "UPDATE pmdesk.trusted_ip_removals SET removed_at = removed_at - interval '61 seconds'",
    )
    assert restore(hardened, boss) == 0
    assert trusted_rows(hardened) == []
    assert owner_sql(
        hardened, "SELECT count(*) FROM pmdesk.audit_events WHERE event = 'ip.restored'"
    ) == [(0,)]
