"""Trusted addresses made directly in the database, for tests that need some to be there."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from sqlalchemy import select

from pmdesk.core.clock import Clock, DatabaseClock
from pmdesk.core.db import Database
from pmdesk.core.models import TrustedIp
from tests.helpers.databases import stage


def trust_addresses(
    db: Database, rows: Iterable[tuple[int, str, timedelta]], clock: Clock | None = None
) -> list[int]:
    """One trusted address per ``(person_id, address, age)``, made ``age`` before now on
    ``clock`` (the database's by default); their ids, in order. Written as the database's
    owner where the workstation may write nothing without a session (``stage``)."""
    with stage(db) as s:
        now = (clock or DatabaseClock()).now(s)
        made = [
            TrustedIp(person_id=person, address=address, created_at=now - age, last_used_at=None)
            for person, address, age in rows
        ]
        s.add_all(made)
        s.flush()
        return [row.id for row in made]


def trusted_addresses(db: Database) -> list[str]:
    """Every trusted address in the database, sorted."""
    with db.session() as s:
        return sorted(s.execute(select(TrustedIp.address)).scalars())
