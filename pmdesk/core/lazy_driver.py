"""What ``lazy_transactions`` needs from a database driver, the same for psycopg and PyMySQL.

Each driver has its own module (``lazy_psycopg``, ``lazy_pymysql``) with one object that says
how that driver sends several statements in one round trip, opens a transaction, and tells
whether one is open. ``lazy_transactions`` holds the rules and asks the object only these.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlalchemy import Engine

from pmdesk.core.reads_along import Along

# A statement waiting to go out: its text and parameters (None: none), as the driver takes them.
Waiting = tuple[str | bytes, Any]

# On the driver's connection: the unit of work running on it has not opened its transaction yet.
LAZY = "_pmdesk_lazy_transaction"

#: Execution option of a unit of work made of one statement that writes (``Database.alone``):
#: it runs outside any transaction, committed by the server as it runs (one round trip).
ALONE = "pmdesk_alone"


class LazyDriver(Protocol):
    """One driver's ways (its connection and cursor objects are passed in)."""

    def listen(self, engine: Engine) -> None:
        """Listen to the engine's events this driver needs (a unit starts without a
        transaction; a connection goes back to the pool as it came)."""
        ...

    def in_transaction(self, connection: Any) -> bool:
        """Whether the server has a transaction open on this connection."""
        ...

    def begin_statement(self, connection: Any) -> Waiting:
        """The statement that opens a transaction, as this connection would send it."""
        ...

    def as_waiting(self, cursor: Any, statement: str, parameters: Any) -> Waiting:
        """A statement to send later, as this driver will take it then."""
        ...

    def send(self, connection: Any, statements: Sequence[Waiting]) -> None:
        """Several statements in one round trip; each must succeed."""
        ...

    def send_then(
        self, connection: Any, statements: Sequence[Waiting], then: Sequence[Waiting]
    ) -> BaseException | None:
        """``statements`` and then ``then`` in one round trip. A failure of ``statements``
        is raised (``then`` does not run); ``then``'s failure is returned."""
        ...

    def carries_begin(self, cursor: Any, statement: str, parameters: Any) -> bool:
        """Whether the statement can take statements ahead of it and reads after it."""
        ...

    def server_side(self, cursor: Any) -> bool:
        """Whether the cursor streams its rows from a cursor on the server (which lives in a
        transaction)."""
        ...

    def begun(
        self,
        cursor: Any,
        statement: str,
        parameters: Any,
        ahead: list[Waiting],
        along: list[Along],
        after: list[Waiting],
    ) -> AbstractContextManager[str]:
        """Send ``ahead``, the statement (executed in the block, as the text it yields),
        ``after`` (its COMMIT) and the reads ``along`` in one round trip; keep the reads'
        answers for later. The statement's own answer is the cursor's."""
        ...

    def answered(self, cursor: Any, statement: str, answer: Any) -> Any:
        """A cursor that shows a read along's answer, as if it had just run the read."""
        ...

    def after_execute(self, cursor: Any) -> None:
        """After each statement the engine executes."""
        ...
