"""``lazy_transactions`` on PostgreSQL through psycopg: several statements go out in one
pipeline, answered together after its sync (one round trip).

The connection stays in autocommit for psycopg while a unit of work runs, so psycopg adds no
``BEGIN`` of its own (it would wait for its answer, in pipeline mode too); pmdesk sends the
``BEGIN`` with the unit's first statement that needs the transaction. psycopg's commit and
rollback act on whatever transaction the server has open.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event

from pmdesk.core import reads_along
from pmdesk.core.lazy_driver import ALONE, LAZY, Waiting
from pmdesk.core.reads_along import Along

_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE
# On a psycopg connection: pmdesk put it in autocommit for this checkout (and takes it out).
_MANAGED = "_pmdesk_managed_autocommit"


class PsycopgDriver:
    def listen(self, engine: Engine) -> None:
        event.listen(engine, "begin", _start_lazily)
        event.listen(engine, "checkin", _settle)

    def in_transaction(self, connection: Any) -> bool:
        return bool(connection.info.transaction_status != _IDLE)

    def begin_statement(self, connection: Any) -> Waiting:
        """``BEGIN`` at the connection's isolation level, as psycopg itself would say it."""
        from psycopg import IsolationLevel

        level = connection.isolation_level
        if level is None:
            return b"BEGIN", None
        name = IsolationLevel(level).name.replace("_", " ").encode()
        return b"BEGIN ISOLATION LEVEL " + name, None

    def as_waiting(self, cursor: Any, statement: str, parameters: Any) -> Waiting:
        return statement, parameters  # psycopg sends the values apart

    def send(self, connection: Any, statements: Sequence[Waiting]) -> None:
        with connection.pipeline():
            for text, parameters in statements:
                connection.execute(text, parameters)

    def send_then(
        self, connection: Any, statements: Sequence[Waiting], then: Sequence[Waiting]
    ) -> BaseException | None:
        """One pipeline; the statements ``then`` run after the last of ``statements`` (its
        COMMIT), each in a transaction of its own, and psycopg reports the first failure at
        the end: it is ``then``'s when the last of ``statements`` completed."""
        if not then:
            self.send(connection, statements)
            return None
        cursors: list[Any] = []
        try:
            with connection.pipeline():
                for text, parameters in statements:
                    cursors.append(connection.execute(text, parameters))
                for text, parameters in then:
                    connection.execute(text, parameters)
        except Exception as exc:
            # Not all sent (a connection lost on the way), or the COMMIT did not complete.
            if len(cursors) < len(statements) or not _completed(cursors[-1]):
                raise
            return exc
        return None

    def carries_begin(self, cursor: Any, statement: str, parameters: Any) -> bool:
        """Not through a server-side cursor (rows streamed in batches: it joins no pipeline),
        nor a statement that may hold several commands (a set-up script without parameters,
        which no pipeline takes; a ``;`` inside a quoted text only costs a trip of its own)."""
        if self.server_side(cursor):
            return False
        return bool(parameters) or ";" not in statement.strip().rstrip(";")

    def server_side(self, cursor: Any) -> bool:
        return getattr(cursor, "name", None) is not None and hasattr(cursor, "itersize")

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
        connection = cursor.connection
        answers: list[tuple[Along, Any]] = []
        with connection.pipeline():
            for text, values in ahead:
                connection.execute(text, values)
            yield statement
            for text, values in after:
                connection.execute(text, values)
            answers = [(read, connection.execute(read.text, read.parameters)) for read in along]
        for read, answer in answers:
            reads_along.keep(connection, read, answer)

    def answered(self, cursor: Any, statement: str, answer: Any) -> Any:
        return answer  # the psycopg cursor the read ran on: SQLAlchemy reads that one

    def after_execute(self, cursor: Any) -> None:
        pass


def _completed(cursor: Any) -> bool:
    """Whether a statement sent in a pipeline ran to its end (a COMMIT: committed)."""
    try:
        result = cursor.pgresult
    except Exception:
        return False
    if result is None:
        return False
    from psycopg import pq

    return bool(result.status == pq.ExecStatus.COMMAND_OK and result.command_status == b"COMMIT")


def _start_lazily(connection: Any) -> None:
    """SQLAlchemy's ``begin`` event: the unit of work starts without a transaction."""
    dbapi_connection = connection.connection.dbapi_connection
    idle = dbapi_connection.info.transaction_status == _IDLE
    lazy = idle and not connection.get_execution_options().get(ALONE, False)
    if getattr(dbapi_connection, _MANAGED, False):
        setattr(dbapi_connection, LAZY, lazy)  # the next unit on the same checkout
        return
    if dbapi_connection.autocommit or not idle:
        return  # asked for autocommit, or already in a transaction: leave it so
    dbapi_connection.autocommit = True
    setattr(dbapi_connection, _MANAGED, True)
    setattr(dbapi_connection, LAZY, lazy)


def _settle(dbapi_connection: Any, _record: Any) -> None:
    """SQLAlchemy's ``checkin`` event: a connection back in the pool leaves as it came, out
    of autocommit (set on the client: no round trip)."""
    if dbapi_connection is None or not getattr(dbapi_connection, _MANAGED, False):
        return
    setattr(dbapi_connection, _MANAGED, False)
    setattr(dbapi_connection, LAZY, False)
    if not dbapi_connection.closed and dbapi_connection.info.transaction_status == _IDLE:
        dbapi_connection.autocommit = False
