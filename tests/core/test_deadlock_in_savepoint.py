"""A deadlock inside a SAVEPOINT is retried like any other (issue 16's load test found it).

MariaDB ends the whole transaction on a deadlock; when that happens inside ``begin_nested``
(as ``trusted_ips.trust`` inserts), SQLAlchemy's ROLLBACK TO SAVEPOINT then fails with
"SAVEPOINT … does not exist", and that error, not the deadlock, reaches
``Database.write_transaction``. Two transactions here lock two rows in opposite orders, the
second lock of each inside a savepoint."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from pmdesk.core.db import Database


@pytest.fixture
def two_rows(db: Database) -> Iterator[Database]:
    if db.backend != "mariadb":
        pytest.skip("about MariaDB, which ends the transaction (and its savepoints) on a deadlock")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE deadlock_test (k INTEGER PRIMARY KEY, n INTEGER)"))
        conn.execute(text("INSERT INTO deadlock_test VALUES (1, 0), (2, 0)"))
    yield db
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE deadlock_test"))


def test_a_deadlock_inside_a_savepoint_is_retried_and_both_writes_land(two_rows: Database) -> None:
    both_locked = threading.Barrier(2, timeout=10)
    errors: list[BaseException] = []
    bump = text("UPDATE deadlock_test SET n = n + 1 WHERE k = :k")

    def writer(first: int, second: int) -> None:
        attempts = [0]

        def work(s: Session) -> None:
            attempts[0] += 1
            s.execute(bump, {"k": first})
            if attempts[0] == 1:
                both_locked.wait()  # each holds one row: the second updates wait for each other
            with s.begin_nested():
                s.execute(bump, {"k": second})

        try:
            two_rows.write_transaction(work)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=pair) for pair in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with two_rows.engine.connect() as conn:
        assert list(conn.execute(text("SELECT n FROM deadlock_test ORDER BY k")).scalars()) == [
            2,
            2,
        ]
