"""An office on a hardened PostgreSQL for the attack tests: an administrator and one other
person in a group of their own, each signed in through the real login (their session tokens),
and one statement run as the workstation role presenting such a token, as pmdesk does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from pmdesk.core.auth import LoginService
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.login_results import SignedIn
from pmdesk.core.sessions import COMMAND_LINE
from pmdesk.secrets import MemoryStore
from tests.helpers.databases import HardenedDatabase
from tests.helpers.login import add_user, cheap_passwords
from tests.helpers.pg import connect, sql
from tests.helpers.staff import add_group

PASSWORD = "a long enough secret"


@contextmanager
def signed_in_office(
    hardened: HardenedDatabase, tmp_path: Path, other: str, group: str, rights: dict[str, str]
) -> Iterator[dict[str, Any]]:
    """``{"ids": {login: id}, "tokens": {login: token}, "group": id}`` for "admin" and
    ``other`` (in ``group`` with ``rights``); the people, their sessions, trusted addresses
    and log rows, and the group, are removed afterwards."""
    owner = Database(hardened.owner_url)
    ctx = CoreContext(db=owner, secrets=MemoryStore(), outbox_default=tmp_path)
    group_id = add_group(owner, group, rights)
    people = {"admin": add_user(ctx, "admin", PASSWORD), other: add_user(ctx, other, PASSWORD)}
    sql(
        hardened.owner_url,
        "UPDATE pmdesk.personnel SET group_id = %s WHERE id = %s",
        group_id,
        people[other],
    )
    owner.dispose()
    workstation = Database(hardened.workstation_url)
    service = LoginService(
        CoreContext(db=workstation, secrets=MemoryStore(), outbox_default=tmp_path),
        passwords=cheap_passwords(),
        workstation="ws-attack",
        session_kind=COMMAND_LINE,
    )
    tokens = {}
    for login in people:
        signed = service.begin(login, PASSWORD)
        assert isinstance(signed, SignedIn) and signed.session_token, signed
        tokens[login] = signed.session_token
    workstation.dispose()
    try:
        yield {"ids": people, "tokens": tokens, "group": group_id}
    finally:
        for table in ("trusted_ips", "user_sessions", "audit_events", "personnel"):
            sql(hardened.owner_url, f"DELETE FROM pmdesk.{table}")
        sql(hardened.owner_url, "DELETE FROM pmdesk.user_groups WHERE id <> 1")


def attempt(url: URL, token: str | None, statement: str, *params: object) -> int:
    """One statement as the workstation, presenting ``token`` as pmdesk does; rows changed."""
    with connect(url) as conn:
        if token is not None:
            conn.execute("SELECT set_config('pmdesk.session', %s, false)", (token,))
        return conn.execute(statement, params or None).rowcount  # type: ignore[arg-type]
