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

``install`` is called by ``pmdesk.core.db.make_engine`` for both server engines.

MariaDB connections allow several statements in one query for this. That would let a statement
pieced together from input run a second one; pmdesk binds every value as a parameter, and a
client-enforced MariaDB trusts whoever holds its login anyway. A server-enforced MariaDB would
want its own look at this.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, cast

from sqlalchemy import Engine, Executable, Table, event, insert
from sqlalchemy.orm import Session

from pmdesk.core import reads_along
from pmdesk.core.reads_along import ALONG, Along

# A SELECT that needs the transaction: row locks, settings local to it, side effects of a
# function (the server's own functions in server-enforced mode, sequences, notifications,
# advisory locks), or SELECT … INTO (which creates a table or sets variables).
_NEEDS_TRANSACTION = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+UPDATE|UPDATE|KEY\s+SHARE|SHARE)\b|\bLOCK\s+IN\s+SHARE\s+MODE\b"
    r"|\bset_config\s*\(|\bpg_notify\s*\(|\bpg_advisory|\bnextval\s*\(|\bsetval\s*\("
    r"|\bGET_LOCK\s*\(|\bINTO\b|" + reads_along.SERVER_FUNCTION_MAY_WRITE.pattern,
    re.IGNORECASE,
)
# On the driver's connection (the execute hooks see only its cursor): the unit of work running
# on it has not opened its transaction yet.
_LAZY = "_pmdesk_lazy_transaction"
# On a psycopg connection: pmdesk put it in autocommit for this checkout (and takes it out).
_MANAGED = "_pmdesk_managed_autocommit"

#: Execution option of a unit of work made of one statement that writes (``Database.alone``):
#: it runs outside any transaction, committed by the server as it runs (one round trip).
ALONE = "pmdesk_alone"

#: Execution option of a statement that writes and whose result nobody reads (no rows, no row
#: count, no new id): it waits and goes out with the unit's next statement or its COMMIT. Only
#: inside a unit of work's transaction (or one about to open); elsewhere it runs at once.
DEFERRED = "pmdesk_deferred"
# On the driver's connection: the statements waiting to go out, as (text, parameters).
_WAITING = "_pmdesk_waiting_statements"

# A savepoint's opening and release: no answer to wait for (a ROLLBACK TO goes out at once).
_SAVEPOINT = re.compile(r"^\s*(?:SAVEPOINT|RELEASE\s+SAVEPOINT)\s+\w+\s*$", re.IGNORECASE)

_IN_TRANSACTION = 1  # pymysql.constants.SERVER_STATUS.SERVER_STATUS_IN_TRANS
_PG_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE
MARIADB_BEGIN = "START TRANSACTION"


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
    return len(getattr(driver, _WAITING, ())), along, taken


def mariadb_client_flags() -> int:
    """PyMySQL's ``client_flag`` for the engine: SQLAlchemy's own (affected rows counted as
    found) plus several statements in one query, which ``START TRANSACTION; …`` needs."""
    from pymysql.constants import CLIENT

    return int(CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS)


def install(engine: Engine) -> None:
    """Make ``engine``'s units of work open their transaction with their first write, and
    send deferred statements with the next one."""
    if engine.dialect.name == "postgresql":
        event.listen(engine, "begin", _pg_start_lazily)
        event.listen(engine, "checkin", _pg_settle)
        event.listen(engine, "checkin", _forget_waiting)
        _wrap_execute(engine, _pg_begun, None, _pg_answered)
        _wrap_ends(engine, _pg_send, None)
    else:
        event.listen(engine, "connect", _mariadb_autocommit)
        event.listen(engine, "begin", _mariadb_start_lazily)
        event.listen(engine, "checkin", _forget_waiting)
        _wrap_execute(engine, _mariadb_begun, _mariadb_last_result, _mariadb_answered)
        _wrap_ends(engine, _mariadb_send, _mariadb_in_transaction)


def _wrap_ends(
    engine: Engine,
    send: Callable[[Any, list[Waiting]], None],
    in_transaction: Callable[[Any], bool] | None,
) -> None:
    """COMMIT takes the deferred statements along (``send``); ROLLBACK drops them. With
    ``in_transaction`` (MariaDB), neither is sent when no transaction is open."""
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        reads_along.forget(_driver(dbapi_connection))
        ahead = _take_waiting(dbapi_connection)
        if ahead:
            send(_driver(dbapi_connection), [*ahead, ("COMMIT", None)])
        elif in_transaction is None or in_transaction(dbapi_connection):
            commit(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        reads_along.forget(_driver(dbapi_connection))
        _take_waiting(dbapi_connection)  # never sent: nothing to undo on the server
        if in_transaction is None or in_transaction(dbapi_connection):
            rollback(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


# A statement waiting to go out: its text and parameters (None: none), as the driver takes them.
Waiting = tuple[str | bytes, Any]
# Sends ``ahead`` and the reads along with the statement in one round trip (and may rewrite it).
Begun = Callable[[Any, str, Any, list[Waiting], list[Along]], AbstractContextManager[str]]
# Puts an answer read along into a new cursor of the driver's, as if it had just executed.
Answered = Callable[[Any, str, Any], Any]


def _wrap_execute(
    engine: Engine, begun: Begun, after: Callable[[Any], None] | None, answered: Answered
) -> None:
    """Route the dialect's execute calls through ``begun`` when something must go out with
    the statement: the unit's BEGIN (its first statement that needs the transaction) and
    deferred statements ahead of it, reads along after it. A deferred statement or a read
    along waits here instead of running; a read whose answer came along takes it
    (``answered``). ``after`` runs after each execute."""
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
        needs = _server_side(cursor) or not only_reads(statement)
        if getattr(connection, _LAZY, False) and (
            needs or any(read.needs_transaction for read in along)
        ):
            setattr(connection, _LAZY, False)
            ahead.insert(0, _begin_statement(connection))
        return ahead

    def opening(cursor: Any, statement: str, parameters: Any) -> AbstractContextManager[str]:
        connection = cursor.connection
        along = reads_along.take_queued(connection)
        if not parameters and ";" in statement.strip().rstrip(";"):
            along = []  # a script's answers are its own: the reads run when asked
        ahead = ahead_of(cursor, statement, along)
        if not ahead and not along:
            return nullcontext(statement)
        if not _carries_begin(cursor, statement, parameters):
            if ahead:
                _send_alone(connection, ahead)
            return nullcontext(statement)  # the reads along run when asked, as usual
        return begun(cursor, statement, parameters, ahead, along)

    def in_unit(connection: Any) -> bool:
        """A unit of work's transaction is open, or about to be, on the connection."""
        return bool(
            getattr(connection, _LAZY, False)
            or _WAITING in vars(connection)
            or _in_transaction(connection)
        )

    def deferred(cursor: Any, statement: str, parameters: Any, options: Any) -> bool:
        """Keep a ``DEFERRED`` statement (or a savepoint's SAVEPOINT or RELEASE, whose answer
        nobody reads either) for later, when a unit's transaction is (about to be) open on
        the connection."""
        if not options.get(DEFERRED, False) and _SAVEPOINT.match(statement) is None:
            return False
        connection = cursor.connection
        if not in_unit(connection):
            return False
        lazy = getattr(connection, _LAZY, False)
        waiting: list[Waiting] = connection.__dict__.setdefault(_WAITING, [])
        if lazy:  # the statement opens the unit's transaction
            setattr(connection, _LAZY, False)
            waiting.append(_begin_statement(connection))
        waiting.append(_as_waiting(cursor, statement, parameters))
        return True

    def kept_for_later(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        """A read along waits; a read whose answer came along takes it. True: nothing to
        send now."""
        connection = cursor.connection
        options = context.execution_options if context is not None else {}
        if options.get(ALONG, False):
            if in_unit(connection):
                text, values = _as_waiting(cursor, statement, parameters)
                key = _read_key(text, values)
                reads_along.queue(connection, Along(key, text, values, not only_reads(statement)))
            return True  # outside a unit: nothing to send along with; it runs when asked
        if reads_along.has_answers(connection):
            text, values = _as_waiting(cursor, statement, parameters)
            answer = reads_along.take_answer(connection, _read_key(text, values))
            if answer is not None:
                context.cursor = answered(cursor, statement, answer)
                cursor.close()
                return True
        reads_along.note_statement(connection, statement)
        return deferred(cursor, statement, parameters, options)

    def do_execute(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        if kept_for_later(cursor, statement, parameters, context):
            return
        with opening(cursor, statement, parameters) as sent:
            execute(cursor, sent, parameters, context)
        if after is not None:
            after(cursor)

    def do_execute_no_params(cursor: Any, statement: str, context: Any = None) -> None:
        reads_along.note_statement(cursor.connection, statement)
        if deferred(cursor, statement, None, {}):
            return
        with opening(cursor, statement, None) as sent:
            execute_no_params(cursor, sent, context)
        if after is not None:
            after(cursor)

    def do_executemany(cursor: Any, statement: str, parameters: Any, context: Any = None) -> None:
        # A batch goes out as the driver sends it: what must go ahead goes first, alone.
        connection = cursor.connection
        reads_along.note_statement(connection, statement)
        ahead = ahead_of(cursor, statement, reads_along.take_queued(connection))
        if ahead:
            _send_alone(connection, ahead)
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
        reads_along.forget(dbapi_connection)


def _in_transaction(connection: Any) -> bool:
    if hasattr(connection, "pgconn"):
        return bool(connection.info.transaction_status != _PG_IDLE)
    return _mariadb_in_transaction(connection)


def _as_waiting(cursor: Any, statement: str, parameters: Any) -> Waiting:
    """A statement to send later. PyMySQL puts the values into the text itself (``mogrify``,
    as its ``execute`` would); psycopg sends them apart."""
    if hasattr(cursor.connection, "pgconn"):
        return statement, parameters
    return cursor.mogrify(statement, parameters), None


def _send_alone(connection: Any, ahead: list[Waiting]) -> None:
    """What must go ahead of a statement that cannot take it along: sent first, in one round
    trip of its own."""
    if hasattr(connection, "pgconn"):
        _pg_send(connection, ahead)
    else:
        _mariadb_send(connection, ahead)


def _begin_statement(connection: Any) -> Waiting:
    if hasattr(connection, "pgconn"):
        return _pg_begin_statement(connection), None
    return MARIADB_BEGIN, None


def _carries_begin(cursor: Any, statement: str, parameters: Any) -> bool:
    """Whether the statement can take the BEGIN along. Not on PostgreSQL through a server-side
    cursor (rows streamed in batches: it lives in a transaction, and joins no pipeline), nor
    when it may hold several commands (a set-up script without parameters, which no pipeline
    takes; a ``;`` inside a quoted text only costs a BEGIN of its own)."""
    if not hasattr(cursor.connection, "pgconn"):
        return True  # PyMySQL: any statement can follow START TRANSACTION in one query
    if _server_side(cursor):
        return False
    return bool(parameters) or ";" not in statement.strip().rstrip(";")


def _server_side(cursor: Any) -> bool:
    """A psycopg server-side cursor (``stream_results``); PyMySQL's streaming cursor needs no
    transaction."""
    return getattr(cursor, "name", None) is not None and hasattr(cursor, "itersize")


# ----- PostgreSQL (psycopg) --------------------------------------------------------------------


def _pg_start_lazily(connection: Any) -> None:
    """SQLAlchemy's ``begin`` event: the unit of work starts without a transaction."""
    dbapi_connection = connection.connection.dbapi_connection
    idle = dbapi_connection.info.transaction_status == _PG_IDLE
    lazy = idle and not connection.get_execution_options().get(ALONE, False)
    if getattr(dbapi_connection, _MANAGED, False):
        setattr(dbapi_connection, _LAZY, lazy)  # the next unit on the same checkout
        return
    if dbapi_connection.autocommit or not idle:
        return  # asked for autocommit, or already in a transaction: leave it so
    dbapi_connection.autocommit = True
    setattr(dbapi_connection, _MANAGED, True)
    setattr(dbapi_connection, _LAZY, lazy)


@contextmanager
def _pg_begun(
    cursor: Any, statement: str, _parameters: Any, ahead: list[Waiting], along: list[Along]
) -> Iterator[str]:
    """``ahead`` (the transaction's ``BEGIN``, deferred statements), the statement and the
    reads along go out in one pipeline, answered together after its sync (one round trip).
    The connection stays in autocommit for psycopg, which then adds no ``BEGIN`` of its own;
    its commit and rollback act on whatever transaction the server has open."""
    connection = cursor.connection
    answers: list[tuple[Along, Any]] = []
    with connection.pipeline():
        for text, parameters in ahead:
            connection.execute(text, parameters)
        yield statement
        answers = [(read, connection.execute(read.text, read.parameters)) for read in along]
    for read, answer in answers:
        reads_along.keep(connection, read, answer)


def _pg_answered(_cursor: Any, _statement: str, answer: Any) -> Any:
    """A read along's answer is the psycopg cursor it ran on: SQLAlchemy reads that one."""
    return answer


def _pg_send(connection: Any, statements: list[Waiting]) -> None:
    """Several statements in one pipeline: one round trip."""
    with connection.pipeline():
        for text, parameters in statements:
            connection.execute(text, parameters)


def _pg_begin_statement(connection: Any) -> bytes:
    """``BEGIN`` at the connection's isolation level, as psycopg itself would say it."""
    from psycopg import IsolationLevel

    level = connection.isolation_level
    if level is None:
        return b"BEGIN"
    return b"BEGIN ISOLATION LEVEL " + IsolationLevel(level).name.replace("_", " ").encode()


def _pg_settle(dbapi_connection: Any, _record: Any) -> None:
    """SQLAlchemy's ``checkin`` event: a connection back in the pool leaves as it came, out
    of autocommit (set on the client: no round trip)."""
    if dbapi_connection is None or not getattr(dbapi_connection, _MANAGED, False):
        return
    setattr(dbapi_connection, _MANAGED, False)
    setattr(dbapi_connection, _LAZY, False)
    if not dbapi_connection.closed and dbapi_connection.info.transaction_status == _PG_IDLE:
        dbapi_connection.autocommit = False


# ----- MariaDB (PyMySQL) -----------------------------------------------------------------------


def _mariadb_autocommit(dbapi_connection: Any, _record: Any) -> None:
    """SQLAlchemy's ``connect`` event, after its own (which turns autocommit off): every
    statement outside a unit's transaction commits by itself. Once per connection."""
    dbapi_connection.autocommit(True)


def _mariadb_start_lazily(connection: Any) -> None:
    """SQLAlchemy's ``begin`` event: the unit of work starts without a transaction (unless
    one is open on the connection already: then it goes on in it)."""
    dbapi_connection = connection.connection.dbapi_connection
    in_transaction = dbapi_connection.server_status & _IN_TRANSACTION
    alone = connection.get_execution_options().get(ALONE, False)
    setattr(dbapi_connection, _LAZY, not in_transaction and not alone)


def _mariadb_in_transaction(dbapi_connection: Any) -> bool:
    return bool(dbapi_connection.server_status & _IN_TRANSACTION)


@contextmanager
def _mariadb_begun(
    cursor: Any, statement: str, parameters: Any, ahead: list[Waiting], along: list[Along]
) -> Iterator[str]:
    """``ahead`` (``START TRANSACTION``, deferred statements, their values already in their
    text), the statement and the reads along go out as one query; the cursor is then moved on
    to the statement's own result, and the reads' results are kept for later. PyMySQL puts the
    statement's own values in with ``%``, so a ``%`` around it is doubled to stay itself."""
    ahead_texts = [str(text) for text, _ in ahead]
    along_texts = [str(read.text) for read in along]
    if parameters is not None:
        ahead_texts = [text.replace("%", "%%") for text in ahead_texts]
        along_texts = [text.replace("%", "%%") for text in along_texts]
    yield "; ".join([*ahead_texts, statement, *along_texts])
    for _ in ahead:
        cursor.nextset()
    if along:
        own = cursor._result
        for read in along:
            cursor.nextset()
            reads_along.keep(cursor.connection, read, cursor._result)
        _mariadb_show(cursor, own, statement)


def _mariadb_answered(cursor: Any, statement: str, answer: Any) -> Any:
    """A new cursor showing a read along's result, as if it had just run the read."""
    fresh = type(cursor)(cursor.connection)
    _mariadb_show(fresh, answer, statement)
    return fresh


def _mariadb_show(cursor: Any, result: Any, statement: str) -> None:
    """Make ``result`` (a PyMySQL result, all rows read) the cursor's current one."""
    cursor._result = result
    cursor._executed = statement
    cursor.rowcount = result.affected_rows
    cursor.warning_count = result.warning_count
    cursor.description = result.description
    cursor.lastrowid = result.insert_id
    cursor._rows = result.rows
    cursor.rownumber = 0


def _mariadb_send(connection: Any, statements: list[Waiting]) -> None:
    """Several statements in one query: one round trip (each must succeed)."""
    with connection.cursor() as cursor:
        cursor.execute("; ".join(str(text) for text, _ in statements))
        _mariadb_last_result(cursor)


def _mariadb_last_result(cursor: Any) -> None:
    """After every query: move the cursor on to its last result, reading the others (already
    sent with the first: no round trip). Several statements in one query are allowed for
    ``START TRANSACTION; …``, and a script sent as one (several commands, no parameters) must
    fail when any of its commands fails, not only its first, as on PostgreSQL."""
    while cursor.nextset():
        pass
