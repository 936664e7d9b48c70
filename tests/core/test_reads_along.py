"""Reads sent along with a unit's next statement (``pmdesk.core.reads_along``): answered
without a round trip of their own, and never showing the unit less than a read made then would.
Each test does what a sign-in step does, on PostgreSQL and MariaDB, and checks the answers."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import TextClause, text
from sqlalchemy.orm import Session

import pmdesk.core.server
from pmdesk.core.db import Database
from pmdesk.core.lazy_transactions import write_later
from pmdesk.core.reads_along import SERVER_READ_ONLY_FUNCTIONS, read_along
from tests.core.test_lazy_transactions import table, values
from tests.helpers.round_trips import count_round_trips

__all__ = ["table"]  # the fixture, shared with the lazy transactions' tests

pytestmark = pytest.mark.not_hardened(
    "creates a table of its own, which the workstation role of a hardened database may not"
)

N_OF = "SELECT n FROM lazy_tx_test WHERE k = :k"
LOCK = "SELECT k FROM lazy_tx_test WHERE k = 1 FOR UPDATE"


def n_of(s: Session, k: int) -> int:
    return int(s.execute(n_query(k)).scalar_one())


def n_query(k: int) -> TextClause:
    """The same statement read along and asked for: the same text and values."""
    return text(N_OF).bindparams(k=k)


def test_reads_along_are_answered_without_a_trip_of_their_own(table: Database) -> None:
    with count_round_trips(table) as counter, table.session() as s:
        read_along(s, n_query(1), n_query(2))
        s.execute(text(LOCK))
        assert n_of(s, 2) == 0 and n_of(s, 1) == 0  # asked in any order
    # The lock with both reads (and its BEGIN), then the COMMIT.
    assert counter.total == 2, counter.describe()


def test_a_read_asked_with_other_values_goes_out_as_usual(table: Database) -> None:
    with table.session() as s:
        s.execute(text("UPDATE lazy_tx_test SET n = 4 WHERE k = 2"))
    with count_round_trips(table) as counter, table.session() as s:
        read_along(s, n_query(1))
        s.execute(text(LOCK))
        assert n_of(s, 2) == 4
    assert counter.total == 3, counter.describe()


def test_a_read_along_sees_what_the_locks_last_holder_committed(table: Database) -> None:
    """The read runs after the lock is granted, not when it was asked for."""
    holding, done = threading.Event(), threading.Event()

    def other_workstation() -> None:
        with table.session() as s:
            s.execute(text(LOCK))
            holding.set()
            time.sleep(0.3)  # the step below is waiting for the lock meanwhile
            s.execute(text("UPDATE lazy_tx_test SET n = 8 WHERE k = 2"))
        done.set()

    worker = threading.Thread(target=other_workstation)
    worker.start()
    try:
        assert holding.wait(10)
        with table.session() as s:
            read_along(s, n_query(2))
            started = time.monotonic()
            s.execute(text(LOCK))  # waits for the other workstation's COMMIT
            assert time.monotonic() - started > 0.15, "the lock was waited for"
            assert n_of(s, 2) == 8
        assert done.wait(10)
    finally:
        worker.join(10)


def test_a_write_to_a_table_read_along_drops_the_answer(table: Database) -> None:
    with count_round_trips(table) as counter, table.session() as s:
        read_along(s, n_query(1))
        s.execute(text(LOCK))
        s.execute(text("UPDATE lazy_tx_test SET n = 5 WHERE k = 1"))
        assert n_of(s, 1) == 5, "the unit sees its own write, not the answer from before it"
    assert counter.total == 4, counter.describe()  # lock, update, read again, commit


def test_a_deferred_write_drops_the_answer_too(table: Database) -> None:
    with table.session() as s:
        read_along(s, n_query(1))
        s.execute(text(LOCK))
        write_later(s, text("UPDATE lazy_tx_test SET n = 6 WHERE k = 1"))
        assert n_of(s, 1) == 6
    assert values(table) == {1: 6, 2: 0}


def test_answers_never_asked_for_end_with_the_unit(table: Database) -> None:
    with table.session() as s:
        read_along(s, n_query(1))
        s.execute(text(LOCK))
    with table.session() as s:  # the same pooled connection: the old answer is gone
        s.execute(text("UPDATE lazy_tx_test SET n = 3 WHERE k = 1"))
    with count_round_trips(table) as counter, table.session() as s:
        assert n_of(s, 1) == 3
    assert counter.total == 1


def test_a_percent_sign_in_a_read_along_stays_itself(table: Database) -> None:
    # MariaDB's driver puts the values into the query with "%": a "%" along must stay one.
    with count_round_trips(table) as counter, table.session() as s:
        read_along(s, text("SELECT '100% sure' AS said"))
        s.execute(n_query(1))
        assert s.execute(text("SELECT '100% sure' AS said")).scalar_one() == "100% sure"
    assert counter.total == 1, counter.describe()  # the answer came along: no trip of its own


@pytest.mark.parametrize("name", SERVER_READ_ONLY_FUNCTIONS)
def test_a_server_function_taken_for_a_read_is_declared_stable(name: str) -> None:
    """Such a call runs outside a transaction and keeps the answers read along: the server
    must hold it to reading (a STABLE function cannot write)."""
    server_sql = "\n".join(
        path.read_text(encoding="utf-8")
        for path in Path(pmdesk.core.server.__file__).parent.glob("*.py")
    )
    definitions = re.findall(rf"FUNCTION \{{_S\}}\.{name}\((.*?)\$\$", server_sql, flags=re.DOTALL)
    assert definitions, f"pmdesk.{name} is not defined in pmdesk/core/server"
    for definition in definitions:
        assert re.search(r"\b(STABLE|IMMUTABLE)\b", definition), definition[:300]
        assert not re.search(r"\bVOLATILE\b", definition), definition[:300]
