"""Time travel on the hardened leg: the server's clock moves with the test's ``ShiftedClock``.

On a server-enforced PostgreSQL the server decides when a code, a trust, a lock or a session
ends, by ``pmdesk.now()`` (docs/server-enforced.md §4.3). The design's ``server init
--test-clock`` is not built yet; until it is, the leg's throwaway database gets the same thing
from its owner: ``pmdesk.now()`` adds the offset kept in ``pmdesk.test_clock``, and the test's
clock writes its offset there whenever it moves. Every rule still runs in the server.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.engine import URL

from pmdesk.core.clock import ShiftedClock
from pmdesk.core.db import Database
from tests.helpers.pg import sql

_INSTALL = (
    "CREATE TABLE IF NOT EXISTS pmdesk.test_clock (offset_s double precision NOT NULL)",
    "INSERT INTO pmdesk.test_clock SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM pmdesk.test_clock)",
    """CREATE OR REPLACE FUNCTION pmdesk.now() RETURNS timestamp
       LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
           SELECT timezone('UTC', now())
                  + make_interval(secs => (SELECT offset_s FROM pmdesk.test_clock))
       $$""",
)


def install_test_clock(owner_url: URL, prefix: str) -> None:
    """As the owner of the leg's database: ``pmdesk.now()`` follows ``pmdesk.test_clock``."""
    for statement in _INSTALL:
        sql(owner_url, statement)
    sql(owner_url, f"ALTER TABLE pmdesk.test_clock OWNER TO {prefix}_owner")
    sql(owner_url, f"ALTER FUNCTION pmdesk.now() OWNER TO {prefix}_owner")


class ServerShiftedClock(ShiftedClock):
    """A ShiftedClock whose offset the server's clock follows (``advance`` or ``offset +=``)."""

    def __init__(self, owner: Database) -> None:
        self._owner = owner
        super().__init__()

    @property
    def offset(self) -> timedelta:
        return self._offset

    @offset.setter
    def offset(self, value: timedelta) -> None:
        # The leg's relay heartbeats on this clock: a heartbeat written in the past would make
        # the relay look long dead to the next test, until its next heartbeat.
        assert value >= timedelta(), "the server's clock only moves forward on the hardened leg"
        self._offset = value
        with self._owner.session() as s:
            s.execute(
                text("UPDATE pmdesk.test_clock SET offset_s = :s"),
                {"s": value.total_seconds()},
            )
