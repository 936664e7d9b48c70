"""Count the round trips a piece of work makes to the database server, from inside the process.

``count_round_trips(db)`` listens on ``db``'s engine while the block runs and counts what goes
over the wire after a connection is open (a workstation 30 ms from its server waits that long
for each):

- every statement SQLAlchemy sends (``before_cursor_execute``: also SAVEPOINT / RELEASE, which
  SQLAlchemy sends as statements, and ``exec_driver_sql``);
- the transaction control the driver sends by itself: psycopg sends ``BEGIN`` before the first
  statement of a transaction it opens (not in autocommit, where pmdesk's units of work start:
  ``pmdesk.core.lazy_transactions`` sends the ``BEGIN`` with the first write instead), and
  ``COMMIT`` / ``ROLLBACK`` only when a transaction is open; PyMySQL sends ``COMMIT`` and
  ``ROLLBACK`` whenever asked (pmdesk asks only when a transaction is open);
- statements kept for later (``lazy_transactions.DEFERRED``) and reads sent along
  (``reads_along.read_along``) are not trips of their own: they go out with the next
  statement or the COMMIT, whose trip names how many it took along; a read whose answer came
  along is no trip either; nor is a COMMIT sent with the unit's last statement
  (``lazy_transactions.WITH_COMMIT``), which that statement's line names;
- the pool's ping on checkout, when it pings (``pmdesk.core.db._ping_if_idle``: ``SELECT 1``
  in autocommit on psycopg, a ``COM_PING`` on PyMySQL), and the pool's rollback when a
  connection comes back inside a transaction.

New connections (their handshake, and what pmdesk's ``connect`` events send on them) are
counted apart in ``connects``: the issue's goals are "after the connection is open".

On SQLite nothing goes over a wire: ``total`` is then the number of calls into the library
(statements, BEGIN, COMMIT), which still shows repeated work.

``tests/perf/test_round_trips.py`` checks these counts against the bytes a TCP proxy
(``tests.helpers.latency_proxy``) sees go back and forth, so nothing is hidden.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from pmdesk.core.db import Database
from pmdesk.core.lazy_transactions import committed_along, pending

_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE


@dataclass
class Counter:
    """What ``count_round_trips`` saw: ``statements`` (first lines, in order, driver-sent ones
    in brackets) and how many round trips they were."""

    statements: list[str] = field(default_factory=list)
    connects: int = 0
    deferred: list[str] = field(default_factory=list)  # waiting to go with the next trip
    answered: list[str] = field(default_factory=list)  # answered by a read sent along

    @property
    def total(self) -> int:
        return len(self.statements)

    def add(self, what: str) -> None:
        self.statements.append(what)

    def defer_last(self) -> None:
        """The statement just added waits for the next trip instead of being one."""
        self.deferred.append(self.statements.pop()[:50])

    def answered_last(self) -> None:
        """The statement just added took an answer that came along earlier: no trip."""
        self.answered.append(self.statements.pop()[:50])

    def carried_by_last(self) -> None:
        """The last trip took the deferred statements along: say so on its line."""
        if self.deferred:
            self.statements[-1] += (
                f"  (+ {len(self.deferred)} sent along: {'; '.join(self.deferred)})"
            )
            self.deferred.clear()

    def describe(self) -> str:
        """One line per trip, for an assertion message."""
        lines = [f"{self.total} round trips ({self.connects} new connections not counted):"]
        lines += [f"  {i + 1:2}. {s}" for i, s in enumerate(self.statements)]
        return "\n".join(lines)


def first_line(statement: str, width: int = 110) -> str:
    line = " ".join(statement.split())
    return line if len(line) <= width else line[: width - 1] + "…"


class _Listener:
    """The events of one engine, turned into round trips per the driver's behaviour."""

    def __init__(self, db: Database, counter: Counter) -> None:
        self.db = db
        self.backend = db.backend
        self.counter = counter
        self.in_reset = False  # a driver ROLLBACK now is the pool's reset on return
        self.pending_before: dict[int, tuple[int, int, int]] = {}  # before the current one

    # ----- the driver's own transaction control ---------------------------------------------

    def _psycopg_idle(self, dbapi_connection: Any) -> bool:
        return bool(
            not dbapi_connection.autocommit and dbapi_connection.info.transaction_status == _IDLE
        )

    def _implicit_begin(self, dbapi_connection: Any) -> None:
        if self.backend == "postgresql" and self._psycopg_idle(dbapi_connection):
            self.counter.add("[BEGIN, sent by psycopg]")

    def _end(self, dbapi_connection: Any, what: str) -> None:
        """COMMIT or ROLLBACK: psycopg sends nothing when no transaction is open. PyMySQL's
        are counted where the driver sends them (``driver_end``), whoever asked. A COMMIT
        with deferred statements waiting takes them along in one trip (any driver); a
        ROLLBACK drops them unsent."""
        if what == "COMMIT" and pending(dbapi_connection)[0]:
            self.counter.add("[COMMIT]")
            self.counter.carried_by_last()
            return
        if what == "ROLLBACK":
            self.counter.deferred.clear()
        if self.backend != "postgresql" or dbapi_connection.info.transaction_status == _IDLE:
            return  # (pmdesk opens transactions itself, in autocommit: lazy_transactions)
        self.counter.add(f"[{what}]")

    def driver_end(self, what: str) -> None:
        """PyMySQL sent COMMIT or ROLLBACK (it always sends what it is asked)."""
        if what == "ROLLBACK" and self.in_reset:
            what = "ROLLBACK, the pool's reset on return"
        self.counter.add(f"[{what}]")

    # ----- SQLAlchemy's events --------------------------------------------------------------

    def before_cursor_execute(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        driver = conn.connection.dbapi_connection
        self._implicit_begin(driver)
        self.counter.add(first_line(statement))
        self.pending_before[id(driver)] = pending(driver)

    def after_cursor_execute(self, conn: Any, _cursor: Any, *_args: Any) -> None:
        driver = conn.connection.dbapi_connection
        deferred, along, taken = self.pending_before.pop(id(driver), (0, 0, 0))
        now_deferred, now_along, now_taken = pending(driver)
        if now_deferred > deferred or now_along > along:
            self.counter.defer_last()  # kept on the connection, not sent
        elif now_taken > taken:
            self.counter.answered_last()  # its answer came along with an earlier trip
        else:
            if committed_along(driver):  # the unit's COMMIT went with it (WITH_COMMIT)
                self.counter.deferred.append("[COMMIT]")
            self.counter.carried_by_last()

    def commit(self, conn: Any) -> None:
        self._end(conn.connection.dbapi_connection, "COMMIT")

    def rollback(self, conn: Any) -> None:
        self._end(conn.connection.dbapi_connection, "ROLLBACK")

    def reset(self, dbapi_connection: Any, _record: Any, state: Any) -> None:
        # Runs before pmdesk's own reset listener (db._mariadb_reset), which may roll back.
        self.in_reset = True
        if not state.transaction_was_reset and not state.terminate_only:
            self._end(dbapi_connection, "ROLLBACK, the pool's reset on return")

    def checkin(self, _dbapi_connection: Any, _record: Any) -> None:
        self.in_reset = False  # the reset is over

    def connect(self, _dbapi_connection: Any, _record: Any) -> None:
        self.counter.connects += 1

    def ping(self) -> None:
        # SQLAlchemy pings psycopg in autocommit (no BEGIN), PyMySQL with COM_PING.
        self.counter.add("[pre-ping]")


@contextmanager
def count_round_trips(db: Database) -> Iterator[Counter]:
    """Count the round trips to ``db``'s server while the block runs (any thread)."""
    counter = Counter()
    listener = _Listener(db, counter)
    engine = db.engine
    hooks: list[tuple[Any, str, Any]] = [
        (engine, "before_cursor_execute", listener.before_cursor_execute),
        (engine, "after_cursor_execute", listener.after_cursor_execute),
        (engine, "commit", listener.commit),
        (engine, "rollback", listener.rollback),
        (engine.pool, "reset", listener.reset),
        (engine.pool, "checkin", listener.checkin),
        (engine.pool, "connect", listener.connect),
    ]
    for target, name, fn in hooks:
        # The reset before pmdesk's own (which may roll back); the rest after pmdesk's own
        # (which may refuse a statement before it is sent).
        event.listen(target, name, fn, insert=name == "reset")
    dialect = engine.dialect
    original_ping = dialect.do_ping

    def counted_ping(dbapi_connection: Any) -> Any:
        listener.ping()
        return original_ping(dbapi_connection)

    dialect.do_ping = counted_ping  # type: ignore[method-assign]
    driver = (
        _count_driver_ends(listener) if db.backend != "postgresql" else contextlib.nullcontext()
    )
    try:
        with driver:
            yield counter
    finally:
        del dialect.do_ping
        for target, name, fn in hooks:
            event.remove(target, name, fn)


@contextmanager
def _count_driver_ends(listener: _Listener) -> Iterator[None]:
    """PyMySQL's COMMIT and ROLLBACK, counted as the driver sends them (any connection)."""
    import pymysql.connections

    cls = pymysql.connections.Connection
    commit, rollback = cls.commit, cls.rollback

    def counted_commit(self: Any) -> None:
        listener.driver_end("COMMIT")
        commit(self)

    def counted_rollback(self: Any) -> None:
        listener.driver_end("ROLLBACK")
        rollback(self)

    cls.commit, cls.rollback = counted_commit, counted_rollback  # type: ignore[method-assign]
    try:
        yield
    finally:
        cls.commit, cls.rollback = commit, rollback  # type: ignore[method-assign]
