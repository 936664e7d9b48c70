"""How the relay is doing, in the words the Security screen and ``server status`` use."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, TextClause, text
from sqlalchemy.orm import Session

from pmdesk.core.server.roles import SCHEMA

#: A relay silent for longer than this is down (its heartbeat comes every 10 s).
RELAY_DOWN_AFTER_S = 60
NO_RELAY_YET = (
    "Codes cannot be sent: no relay has run yet. Ask whoever administers the database server "
    "to start pmdesk relay."
)


def relay_down(last_seen_s: int | None) -> str | None:
    """The sentence for a relay that is not running, or None while it is."""
    if last_seen_s is None:
        return NO_RELAY_YET
    if last_seen_s <= RELAY_DOWN_AFTER_S:
        return None
    minutes = max(1, round(last_seen_s / 60))
    ago = "1 minute" if minutes == 1 else f"{minutes} minutes"
    if minutes >= 120:
        ago = f"{round(minutes / 60)} hours"
    return f"Codes cannot be sent: the relay was last seen {ago} ago."


@dataclass(frozen=True)
class RelayReport:
    text: str  # "relay on mail01, last seen 5 s ago", or why codes cannot be sent
    running: bool  # seen within the last minute and able to send
    problem: str = ""  # the relay's own sentence when it runs but cannot send


def status_query() -> TextClause:
    """The newest heartbeat: ``read`` asks it (a screen may send it along: ``reads_along``)."""
    return text(f"SELECT {SCHEMA}.relay_status()")


def read(connection: Connection | Session) -> RelayReport:
    """The newest heartbeat (``pmdesk.relay_status()``), judged as the login dialog judges it."""
    found: Any = connection.execute(status_query()).scalar()
    status = found if isinstance(found, dict) else {}
    down = relay_down(status.get("last_seen_s") if status else None)
    if down is not None:
        return RelayReport(down, running=False)
    seen = f"relay on {status.get('host')}, last seen {status.get('last_seen_s')} s ago"
    problem = str(status.get("problem") or "")
    return RelayReport(seen, running=not problem, problem=problem)
