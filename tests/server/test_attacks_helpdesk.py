"""The attack suite, helpdesk sign-in codes (issue 16 §3) on a hardened PostgreSQL: raw SQL as
the workstation role, presenting a real session's token.

Nobody reaches ``helpdesk_codes`` but the server's functions: not to plant a code they know,
nor to read a hash to guess at. A clerk without System → Security Edit cannot issue one, an
administrator not for themselves, nobody without a session. And since the relay does not run
here, the sign-in with a helpdesk code is also the one that works while codes cannot be sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pmdesk.core.auth import LoginService
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.helpdesk import SELF_REFUSAL, group
from pmdesk.core.login_results import CodeNeeded, SignedIn
from pmdesk.secrets import MemoryStore
from tests.helpers.databases import HardenedDatabase, hardened_or_skip
from tests.helpers.login import cheap_passwords
from tests.server.test_attacks_rules import PASSWORD, attempt, owner_sql, refusal
from tests.server.test_attacks_rules import office as office  # the fixture, reused

FAKE_HASH = "hmac-sha256$" + "0" * 64


@pytest.fixture(scope="module")
def hardened() -> Iterator[HardenedDatabase]:
    with hardened_or_skip() as made:
        yield made


def _codes(hardened: HardenedDatabase) -> list[Any]:
    return owner_sql(
        hardened, "SELECT person_id, code_hash, reason FROM pmdesk.helpdesk_codes ORDER BY id"
    )


def _issue(hardened: HardenedDatabase, token: str | None, person: int) -> list[int]:
    return attempt(hardened, token, f"SELECT pmdesk.issue_helpdesk_code({person}, 'Ticket 1', 60)")


def test_the_workstation_can_neither_plant_nor_read_a_code(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    boss, anne = office["ids"]["boss"], office["ids"]["anne"]
    token = office["tokens"]["boss"]
    _issue(hardened, token, anne)  # the control: through the function, it works
    before = _codes(hardened)
    assert [row[0] for row in before] == [anne]
    for statement in (
        "SELECT code_hash FROM pmdesk.helpdesk_codes",
        "INSERT INTO pmdesk.helpdesk_codes (person_id, code_hash, reason, issued_by, "
        f"issued_by_name, created_at, expires_at) VALUES ({boss}, '{FAKE_HASH}', 'x', {anne}, "
        "'anne', now(), now() + interval '1 hour')",
        f"UPDATE pmdesk.helpdesk_codes SET code_hash = '{FAKE_HASH}'",
        "UPDATE pmdesk.helpdesk_codes SET expires_at = now() + interval '30 days'",
        "DELETE FROM pmdesk.helpdesk_codes",
    ):
        failed = refusal(hardened, token, statement)
        assert failed.sqlstate == "42501", (statement, failed)
    assert _codes(hardened) == before


def test_a_clerk_nobody_and_oneself_cannot_issue_or_cancel(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    boss, anne = office["ids"]["boss"], office["ids"]["anne"]
    clerk = office["tokens"]["anne"]
    failed = refusal(hardened, clerk, f"SELECT pmdesk.issue_helpdesk_code({boss}, 'x', 60)")
    assert failed.sqlstate == "PMD01"
    failed = refusal(hardened, None, f"SELECT pmdesk.issue_helpdesk_code({anne}, 'x', 60)")
    assert failed.sqlstate == "28000"
    failed = refusal(
        hardened, office["tokens"]["boss"], f"SELECT pmdesk.issue_helpdesk_code({boss}, 'x', 60)"
    )
    assert failed.sqlstate == "PMD01" and SELF_REFUSAL in str(failed)
    for bad in ("'   ', 60", "'x', 4", "'x', 481", f"'{'x' * 201}', 60"):
        failed = refusal(
            hardened, office["tokens"]["boss"], f"SELECT pmdesk.issue_helpdesk_code({anne}, {bad})"
        )
        assert failed.sqlstate == "PMD05", bad
    assert _codes(hardened) == []
    assert owner_sql(
        hardened, "SELECT count(*) FROM pmdesk.audit_events WHERE event LIKE 'helpdesk%%'"
    ) == [(0,)]
    # Nor may the clerk cancel or look at the boss's code for anne.
    _issue(hardened, office["tokens"]["boss"], anne)
    before = _codes(hardened)
    for call in (f"cancel_helpdesk_code({anne})", f"helpdesk_code_of({anne})"):
        failed = refusal(hardened, clerk, f"SELECT pmdesk.{call}")
        assert failed.sqlstate == "PMD01", call
    assert _codes(hardened) == before


def test_with_no_relay_running_the_helpdesk_code_signs_in_once(
    hardened: HardenedDatabase, office: dict[str, Any], tmp_path: Path
) -> None:
    anne = office["ids"]["anne"]
    [(answer,)] = attempt_rows(
        hardened,
        office["tokens"]["boss"],
        f"SELECT pmdesk.issue_helpdesk_code({anne}, 'Ticket 7: no signal', 60)",
    )
    code = str(answer["code"])
    owner_sql(hardened, "UPDATE pmdesk.security_settings SET two_factor_enabled = true")
    workstation = Database(hardened.workstation_url)
    try:
        login = LoginService(
            CoreContext(db=workstation, secrets=MemoryStore(), outbox_default=tmp_path),
            passwords=cheap_passwords(),
            workstation="ws-helpdesk",
        )
        step = login.begin("anne", PASSWORD)
        assert isinstance(step, CodeNeeded), step
        assert step.helpdesk_code and step.delivery_error is not None  # nothing was sent
        signed = login.verify(step.challenge_id, group(code), False)
        assert isinstance(signed, SignedIn) and signed.login == "anne"
    finally:
        workstation.dispose()
        owner_sql(hardened, "UPDATE pmdesk.security_settings SET two_factor_enabled = false")
    assert _codes(hardened) == []
    [(detail,)] = owner_sql(
        hardened,
        "SELECT detail FROM pmdesk.audit_events WHERE event = 'login.succeeded' "
        "AND subject = 'anne' AND workstation = 'ws-helpdesk'",
    )
    assert detail == "helpdesk code issued by boss (cli): Ticket 7: no signal"
    assert code not in " ".join(
        str(row) for row in owner_sql(hardened, "SELECT detail FROM pmdesk.audit_events")
    )


def attempt_rows(hardened: HardenedDatabase, token: str, statement: str) -> list[Any]:
    """One query's rows as the workstation presenting ``token``."""
    from tests.helpers.pg import connect

    with connect(hardened.workstation_url) as conn:
        conn.execute("SELECT set_config('pmdesk.session', %s, false)", (token,))
        with conn.transaction():
            return list(conn.execute(statement).fetchall())
