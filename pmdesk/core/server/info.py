"""What a workstation may know before anyone signs in on it (``pmdesk.server_info()``).

From hardening level 6 the workstation's login reads no table row without a session
(reads_sql). Start-up, first run, the login dialog's warnings and the trust checkbox still need
a few facts about the database as a whole; the server answers them in one call, and nothing
about any person.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from pmdesk.core.server.roles import SCHEMA

#: The call, for the bare driver too (the start-up probe).
CALL = f"SELECT {SCHEMA}.server_info()"


@dataclass(frozen=True)
class ServerInfo:
    hardening: int
    schema: str
    has_users: bool  # someone has a login (the first-run wizard is not shown)
    anyone_can_sign_in: bool  # someone has a login and a password
    two_factor: bool
    delivery_trouble: bool  # recent codes of the configured method could not be sent
    relay_host: str | None
    relay_last_seen_s: int | None
    trust_refusal: str | None  # why this workstation's address can never be trusted


def parse(found: Any) -> ServerInfo:
    """The function's jsonb answer (a dict from psycopg, or its text)."""
    answer = found if isinstance(found, dict) else json.loads(str(found))
    seen = answer.get("relay_last_seen_s")
    return ServerInfo(
        hardening=int(answer.get("hardening") or 0),
        schema=str(answer.get("schema") or ""),
        has_users=bool(answer.get("has_users")),
        anyone_can_sign_in=bool(answer.get("anyone_can_sign_in")),
        two_factor=bool(answer.get("two_factor")),
        delivery_trouble=bool(answer.get("delivery_trouble")),
        relay_host=str(answer["relay_host"]) if answer.get("relay_host") else None,
        relay_last_seen_s=int(seen) if seen is not None else None,
        trust_refusal=str(answer["trust_refusal"]) if answer.get("trust_refusal") else None,
    )


def read(connection: Connection | Session) -> ServerInfo:
    return parse(connection.execute(text(CALL)).scalar_one())
