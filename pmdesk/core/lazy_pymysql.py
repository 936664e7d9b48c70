"""``lazy_transactions`` on MariaDB through PyMySQL: several statements go out as one
multi-statement query (one round trip), their values already in their text.

Connections run in autocommit: every statement outside a unit's transaction commits by
itself, and a unit opens its transaction with ``START TRANSACTION`` in front of its first
statement that needs one. Several statements in one query are allowed for this
(``client_flags``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from pmdesk.core import reads_along
from pmdesk.core.lazy_driver import ALONE, LAZY, Waiting
from pmdesk.core.reads_along import Along

_IN_TRANSACTION = 1  # pymysql.constants.SERVER_STATUS.SERVER_STATUS_IN_TRANS
BEGIN = "START TRANSACTION"


def client_flags() -> int:
    """PyMySQL's ``client_flag`` for the engine: SQLAlchemy's own (affected rows counted as
    found) plus several statements in one query, which ``START TRANSACTION; …`` needs."""
    from pymysql.constants import CLIENT

    return int(CLIENT.FOUND_ROWS | CLIENT.MULTI_STATEMENTS)


class PyMySQLDriver:
    def listen(self, engine: Engine) -> None:
        event.listen(engine, "connect", _autocommit)
        event.listen(engine, "begin", _start_lazily)

    def in_transaction(self, connection: Any) -> bool:
        return bool(connection.server_status & _IN_TRANSACTION)

    def begin_statement(self, connection: Any) -> Waiting:
        return BEGIN, None

    def as_waiting(self, cursor: Any, statement: str, parameters: Any) -> Waiting:
        """PyMySQL puts the values into the text itself (``mogrify``, as its ``execute``
        would)."""
        return cursor.mogrify(statement, parameters), None

    def send(self, connection: Any, statements: Sequence[Waiting]) -> None:
        with connection.cursor() as cursor:
            cursor.execute("; ".join(str(text) for text, _ in statements))
            self.after_execute(cursor)

    def send_then(
        self, connection: Any, statements: Sequence[Waiting], then: Sequence[Waiting]
    ) -> BaseException | None:
        """One query; its results are read in order, so a failure past the last of
        ``statements`` is ``then``'s (MariaDB runs nothing after a failed statement)."""
        with connection.cursor() as cursor:
            cursor.execute("; ".join(str(text) for text, _ in [*statements, *then]))
            done = 1
            try:
                while cursor.nextset():
                    done += 1
            except Exception as exc:
                if done < len(statements):
                    raise
                return exc
        return None

    def carries_begin(self, cursor: Any, statement: str, parameters: Any) -> bool:
        return True  # any statement can follow START TRANSACTION in one query

    def server_side(self, cursor: Any) -> bool:
        return False  # PyMySQL's streaming cursor needs no transaction

    @contextmanager
    def begun(
        self,
        cursor: Any,
        statement: str,
        parameters: Any,
        ahead: list[Waiting],
        along: list[Along],
        after: list[Waiting],
    ) -> Iterator[str]:
        """The statements ahead, the statement and the reads along go out as one query; the
        cursor is then moved on to the statement's own result, and the reads' results are
        kept for later. PyMySQL puts the statement's own values in with ``%``, so a ``%``
        around it is doubled to stay itself."""
        ahead_texts = [str(text) for text, _ in ahead]
        after_texts = [str(text) for text, _ in after]
        along_texts = [str(read.text) for read in along]
        if parameters is not None:
            ahead_texts = [text.replace("%", "%%") for text in ahead_texts]
            after_texts = [text.replace("%", "%%") for text in after_texts]
            along_texts = [text.replace("%", "%%") for text in along_texts]
        yield "; ".join([*ahead_texts, statement, *after_texts, *along_texts])
        for _ in ahead:
            cursor.nextset()
        if after or along:
            own = cursor._result
            for _ in after:
                cursor.nextset()
            for read in along:
                cursor.nextset()
                reads_along.keep(cursor.connection, read, cursor._result)
            _show(cursor, own, statement)

    def answered(self, cursor: Any, statement: str, answer: Any) -> Any:
        fresh = type(cursor)(cursor.connection)
        _show(fresh, answer, statement)
        return fresh

    def after_execute(self, cursor: Any) -> None:
        """Move the cursor on to its last result, reading the others (already sent with the
        first: no round trip). A script sent as one query (several commands, no parameters)
        must fail when any of its commands fails, not only its first, as on PostgreSQL."""
        while cursor.nextset():
            pass


def _show(cursor: Any, result: Any, statement: str) -> None:
    """Make ``result`` (a PyMySQL result, all rows read) the cursor's current one."""
    cursor._result = result
    cursor._executed = statement
    cursor.rowcount = result.affected_rows
    cursor.warning_count = result.warning_count
    cursor.description = result.description
    cursor.lastrowid = result.insert_id
    cursor._rows = result.rows
    cursor.rownumber = 0


def _autocommit(dbapi_connection: Any, _record: Any) -> None:
    """SQLAlchemy's ``connect`` event, after its own (which turns autocommit off): every
    statement outside a unit's transaction commits by itself. Once per connection."""
    dbapi_connection.autocommit(True)


def _start_lazily(connection: Any) -> None:
    """SQLAlchemy's ``begin`` event: the unit of work starts without a transaction (unless
    one is open on the connection already: then it goes on in it)."""
    dbapi_connection = connection.connection.dbapi_connection
    in_transaction = dbapi_connection.server_status & _IN_TRANSACTION
    alone = connection.get_execution_options().get(ALONE, False)
    setattr(dbapi_connection, LAZY, not in_transaction and not alone)
