"""Removing trusted addresses as the Security list shows them, in one round trip (PostgreSQL,
MariaDB; on a server-enforced PostgreSQL its guard checks the DELETE too, and its trigger
keeps the rows for Undo).

The list's rows say what is removed: the address, since when, whose (their login). So the log
rows, the Undo snapshots and the DELETE can all be written before anything comes back, on one
condition the server checks first, under the rows' locks, and keeps for the transaction
(``_Flag``):

- the actor has System → Security Delete (``permissions.right_column``);
- every row is still there as shown (the same person, address, start and login);
- no owner but the actor has a right the actor's group lacks (``permissions.within_rights``).

Every write waits on that condition; the last statement reads it back and takes the COMMIT
along. So the lock, the checks, the writes and the COMMIT are one round trip. When it does not
hold, nothing was written, and ``TrustedIpService.remove`` does it the long way, which says
exactly what is wrong (a refusal in words, or fewer rows removed). The condition decides only
whether this short way may be taken: the rule and its words stay in ``permissions``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session

from pmdesk.core.audit import Event, row_values
from pmdesk.core.clock import Clock
from pmdesk.core.context import Actor
from pmdesk.core.lazy_transactions import ROWS_PER_INSERT, WITH_COMMIT, write_later
from pmdesk.core.models import AuditEvent, Person, TrustedIp, TrustedIpRemoval
from pmdesk.core.modules import SYSTEM_SECURITY, Action
from pmdesk.core.permissions import right_column, within_rights
from pmdesk.core.trusted_ip_row import TrustedIpRow

# What a removal keeps of each row (for Undo and the log), either way: ``_Removed`` in
# trusted_ips.
REMOVED_COLUMNS = (
    TrustedIp.id,
    TrustedIp.person_id,
    TrustedIp.address,
    TrustedIp.created_at,
    TrustedIp.last_used_at,
    TrustedIp.trusted_by,
    TrustedIp.trusted_on,
)

#: At most this many rows go the short way (one statement's worth of conditions).
MAX_ROWS = 500


def can_go_short(seen: Sequence[TrustedIpRow], wanted: Sequence[int]) -> bool:
    """Whether these rows, as shown, can be removed the short way: they are exactly the ones
    asked for, each with its owner's login (the log names owners by it)."""
    return (
        0 < len(seen) <= MAX_ROWS
        and sorted(r.id for r in seen) == sorted(wanted)
        and all(r.login for r in seen)
    )


def remove_as_seen(
    s: Session,
    clock: Clock,
    actor: Actor,
    seen: Sequence[TrustedIpRow],
    *,
    keep_for_undo: bool,
    undo_window: timedelta,
    detail_of: Callable[[str, datetime, int], str],
    server_undo: str | None = None,
) -> bool:
    """Remove ``seen`` in one round trip (``s``: a fresh unit of work on a server); True when
    done, False when the condition did not hold and nothing was written. ``detail_of(address,
    created_at, id)``: how the log names a row. ``server_undo``: on a server-enforced
    PostgreSQL, the setting that has its trigger keep the rows for Undo (the workstation may
    not write them there)."""
    dialect = s.get_bind().dialect.name
    rows = sorted(seen, key=lambda r: r.id)
    ids = [r.id for r in rows]
    flag = _Flag(dialect, "pmdesk_removal_as_seen")
    now = clock.ago_column(dialect, timedelta())  # the server's clock, a test's shift in
    # Every remover locks in the same order; nobody reads the answer.
    # (Table columns: the ORM would look for rows in an answer nobody reads.)
    row_id = cast(Table, TrustedIp.__table__).c.id
    write_later(s, select(row_id).where(row_id.in_(ids)).order_by(row_id).with_for_update())
    write_later(s, flag.set(_condition(actor, rows)))
    if keep_for_undo and actor.person_id is not None:
        write_later(
            s,
            delete(TrustedIpRemoval).where(
                flag.is_set(),
                TrustedIpRemoval.removed_at < clock.ago_column(dialect, undo_window),
            ),
        )
        kept = (*REMOVED_COLUMNS, literal(actor.person_id), now)
        write_later(
            s,
            insert(TrustedIpRemoval).from_select(
                [
                    "trusted_ip_id",
                    "person_id",
                    "address",
                    "created_at",
                    "last_used_at",
                    "trusted_by",
                    "trusted_on",
                    "removed_by",
                    "removed_at",
                ],
                select(*kept).where(TrustedIp.id.in_(ids), flag.is_set()).order_by(TrustedIp.id),
            ),
        )
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        write_later(s, _log_rows(actor, chunk, now, flag, detail_of))
    if server_undo is not None:  # a server-enforced database keeps them itself, when told
        write_later(s, select(func.set_config(server_undo, "on", True)))
    write_later(s, delete(TrustedIp).where(TrustedIp.id.in_(ids), flag.is_set()))
    done = s.execute(select(flag.is_set()), execution_options={WITH_COMMIT: True}).scalar()
    return bool(done)


def _condition(actor: Actor, rows: Sequence[TrustedIpRow]) -> ColumnElement[bool]:
    ids = [r.id for r in rows]
    as_shown = (
        select(func.count())
        .select_from(TrustedIp)
        .join(Person, Person.id == TrustedIp.person_id)
        .where(
            tuple_(
                TrustedIp.id,
                TrustedIp.person_id,
                TrustedIp.address,
                TrustedIp.created_at,
                Person.login,
            ).in_([(r.id, r.person_id, r.address, r.created_at, r.login) for r in rows])
        )
        .scalar_subquery()
    )
    beyond = exists(
        select(1)
        .select_from(TrustedIp)
        .join(Person, Person.id == TrustedIp.person_id)
        .where(
            TrustedIp.id.in_(ids),
            Person.id != (actor.person_id if actor.person_id is not None else -1),
            ~within_rights(actor, Person.group_id),
        )
    )
    return and_(right_column(actor, SYSTEM_SECURITY, Action.DELETE), as_shown == len(rows), ~beyond)


def _log_rows(
    actor: Actor,
    rows: Sequence[TrustedIpRow],
    now: ColumnElement[Any],
    flag: _Flag,
    detail_of: Callable[[str, datetime, int], str],
) -> Any:
    """One log row per row removed (as ``_audit_removed`` writes them), each only when the
    condition held."""
    columns = ["occurred_at", "actor", "event", "subject", "address", "workstation", "detail"]
    selects: list[Select[Any]] = []
    for row in rows:
        values = row_values(
            actor, Event.IP_REMOVED, row.login, detail_of(row.address, row.created_at, row.id), None
        )
        selects.append(select(now, *(literal(values[c]) for c in columns[1:])).where(flag.is_set()))
    source = selects[0] if len(selects) == 1 else union_all(*selects)
    return insert(AuditEvent).from_select(columns, source)


class _Flag:
    """A yes or no the server keeps for the rest of this transaction: a setting local to it
    (PostgreSQL), a session variable set afresh by each unit that uses it (MariaDB)."""

    def __init__(self, dialect: str, name: str) -> None:
        self.dialect = dialect
        self.name = name

    def set(self, condition: ColumnElement[bool]) -> Select[Any]:
        if self.dialect == "postgresql":
            value = case((condition, "on"), else_="off")
            return select(func.set_config(f"pmdesk.{self.name}", value, True))
        return select(literal_column(f"@{self.name}").op(":=")(case((condition, 1), else_=0)))

    def is_set(self) -> ColumnElement[bool]:
        if self.dialect == "postgresql":
            return func.current_setting(f"pmdesk.{self.name}", True) == "on"
        return literal_column(f"@{self.name}") == 1
