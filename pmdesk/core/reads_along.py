"""Reads that travel with a unit of work's next statement, answered before they are asked.

A sign-in step first locks the person, then reads a handful of small things: the failure row
for this address, the office networks, the trusted address, the live helpdesk code, the codes
sent lately. None of those reads depends on the lock's answer, only on its having been taken;
each costs a round trip of its own all the same. ``read_along`` names them beforehand: they go
out right after the unit's next statement, in the same round trip (a pipeline on PostgreSQL,
one multi-statement query on MariaDB: ``pmdesk.core.lazy_transactions`` sends them), and run
on the server after it, in order, so a read that follows a lock sees what the lock's holder
before it committed. When the unit then executes the same statement with the same values,
the answer is there and nothing is sent.

An answer is dropped when the unit writes to a table it read (an INSERT, UPDATE or DELETE
sent or deferred; anything else that may write, such as a function call, drops every answer),
so a read never shows the unit less than it has written. Writes made by triggers are not
seen here: a read along must not read a table that a trigger of the unit's writes changes.
Answers and reads not yet sent are forgotten when the unit ends.

This module keeps the books (on the driver's connection); ``lazy_transactions`` sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Executable
from sqlalchemy.orm import Session

#: Execution option of a read to send with the unit's next statement (``read_along``).
ALONG = "pmdesk_read_along"

# On the driver's connection: the reads to send with the next statement, the answers come
# back for the unit, and how many answers were taken (for the round-trip counter).
_QUEUED = "_pmdesk_reads_queued"
_ANSWERS = "_pmdesk_read_answers"
_TAKEN = "_pmdesk_read_answers_taken"

_WRITE = re.compile(
    r"^\s*(?:INSERT\s+(?:IGNORE\s+)?INTO|UPDATE|DELETE\s+FROM|REPLACE\s+INTO)\s+[`\"]?(\w+)",
    re.IGNORECASE,
)
_TABLE = re.compile(r"\b(?:FROM|JOIN)\s+[`\"]?(\w+)", re.IGNORECASE)
_NO_WRITE = re.compile(r"^\s*(?:SELECT|SHOW|SAVEPOINT|RELEASE\s+SAVEPOINT)\b", re.IGNORECASE)
#: The server's own functions (server-enforced mode) declared STABLE: they only read
#: (``tests/core/test_lazy_transactions.py`` holds them to it).
SERVER_READ_ONLY_FUNCTIONS = ("relay_status", "password_salt", "server_info")
#: A call to one of the server's own functions that may write.
SERVER_FUNCTION_MAY_WRITE = re.compile(
    rf"\bpmdesk\.(?!(?:{'|'.join(SERVER_READ_ONLY_FUNCTIONS)})\b)\w+\s*\(", re.IGNORECASE
)


@dataclass(frozen=True)
class Along:
    """A read to send: ``key`` tells its later execution apart (text and values); ``text``
    and ``parameters`` as the driver takes them."""

    key: object
    text: str | bytes
    parameters: Any
    needs_transaction: bool

    @property
    def tables(self) -> frozenset[str]:
        text = self.text.decode() if isinstance(self.text, bytes) else self.text
        return frozenset(name.lower() for name in _TABLE.findall(text))


def read_along(session: Session, *statements: Executable) -> None:
    """Send these reads with the unit's next statement, right after it; executing one of
    them later in the unit (the same statement, the same values) takes its answer without a
    round trip. Outside a unit of work on a server, nothing happens (the read runs when
    executed, as always)."""
    if session.get_bind().dialect.name == "sqlite":
        return  # nothing goes over a wire: each read runs when asked
    connection = session.connection()  # not the session's: no rows to make objects of yet
    for statement in statements:
        connection.execute(statement, execution_options={ALONG: True})


def queue(connection: Any, read: Along) -> None:
    vars(connection).setdefault(_QUEUED, []).append(read)


def queued(connection: Any) -> list[Along]:
    return list(vars(connection).get(_QUEUED, ()))


def take_queued(connection: Any) -> list[Along]:
    return list(vars(connection).pop(_QUEUED, ()))


def keep(connection: Any, read: Along, answer: Any) -> None:
    vars(connection).setdefault(_ANSWERS, {})[read.key] = (read.tables, answer)


def has_answers(connection: Any) -> bool:
    return bool(vars(connection).get(_ANSWERS))


def take_answer(connection: Any, key: object) -> Any | None:
    """The answer to the read ``key``, once (None: not read along, or dropped since)."""
    answers = vars(connection).get(_ANSWERS)
    if not answers or key not in answers:
        return None
    _tables, answer = answers.pop(key)
    vars(connection)[_TAKEN] = vars(connection).get(_TAKEN, 0) + 1
    return answer


def note_statement(connection: Any, statement: str) -> None:
    """``statement`` is about to be sent or deferred in the unit: drop the answers it may
    change (a write to a table they read; anything that may write: all of them)."""
    answers = vars(connection).get(_ANSWERS)
    if not answers:
        return
    written = _WRITE.match(statement)
    if written is not None:
        table = written.group(1).lower()
        for key in [k for k, (tables, _answer) in answers.items() if table in tables]:
            del answers[key]
    elif (
        _NO_WRITE.match(statement) is None
        or SERVER_FUNCTION_MAY_WRITE.search(statement) is not None
    ):
        answers.clear()


def forget(connection: Any) -> None:
    """The unit ended: nothing read along outlives it."""
    vars(connection).pop(_QUEUED, None)
    vars(connection).pop(_ANSWERS, None)


def counts(connection: Any) -> tuple[int, int]:
    """(reads waiting to be sent, answers taken so far) on this driver connection."""
    return len(vars(connection).get(_QUEUED, ())), vars(connection).get(_TAKEN, 0)
