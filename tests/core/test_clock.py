"""The database clock: read once per transaction (issue 18), again in the next one."""

from __future__ import annotations

import time
from datetime import timedelta

from pmdesk.core.clock import DatabaseClock, Reading, ShiftedClock
from pmdesk.core.db import Database
from tests.helpers.round_trips import count_round_trips


def test_the_clock_is_read_once_per_transaction_and_again_in_the_next(db: Database) -> None:
    clock = DatabaseClock()
    with db.session() as s:
        first = clock.now(s)
        time.sleep(0.01)
        assert clock.now(s) == first  # the same moment for every row of this unit of work
    time.sleep(0.01)
    with db.session() as s:
        assert clock.now(s) > first  # a new transaction reads the server again
    if not db.is_sqlite:
        with count_round_trips(db) as trips, db.session() as s:
            for _ in range(3):
                clock.now(s)
        reads = [t for t in trips.statements if "now()" in t or "UTC_TIMESTAMP" in t]
        assert len(reads) == 1, trips.statements


def test_a_reading_tells_the_time_a_little_later_without_asking(db: Database) -> None:
    clock = ShiftedClock(timedelta(hours=2))  # as tests travel in time
    with db.session() as s:
        reading = Reading(clock.now(s))
    time.sleep(0.2)
    later = reading.later()
    assert timedelta(seconds=0.2) <= later - reading.at < timedelta(seconds=5)
    with count_round_trips(db) as trips, db.session() as s:
        clock.carry(s, later)
        assert clock.now(s) == later  # the unit's "now", shift included, and no read
    assert trips.total == 0, trips.statements
    with db.session() as s:  # the next unit reads the server again
        assert clock.now(s) >= later
