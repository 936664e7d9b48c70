"""Units of work whose transaction costs no round trips of its own (PostgreSQL, MariaDB).

A workstation 30 ms from its server waits for every round trip. The drivers spend some on
transaction control alone: psycopg sends ``BEGIN`` by itself before a transaction's first
statement (in pipeline mode too: it waits for the answer) and ``COMMIT`` at the end; PyMySQL
sends ``COMMIT`` even when the unit only read. Here:

- a unit of work starts outside a transaction (autocommit): while it only reads, nothing is sent
  but its queries, and its end sends nothing. At the isolation level pmdesk uses (READ COMMITTED)
  each statement of a transaction sees the data as of its own start anyway, so reading outside
  one changes nothing a reader could notice;
- its first statement that writes, locks, or sets something for the transaction (anything but a
  plain ``SELECT``: ``FOR UPDATE``, ``set_config``, a call to one of the server's own functions,
  which may write) opens the transaction, and the ``BEGIN`` goes out with that statement, in the
  same round trip: on PostgreSQL in one pipeline, on MariaDB as one multi-statement query
  (``START TRANSACTION; …``). From there on the unit is one transaction as before, committed or
  rolled back as a whole;
- a statement that writes and whose answer nobody reads (an audit row, a counter bumped, a row
  kept for Undo: the ``DEFERRED`` execution option) is not sent on its own: it waits on the
  driver's connection and goes out with the unit's next statement, or with its ``COMMIT``, in
  the same round trip (PostgreSQL: one pipeline; MariaDB: one multi-statement query). Order is
  kept, so a later read sees it. If it fails, the statement it went out with fails, and the
  unit rolls back as a whole, as it would have;
- reads named beforehand (``reads_along.read_along``) go out right after the unit's next
  statement, in the same round trip, and their answers wait for the unit to ask.

``install`` is called by ``pmdesk.core.db.make_engine`` for both server engines. What differs
between their drivers (how several statements go out in one round trip) is in
``lazy_psycopg`` and ``lazy_pymysql``, behind ``lazy_driver.LazyDriver``.

MariaDB connections allow several statements in one query for this. That would let a statement
pieced together from input run a second one; pmdesk binds every value as a parameter, and a
client-enforced MariaDB trusts whoever holds its login anyway. A server-enforced MariaDB would
want its own look at this.
"""

from __future__ import annotations

import re
from contextlib import AbstractContextManager, nullcontext
from typing import Any, cast

from sqlalchemy import Engine, Executable, Table, event, insert
from sqlalchemy.orm import Session

from pmdesk.core import lazy_pymysql, reads_along
from pmdesk.core.lazy_driver import ALONE, LAZY, LazyDriver, Waiting
from pmdesk.core.lazy_psycopg import PsycopgDriver
from pmdesk.core.lazy_pymysql import PyMySQLDriver
from pmdesk.core.reads_along import ALONG, Along

__all__ = [
    "AFTER_COMMIT",
    "ALONE",
    "DEFERRED",
    "ROWS_PER_INSERT",
    "WITH_COMMIT",
    "AfterCommit",
    "after_commit",
    "committed_along",
    "insert_later",
    "install",
    "mariadb_client_flags",
    "only_reads",
    "pending",
    "write_later",
]

# A SELECT that needs the transaction: row locks, settings local to it, side effects of a
# function (the server's own functions in server-enforced mode, sequences, notifications,
# advisory locks), or SELECT … INTO (which creates a table or sets variables).
_NEEDS_TRANSACTION = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)\b|\bLOCK\s+IN\s+SHARE\s+MODE\b"
    r"|\bset_config\s*\(|\bpg_notify\s*\(|\bpg_advisory|\bnextval\s*\(|\bsetval\s*\("
    r"|\bGET_LOCK\s*\(|\bINTO\b|" + reads_along.SERVER_FUNCTION_MAY_WRITE.pattern,
    re.IGNORECASE,
)

#: Execution option of a statement that writes and whose result nobody reads (no rows, no row
#: count, no new id): it waits and goes out with the unit's next statement or its COMMIT. Only
#: inside a unit of work's transaction (or one about to open); elsewhere it runs at once.
DEFERRED = "pmdesk_deferred"
# On the driver's connection: the statements waiting to go out, as (text, parameters).
_WAITING = "_pmdesk_waiting_statements"

#: Execution option of a unit of work's last statement, one whose answer is read (a new row's
#: id): its COMMIT goes out with it, in the same round trip, after the deferred writes ahead of
#: it. The unit has then committed: nothing may write after it, and nothing after it may fail
#: (a failure would not undo it). A statement that cannot carry it runs as usual, and the COMMIT
#: goes at the unit's end.
WITH_COMMIT = "pmdesk_with_commit"
# On the driver's connection: the unit's COMMIT went out with its last statement.
_COMMITTED = "_pmdesk_committed_along"
_COMMIT: Waiting = ("COMMIT", None)

#: Execution option of a statement that is a unit of its own but need not cost a round trip:
#: it goes out right after this unit's COMMIT, in the same round trip, and runs outside the
#: unit's transaction, so that whatever becomes of it the unit stays committed. Its value is an
#: ``AfterCommit``, which tells whether it ran; when it could not go along (nothing to commit
#: with, SQLite) or failed, the caller runs it the usual way.
AFTER_COMMIT = "pmdesk_after_commit"
# On the driver's connection: (statement, ticket) to send after the unit's COMMIT.
_AFTER = "_pmdesk_after_commit"


class AfterCommit:
    """Whether a statement sent after a unit's COMMIT ran (``AFTER_COMMIT``)."""

    def __init__(self) -> None:
        self.ran = False
        self.error: BaseException | None = None


def after_commit(session: Session, statement: Executable) -> AfterCommit:
    """Send ``statement`` right after the unit's COMMIT, in the same round trip, as a unit of
    its own (``AFTER_COMMIT``). Check ``ran`` once the unit has ended."""
    ticket = AfterCommit()
    if session.get_bind().dialect.name != "sqlite":  # SQLite: no wire, nothing to save
        session.execute(statement, execution_options={AFTER_COMMIT: ticket})
    return ticket


# A savepoint's opening and release: no answer to wait for (a ROLLBACK TO goes out at once).
_SAVEPOINT = re.compile(r"^\s*(?:SAVEPOINT|RELEASE\s+SAVEPOINT)\s+\w+\s*$", re.IGNORECASE)


def only_reads(statement: str) -> bool:
    """Whether ``statement`` can run outside the unit's transaction: a plain SELECT (or a
    MariaDB SHOW, which reads the server's state)."""
    head = statement.lstrip()[:6].upper()
    if head.startswith("SHOW "):
        return True
    return head == "SELECT" and _NEEDS_TRANSACTION.search(statement) is None


def write_later(session: Session, statement: Executable) -> None:
    """Run ``statement``, a write whose answer nobody reads, with the unit's next statement or
    its COMMIT (``DEFERRED``). An INSERT must not ask for new ids back (``Insert.inline``)."""
    session.execute(statement, execution_options={DEFERRED: True, "synchronize_session": False})


# One deferred multi-row INSERT takes this many rows at most (a dozen values each: well under
# every engine's limit on a statement's parameters); more become several.
ROWS_PER_INSERT = 200


def insert_later(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    """INSERT ``rows`` into ``model``'s table with the unit's next statement or its COMMIT
    (``write_later``), as few multi-row statements as it takes, asking for no ids back."""
    table = cast(Table, model.__table__)
    for start in range(0, len(rows), ROWS_PER_INSERT):
        write_later(session, insert(table).inline().values(rows[start : start + ROWS_PER_INSERT]))


def pending(dbapi_connection: Any) -> tuple[int, int, int]:
    """(deferred statements waiting, reads waiting to go along, answers taken so far) on this
    connection: what a round-trip counter needs to tell a statement sent from one kept."""
    driver = _driver(dbapi_connection)
    along, taken = reads_along.counts(driver)
    waiting = len(getattr(driver, _WAITING, ())) + len(getattr(driver, _AFTER, ()))
    return waiting, along, taken


def committed_along(dbapi_connection: Any) -> bool:
    """Whether the unit of work on this connection sent its COMMIT with its last statement
    (``WITH_COMMIT``): a round-trip counter then counts no COMMIT of its own."""
    return bool(getattr(_driver(dbapi_connection), _COMMITTED, False))


def mariadb_client_flags() -> int:
    """PyMySQL's ``client_flag`` for the engine (``lazy_pymysql.client_flags``)."""
    return lazy_pymysql.client_flags()


def install(engine: Engine) -> None:
    """Make ``engine``'s units of work open their transaction with their first write, and
    send deferred statements with the next one."""
    driver: LazyDriver = PsycopgDriver() if engine.dialect.name == "postgresql" else PyMySQLDriver()
    driver.listen(engine)
    event.listen(engine, "checkin", _forget_waiting)
    _wrap_execute(engine, driver)
    _wrap_ends(engine, driver)


def _wrap_ends(engine: Engine, driver: LazyDriver) -> None:
    """COMMIT takes the deferred statements along; ROLLBACK drops them. Neither is sent when
    no transaction is open (a unit that only read)."""
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        connection = _driver(dbapi_connection)
        reads_along.forget(connection)
        ahead = _take_waiting(connection)
        after: list[tuple[Waiting, AfterCommit]] = vars(connection).pop(_AFTER, [])
        if vars(connection).pop(_COMMITTED, False):
            assert not ahead, "written after the unit's last statement"  # refused earlier
            return  # the COMMIT went with the last statement
        if ahead:
            failed = driver.send_then(
                connection, [*ahead, _COMMIT], [statement for statement, _ in after]
            )
            for _statement, ticket in after:
                ticket.ran, ticket.error = failed is None, failed
        elif driver.in_transaction(connection):
            commit(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        connection = _driver(dbapi_connection)
        reads_along.forget(connection)
        _take_waiting(connection)  # never sent: nothing to undo on the server
        vars(connection).pop(_AFTER, None)
        vars(connection).pop(_COMMITTED, None)
        if driver.in_transaction(connection):
            rollback(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


def _wrap_execute(engine: Engine, driver: LazyDriver) -> None:
    """Route the dialect's execute calls through ``driver.begun`` when something must go out
    with the statement: the unit's BEGIN (its first statement that needs the transaction)
    and deferred statements ahead of it, reads along after it. A deferred statement or a read
    along waits here instead of running; a read whose answer came along takes it."""
    dialect = engine.dialect
    execute, execute_no_params, executemany = (
        dialect.do_execute,
        dialect.do_execute_no_params,
        dialect.do_executemany,
    )

    def ahead_of(cursor: Any, statement: str, along: list[Along]) -> list[Waiting]:
        """What must go out before ``statement`` (taken off the connection)."""
        connection = cursor.connection
        ahead = _take_waiting(connection)
        needs = driver.server_side(cursor) or not only_reads(statement)
        if getattr(connection, LAZY, False) and (
            needs or any(read.needs_transaction for read in along)
        ):
            setattr(connection, LAZY, False)
            ahead.insert(0, driver.begin_statement(connection))
        return ahead

    def opening(
        cursor: Any, statement: str, parameters: Any, options: Any
    ) -> AbstractContextManager[str]:
        connection = cursor.connection
        along = reads_along.take_queued(connection)
        last = bool(options.get(WITH_COMMIT, False))
        if last or (not parameters and ";" in statement.strip().rstrip(";")):
            along = []  # a script's answers are its own; none after a COMMIT: run when asked
        ahead = ahead_of(cursor, statement, along)
        if not driver.carries_begin(cursor, statement, parameters):
            if ahead:  # sent first, in one round trip of its own
                driver.send(connection, ahead)
            return nullcontext(statement)  # the reads along run when asked, as usual
        after = [_COMMIT] if last and (ahead or driver.in_transaction(connection)) else []
        if not ahead and not along and not after:
            return nullcontext(statement)
        if after:
            setattr(connection, _COMMITTED, True)  # cleared again if it fails
        return driver.begun(cursor, statement, parameters, ahead, along, after)

    def refuse_after_commit(connection: Any, statement: str, options: Any) -> None:
        """Nothing writes once the unit's COMMIT went with its last statement: it would run
        outside the transaction."""
        if getattr(connection, _COMMITTED, False) and (
            options.get(DEFERRED, False) or not only_reads(statement)
        ):
            raise RuntimeError(
                "a write after the unit of work's last statement (WITH_COMMIT): " + statement[:80]
            )

    def in_unit(connection: Any) -> bool:
        """A unit of work's transaction is open, or about to be, on the connection."""
        return bool(
            getattr(connection, LAZY, False)
            or _WAITING in vars(connection)
            or driver.in_transaction(connection)
        )

    def deferred(cursor: Any, statement: str, parameters: Any, options: Any) -> bool:
        """Keep a ``DEFERRED`` statement (or a savepoint's SAVEPOINT or RELEASE, whose answer
        nobody reads either) for later, when a unit's transaction is (about to be) open on
        the connection; an ``AFTER_COMMIT`` one for after the COMMIT."""
        connection = cursor.connection
        ticket = options.get(AFTER_COMMIT)
        if ticket is not None:
            if in_unit(connection):
                statement_then = driver.as_waiting(cursor, statement, parameters)
                connection.__dict__.setdefault(_AFTER, []).append((statement_then, ticket))
            return True  # outside a unit: nothing to go with; the caller runs it apart
        if not options.get(DEFERRED, False) and _SAVEPOINT.match(statement) is None:
            return False
        if not in_unit(connection):
            return False
        waiting: list[Waiting] = connection.__dict__.setdefault(_WAITING, [])
        if getattr(connection, LAZY, False):  # the statement opens the unit's transaction
            setattr(connection, LAZY, False)
            waiting.append(driver.begin_statement(connection))
        waiting.append(driver.as_waiting(cursor, statement, parameters))
        return True

    def kept_for_later(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        """A read along waits; a read whose answer came along takes it. True: nothing to
        send now."""
        connection = cursor.connection
        options = context.execution_options if context is not None else {}
        if options.get(ALONG, False):
            if in_unit(connection):
                text, values = driver.as_waiting(cursor, statement, parameters)
                key = _read_key(text, values)
                reads_along.queue(connection, Along(key, text, values, not only_reads(statement)))
            return True  # outside a unit: nothing to send along with; it runs when asked
        if reads_along.has_answers(connection):
            text, values = driver.as_waiting(cursor, statement, parameters)
            answer = reads_along.take_answer(connection, _read_key(text, values))
            if answer is not None:
                context.cursor = driver.answered(cursor, statement, answer)
                cursor.close()
                return True
        reads_along.note_statement(connection, statement)
        return deferred(cursor, statement, parameters, options)

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        options = context.execution_options if context is not None else {}
        refuse_after_commit(cursor.connection, statement, options)
        if kept_for_later(cursor, statement, parameters, context):
            return
        try:
            with opening(cursor, statement, parameters, options) as sent:
                execute(cursor, sent, parameters, context)
        except BaseException:
            vars(cursor.connection).pop(_COMMITTED, None)  # not committed: rolled back
            raise
        driver.after_execute(cursor)

    def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
        refuse_after_commit(cursor.connection, statement, {})
        reads_along.note_statement(cursor.connection, statement)
        if deferred(cursor, statement, None, {}):
            return
        with opening(cursor, statement, None, {}) as sent:
            execute_no_params(cursor, sent, context)
        driver.after_execute(cursor)

    def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        # A batch goes out as the driver sends it: what must go ahead goes first, alone.
        connection = cursor.connection
        refuse_after_commit(connection, statement, {})
        reads_along.note_statement(connection, statement)
        ahead = ahead_of(cursor, statement, reads_along.take_queued(connection))
        if ahead:
            driver.send(connection, ahead)
        executemany(cursor, statement, parameters, context)

    dialect.do_execute = do_execute  # type: ignore[method-assign]
    dialect.do_execute_no_params = do_execute_no_params  # type: ignore[method-assign]
    dialect.do_executemany = do_executemany  # type: ignore[method-assign]


def _read_key(text: str | bytes, values: Any) -> object:
    """What tells one read from another: its text and its values (already in the text on
    MariaDB)."""
    return (text, repr(values))


def _driver(connection: Any) -> Any:
    """The driver's connection, also when SQLAlchemy hands over the pool's proxy of it."""
    return getattr(connection, "dbapi_connection", connection)


def _take_waiting(connection: Any) -> list[Waiting]:
    return list(vars(_driver(connection)).pop(_WAITING, ()))


def _forget_waiting(dbapi_connection: Any, _record: Any) -> None:
    """SQLAlchemy's ``checkin`` event: nothing waits on a connection back in the pool (a unit
    that ended without COMMIT or ROLLBACK left it; it was never sent), nor is read along."""
    if dbapi_connection is not None:
        vars(dbapi_connection).pop(_WAITING, None)
        vars(dbapi_connection).pop(_AFTER, None)
        vars(dbapi_connection).pop(_COMMITTED, None)
        reads_along.forget(dbapi_connection)
