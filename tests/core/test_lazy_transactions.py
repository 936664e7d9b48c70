"""PostgreSQL and MariaDB units of work that open their transaction with their first write
(``pmdesk.core.lazy_transactions``): fewer round trips must not cost any of a transaction's
guarantees. Each test does what a unit of work does and checks what another workstation sees."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from pmdesk.core.db import Database
from pmdesk.core.lazy_transactions import WITH_COMMIT, after_commit, only_reads, write_later
from tests.helpers.round_trips import count_round_trips

pytestmark = pytest.mark.not_hardened(
    "creates a table of its own, which the workstation role of a hardened database may not"
)


@pytest.fixture
def table(db: Database) -> Iterator[Database]:
    if db.is_sqlite:
        pytest.skip("SQLite: transactions cost no round trips (nothing goes over a wire)")
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE lazy_tx_test (k INTEGER PRIMARY KEY, n INTEGER)"))
        conn.execute(text("INSERT INTO lazy_tx_test VALUES (1, 0), (2, 0)"))
    yield db
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE lazy_tx_test"))


def values(db: Database) -> dict[int, int]:
    other = Database(db.url)  # another workstation: sees only what was committed
    try:
        with other.engine.connect() as conn:
            rows = conn.execute(text("SELECT k, n FROM lazy_tx_test ORDER BY k")).all()
        return {k: n for k, n in rows}
    finally:
        other.dispose()


def test_a_unit_that_fails_after_its_writes_leaves_nothing_written(table: Database) -> None:
    with pytest.raises(RuntimeError), table.session() as s:
        assert s.execute(text("SELECT n FROM lazy_tx_test WHERE k = 1")).scalar_one() == 0
        s.execute(text("UPDATE lazy_tx_test SET n = 5 WHERE k = 1"))
        s.execute(text("UPDATE lazy_tx_test SET n = 6 WHERE k = 2"))
        raise RuntimeError("the unit fails after its writes")
    assert values(table) == {1: 0, 2: 0}
    with pytest.raises(DBAPIError, match=r"[Dd]uplicate"), table.session() as s:
        s.execute(text("UPDATE lazy_tx_test SET n = 5 WHERE k = 1"))
        s.execute(text("UPDATE lazy_tx_test SET k = 1 WHERE k = 2"))  # the server refuses it
    assert values(table) == {1: 0, 2: 0}
    with table.session() as s:  # and the connection is good for the next unit
        s.execute(text("UPDATE lazy_tx_test SET n = 7 WHERE k = 2"))
    assert values(table) == {1: 0, 2: 7}


def test_writes_are_seen_by_others_only_when_the_unit_ends(table: Database) -> None:
    with table.session() as s:
        s.execute(text("UPDATE lazy_tx_test SET n = 1 WHERE k = 1"))
        assert values(table) == {1: 0, 2: 0}, "not yet committed"
        s.execute(text("UPDATE lazy_tx_test SET n = 1 WHERE k = 2"))
    assert values(table) == {1: 1, 2: 1}


def test_a_row_locked_for_update_stays_locked_until_the_unit_ends(table: Database) -> None:
    other = Database(table.url)
    try:
        with table.session() as s:
            s.execute(text("SELECT n FROM lazy_tx_test WHERE k = 1 FOR UPDATE")).scalar_one()
            s.execute(text("SELECT n FROM lazy_tx_test WHERE k = 2")).scalar_one()
            with pytest.raises(OperationalError, match=r"[Ll]ock"), other.session() as o:
                if table.backend == "postgresql":
                    o.execute(text("SET LOCAL lock_timeout = '200ms'"))
                else:
                    o.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
                o.execute(text("UPDATE lazy_tx_test SET n = 9 WHERE k = 1"))
        with other.session() as o:  # released with the unit
            o.execute(text("UPDATE lazy_tx_test SET n = 9 WHERE k = 1"))
    finally:
        other.dispose()
    assert values(table)[1] == 9


def test_a_setting_for_the_transaction_lasts_the_unit(table: Database) -> None:
    if table.backend != "postgresql":
        pytest.skip("PostgreSQL's set_config(…, true): MariaDB has no setting for a transaction")
    with table.session() as s:
        s.execute(text("SELECT set_config('pmdesk.test_setting', 'on', true)"))
        seen = s.execute(text("SELECT current_setting('pmdesk.test_setting', true)")).scalar()
    assert seen == "on"
    with table.session() as s:
        after = s.execute(text("SELECT current_setting('pmdesk.test_setting', true)")).scalar()
    assert after in (None, ""), "gone with its transaction"


def test_begin_travels_with_the_first_write_and_a_read_only_unit_sends_no_commit(
    table: Database,
) -> None:
    table.engine.dispose()
    with count_round_trips(table) as reading, table.session() as s:
        s.execute(text("SELECT n FROM lazy_tx_test WHERE k = 1")).scalar_one()
        s.execute(text("SELECT n FROM lazy_tx_test WHERE k = 2")).scalar_one()
    assert reading.total == 2, reading.describe()
    with count_round_trips(table) as writing, table.session() as s:
        s.execute(text("SELECT n FROM lazy_tx_test WHERE k = 1")).scalar_one()
        s.execute(text("UPDATE lazy_tx_test SET n = 3 WHERE k = 1"))
    assert [line.split(" ")[0] for line in writing.statements] == ["SELECT", "UPDATE", "[COMMIT]"]
    assert values(table)[1] == 3
    if table.backend == "postgresql":
        # A connection back in the pool is out of autocommit again, as the pool gave it.
        with table.engine.connect() as conn:
            driver = conn.connection.dbapi_connection
            assert driver is not None and driver.autocommit is False


def test_a_failed_first_write_leaves_the_connection_out_of_its_transaction(
    table: Database,
) -> None:
    """The BEGIN travelled with a statement the server refused: the unit's rollback ends that
    transaction, and the next unit on the same connection starts clean."""
    table.engine.dispose()
    with pytest.raises(DBAPIError), table.session() as s:
        s.execute(text("INSERT INTO lazy_tx_test VALUES (1, 5)"))  # k = 1 is taken
    with table.session() as s:
        s.execute(text("UPDATE lazy_tx_test SET n = 4 WHERE k = 2"))
        assert s.execute(text("SELECT n FROM lazy_tx_test WHERE k = 2")).scalar_one() == 4
    assert values(table) == {1: 0, 2: 4}


@pytest.mark.parametrize(
    ("statement", "reads_only"),
    [
        ("SELECT id FROM personnel", True),
        ("  select count(*) from trusted_ips", True),
        ("SHOW SESSION STATUS LIKE 'Ssl_cipher'", True),
        ("SELECT id FROM personnel FOR UPDATE", False),
        ("SELECT id FROM personnel FOR NO KEY UPDATE SKIP LOCKED", False),
        ("SELECT id FROM personnel FOR SHARE", False),
        ("SELECT set_config('pmdesk.session', 'x', true)", False),
        ("SELECT pmdesk.sign_in(:login, :proof)", False),
        ("SELECT pmdesk.relay_status()", True),  # declared STABLE: it only reads
        ("SELECT pg_advisory_xact_lock(1)", False),
        ("SELECT GET_LOCK('pmdesk_migrate', 10)", False),
        ("SELECT id FROM personnel LOCK IN SHARE MODE", False),
        ("SELECT * INTO copy FROM personnel", False),
        ("UPDATE personnel SET city = 'Gent'", False),
        ("WITH x AS (DELETE FROM trusted_ips RETURNING id) SELECT count(*) FROM x", False),
        ("SAVEPOINT sa_savepoint_1", False),
    ],
)
def test_only_a_plain_select_runs_outside_the_transaction(statement: str, reads_only: bool) -> None:
    assert only_reads(statement) is reads_only


def test_rows_streamed_from_a_server_side_cursor_arrive_in_a_unit_of_work(
    table: Database,
) -> None:
    """PostgreSQL streams with a server-side cursor, which only lives in a transaction: the
    unit opens one for it (the Security readiness check and the sweeps stream)."""
    with table.session() as s:
        streamed = s.execute(
            text("SELECT k FROM lazy_tx_test ORDER BY k").execution_options(
                stream_results=True, yield_per=1
            )
        ).scalars()
        assert list(streamed) == [1, 2]


def test_a_script_of_several_commands_runs_as_one_transaction(table: Database) -> None:
    """A statement without parameters may hold several commands (a set-up script): it still
    runs, in the unit's transaction, and a failure in it leaves nothing written."""
    with table.session() as s:
        s.execute(
            text(
                "UPDATE lazy_tx_test SET n = 1 WHERE k = 1; "
                "UPDATE lazy_tx_test SET n = 2 WHERE k = 2"
            )
        )
    assert values(table) == {1: 1, 2: 2}
    with pytest.raises(DBAPIError), table.session() as s:
        s.execute(text("UPDATE lazy_tx_test SET n = 5 WHERE k = 1"))
        s.execute(text("UPDATE lazy_tx_test SET n = 6 WHERE k = 2; UPDATE lazy_tx_test SET k = 1"))
    assert values(table) == {1: 1, 2: 2}


def test_a_statement_alone_is_one_round_trip_and_lands(table: Database) -> None:
    """``Database.alone``: one writing statement, committed by the server as it runs."""
    table.engine.dispose()
    with count_round_trips(table) as counter:
        table.alone(lambda s: s.execute(text("UPDATE lazy_tx_test SET n = 8 WHERE k = 2")))
    assert counter.statements == ["UPDATE lazy_tx_test SET n = 8 WHERE k = 2"]
    assert values(table) == {1: 0, 2: 8}
    # The connection goes back to units of work that open their transaction as before.
    with count_round_trips(table) as after, table.session() as s:
        s.execute(text("UPDATE lazy_tx_test SET n = 9 WHERE k = 2"))
    assert [line.split(" ")[0] for line in after.statements] == ["UPDATE", "[COMMIT]"]


# ----- deferred statements (``write_later``) ----------------------------------------------------


def later(s: Session, statement: str, **values: object) -> None:
    write_later(s, text(statement).bindparams(**values) if values else text(statement))


def test_deferred_writes_go_out_with_the_commit_in_one_trip_and_land(table: Database) -> None:
    with count_round_trips(table) as counter, table.session() as s:
        later(s, "UPDATE lazy_tx_test SET n = :n WHERE k = 1", n=3)
        later(s, "UPDATE lazy_tx_test SET n = n + 1 WHERE k = 2")
        assert values(table) == {1: 0, 2: 0}, "nothing is sent before the unit ends"
    assert counter.total == 1, counter.describe()
    assert values(table) == {1: 3, 2: 1}


def test_a_read_after_a_deferred_write_sees_it_and_takes_it_along(table: Database) -> None:
    with count_round_trips(table) as counter, table.session() as s:
        later(s, "UPDATE lazy_tx_test SET n = 9 WHERE k = 1")
        seen = s.execute(text("SELECT n FROM lazy_tx_test WHERE k = 1")).scalar_one()
        assert values(table) == {1: 0, 2: 0}, "still one transaction, not yet committed"
    assert seen == 9
    assert counter.total == 2, counter.describe()  # the read (with the write), the COMMIT
    assert values(table) == {1: 9, 2: 0}


def test_a_unit_that_fails_drops_its_deferred_writes_unsent(table: Database) -> None:
    with pytest.raises(RuntimeError), table.session() as s:
        s.execute(text("UPDATE lazy_tx_test SET n = 1 WHERE k = 1"))
        later(s, "UPDATE lazy_tx_test SET n = 2 WHERE k = 2")
        raise RuntimeError("the unit fails after its writes")
    assert values(table) == {1: 0, 2: 0}
    with table.session() as s:  # the next unit on the same connection starts clean
        s.execute(text("UPDATE lazy_tx_test SET n = 4 WHERE k = 1"))
    assert values(table) == {1: 4, 2: 0}


def test_a_deferred_write_the_server_refuses_fails_the_whole_unit(table: Database) -> None:
    with pytest.raises(DBAPIError, match=r"[Dd]uplicate"), table.session() as s:
        s.execute(text("UPDATE lazy_tx_test SET n = 5 WHERE k = 1"))
        later(s, "INSERT INTO lazy_tx_test VALUES (2, 8)")  # refused when it goes out
    assert values(table) == {1: 0, 2: 0}, "the write before it was undone too"
    with table.session() as s:
        later(s, "UPDATE lazy_tx_test SET n = 6 WHERE k = 2")
    assert values(table) == {1: 0, 2: 6}


def test_a_percent_sign_in_a_deferred_value_stays_itself(table: Database) -> None:
    # MariaDB's driver puts values into the text with "%": a "%" sent ahead must stay one.
    with table.session() as s:
        s.execute(text("ALTER TABLE lazy_tx_test ADD COLUMN note VARCHAR(40)"))
    with table.session() as s:
        later(s, "UPDATE lazy_tx_test SET note = :note WHERE k = 1", note="100% sure, 5%s")
        found = s.execute(text("SELECT note FROM lazy_tx_test WHERE k = :k"), {"k": 1})
        assert found.scalar_one() == "100% sure, 5%s"
    with table.session() as s:
        assert s.execute(text("SELECT note FROM lazy_tx_test WHERE k = 1")).scalar_one() == (
            "100% sure, 5%s"
        )


def test_a_deferred_write_in_a_statement_alone_runs_at_once(table: Database) -> None:
    table.alone(lambda s: later(s, "UPDATE lazy_tx_test SET n = 7 WHERE k = 1"))
    assert values(table) == {1: 7, 2: 0}


def test_a_savepoint_goes_with_the_next_statement_and_still_rolls_back(table: Database) -> None:
    with count_round_trips(table) as counter, table.session() as s:
        s.execute(text("UPDATE lazy_tx_test SET n = 1 WHERE k = 1"))
        with pytest.raises(DBAPIError, match=r"[Dd]uplicate"), s.begin_nested():
            s.execute(text("UPDATE lazy_tx_test SET n = 2 WHERE k = 2"))
            s.execute(text("INSERT INTO lazy_tx_test VALUES (1, 9)"))  # refused
        with s.begin_nested():
            s.execute(text("UPDATE lazy_tx_test SET n = 3 WHERE k = 2"))
    # Kept: the first UPDATE and the second savepoint's; undone: the first savepoint's.
    assert values(table) == {1: 1, 2: 3}
    sent = [line for line in counter.statements if line.startswith(("SAVEPOINT", "RELEASE"))]
    assert sent == [], counter.describe()


def test_the_last_statement_takes_the_commit_along_and_its_answer_is_read(
    table: Database,
) -> None:
    """A unit's last statement whose answer is read (WITH_COMMIT): the deferred writes ahead
    of it, it, and the COMMIT go out in one round trip; its answer is there, and another
    workstation sees everything at once."""
    table.engine.dispose()
    with count_round_trips(table) as counter, table.session() as s:
        s.execute(text("SELECT n FROM lazy_tx_test WHERE k = 1 FOR UPDATE")).scalar_one()
        write_later(s, text("UPDATE lazy_tx_test SET n = 4 WHERE k = 1"))
        found = s.execute(
            text("UPDATE lazy_tx_test SET n = n + 1 WHERE k = 2"),
            execution_options={WITH_COMMIT: True},
        )
        assert found.rowcount == 1, "the statement's own answer"
        assert values(table) == {1: 4, 2: 1}, "committed already: the COMMIT went with it"
    assert counter.total == 2, counter.describe()
    assert "[COMMIT]" in counter.statements[-1], counter.describe()
    assert values(table) == {1: 4, 2: 1}


def test_a_last_statement_the_server_refuses_rolls_the_whole_unit_back(
    table: Database,
) -> None:
    with pytest.raises(DBAPIError, match=r"[Dd]uplicate"), table.session() as s:
        write_later(s, text("UPDATE lazy_tx_test SET n = 8 WHERE k = 1"))
        s.execute(
            text("UPDATE lazy_tx_test SET k = 1 WHERE k = 2"),  # the server refuses it
            execution_options={WITH_COMMIT: True},
        )
    assert values(table) == {1: 0, 2: 0}
    with table.session() as s:  # and the connection is good for the next unit
        s.execute(text("UPDATE lazy_tx_test SET n = 7 WHERE k = 2"))
    assert values(table) == {1: 0, 2: 7}


def test_nothing_writes_after_the_last_statement(table: Database) -> None:
    """A write after the COMMIT went would run outside the unit's transaction: refused, and
    what the unit committed stays as it was."""
    refused = pytest.raises(RuntimeError, match="after the unit of work's last statement")
    with refused, table.session() as s:
        s.execute(
            text("UPDATE lazy_tx_test SET n = 2 WHERE k = 2"),
            execution_options={WITH_COMMIT: True},
        )
        assert s.execute(text("SELECT n FROM lazy_tx_test WHERE k = 2")).scalar_one() == 2
        s.execute(text("UPDATE lazy_tx_test SET n = 3 WHERE k = 1"))
    assert values(table) == {1: 0, 2: 2}


def test_a_unit_of_its_own_goes_after_the_commit_and_its_failure_undoes_nothing(
    table: Database,
) -> None:
    """``after_commit``: a statement that is a unit of its own (the delivery's outcome, which
    every workstation writes) goes out right after the COMMIT, in the same round trip."""
    table.engine.dispose()
    with count_round_trips(table) as counter, table.session() as s:
        write_later(s, text("UPDATE lazy_tx_test SET n = 1 WHERE k = 1"))
        then = after_commit(s, text("UPDATE lazy_tx_test SET n = 2 WHERE k = 2"))
        assert not then.ran, "not before the COMMIT"
    assert then.ran and then.error is None
    assert counter.total == 1, counter.describe()
    assert values(table) == {1: 1, 2: 2}
    # It fails (the server refuses it): the unit stays committed, and the caller is told.
    with table.session() as s:
        write_later(s, text("UPDATE lazy_tx_test SET n = 3 WHERE k = 1"))
        refused = after_commit(s, text("UPDATE lazy_tx_test SET k = 1 WHERE k = 2"))
    assert not refused.ran and refused.error is not None
    assert values(table) == {1: 3, 2: 2}
    # The unit fails: neither runs.
    with pytest.raises(RuntimeError), table.session() as s:
        write_later(s, text("UPDATE lazy_tx_test SET n = 4 WHERE k = 1"))
        dropped = after_commit(s, text("UPDATE lazy_tx_test SET n = 4 WHERE k = 2"))
        raise RuntimeError("the unit fails")
    assert not dropped.ran
    assert values(table) == {1: 3, 2: 2}
    with table.session() as s:  # the connection is good for the next unit
        s.execute(text("UPDATE lazy_tx_test SET n = 5 WHERE k = 2"))
    assert values(table) == {1: 3, 2: 5}
