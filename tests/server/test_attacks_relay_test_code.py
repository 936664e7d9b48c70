"""The attack suite, the relay's test message (docs/server-enforced.md §5.3, §8.1): queuing one
takes System → Security Edit. Raw SQL over psycopg as the workstation role, with no session, a
forged one, or a clerk's real one; and as the relay role. The owner then reads back that the
queue is empty and the log holds nothing new; a control shows the same call works for an
administrator, to the administrator's own address only.
"""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy.engine import URL

from tests.helpers.databases import HardenedDatabase
from tests.helpers.pg import connect, sql
from tests.server.test_attacks_writes import hardened, office

SEND_TEST = "SELECT pmdesk.send_test_code()"

# The attack suite's office: an administrator and a clerk (Maintenance Read/Edit only, so no
# Security Edit), each with a session token from a real sign-in.
__all__ = ["hardened", "office"]


def call(url: URL, token: str | None) -> Any:
    """``send_test_code()`` as ``url``'s role, presenting ``token`` as pmdesk does."""
    with connect(url) as conn:
        if token is not None:
            conn.execute("SELECT set_config('pmdesk.session', %s, false)", (token,))
        row = conn.execute(SEND_TEST).fetchone()
        return row[0] if row else None


def refusal(url: URL, token: str | None) -> tuple[str, str]:
    """(SQLSTATE, message) the server refuses the call with; fails if it is accepted."""
    try:
        answer = call(url, token)
    except psycopg.Error as exc:
        return str(exc.sqlstate), str(exc.diag.message_primary)
    raise AssertionError(f"accepted: {answer}")


def trail(hardened: HardenedDatabase) -> dict[str, Any]:
    return {
        "queue": sql(hardened.owner_url, "SELECT * FROM pmdesk.code_queue"),
        "log": sql(hardened.owner_url, "SELECT id, event FROM pmdesk.audit_events"),
    }


def test_a_clerk_without_security_edit_cannot_queue_a_test_message(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    before = trail(hardened)
    state, message = refusal(hardened.workstation_url, office["tokens"]["clerk"])
    assert state == "PMD01"
    assert message.startswith("Your user group may not change System → Security.")
    assert trail(hardened) == before
    assert before["queue"] == []


def test_no_session_a_forged_one_or_the_relay_role_queue_nothing(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    before = trail(hardened)
    assert refusal(hardened.workstation_url, None)[0] == "28000"
    assert refusal(hardened.workstation_url, "A" * 43)[0] == "28000"
    # The relay role holds no grant on it, even with an administrator's token.
    assert refusal(hardened.relay_url, office["tokens"]["admin"])[0] == "42501"
    assert trail(hardened) == before


def test_control_an_administrator_queues_one_to_their_own_address(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    answer = call(hardened.workstation_url, office["tokens"]["admin"])
    assert answer["destination"] == "admin@insypro.com"
    rows = sql(
        hardened.owner_url,
        "SELECT kind, subject, destination, code, workstation, state FROM pmdesk.code_queue",
    )
    assert rows == [("test", "admin", "admin@insypro.com", None, "ws-attack", "queued")]
    sql(hardened.owner_url, "DELETE FROM pmdesk.code_queue")
