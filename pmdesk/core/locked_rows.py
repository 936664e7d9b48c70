"""Changes to a row the unit of work holds locked, written without a round trip of their own.

The ORM's flush sends a versioned row's UPDATE at once and waits for its row count, to tell
whether someone changed the row meanwhile (``version_id_col``). A unit that read the row
``FOR UPDATE`` and compared its version already knows: nobody else can change or delete it
until the unit ends. Its UPDATE can then wait and go out with the unit's next statement or
its COMMIT (``lazy_transactions.write_later``), like any write whose answer nobody reads.

If the server refuses the UPDATE there (a login already taken, a value out of range), the
statement it went out with fails and the whole unit rolls back, as a flush's failure would.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from pmdesk.core.lazy_transactions import write_later


def write_changes_later(session: Session, row: Any) -> None:
    """Write ``row``'s changed columns with the unit's next statement or its COMMIT, and take
    them as written (the ORM's flush then leaves the row alone). A versioned row's version
    goes up by one, as the flush would make it.

    Only for a row this unit locked (``FOR UPDATE``) and whose version it checked: the
    UPDATE's WHERE still names the version, but nobody reads how many rows it met.
    """
    state = inspect(row)
    mapper = state.mapper
    changes: dict[str, Any] = {}
    for attribute in mapper.column_attrs:
        added = state.attrs[attribute.key].history.added
        if added:
            changes[attribute.key] = added[0]
    version = mapper.version_id_col
    version_key = mapper.get_property_by_column(version).key if version is not None else None
    if not changes or (version_key is not None and list(changes) == [version_key]):
        return
    identity = zip(mapper.primary_key, state.identity or (), strict=True)
    stmt = update(mapper.class_).where(*(column == value for column, value in identity))
    if version_key is not None:
        current = state.committed_state.get(version_key, getattr(row, version_key))
        stmt = stmt.where(version == current)
        changes[version_key] = current + 1
    for name, value in changes.items():  # first: executing autoflushes what is dirty
        set_committed_value(row, name, value)
    write_later(session, stmt.values(**changes))
