"""The audit trail: who did what to whom, from where, when (UTC). Never a password or code.

System → Log shows each event by its name (``EVENT_NAMES``) and in local time; the CSV export
writes what the Log shows (``CSV_COLUMNS``), with the time in UTC as well, for machines.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from enum import StrEnum
from pathlib import Path
from typing import TextIO

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from pmdesk.core.addresses import normalise_address
from pmdesk.core.clock import Clock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import ValidationError
from pmdesk.core.i18n import translate
from pmdesk.core.lazy_transactions import insert_later
from pmdesk.core.models import AuditEvent
from pmdesk.core.modules import SYSTEM_LOG, Action
from pmdesk.core.permissions import require
from pmdesk.core.search import escape_like


class Event(StrEnum):
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_REFUSED = "login.refused"
    LOGIN_CODE_REQUIRED = "login.code_required"
    CODE_SENT = "code.sent"
    CODE_SEND_FAILED = "code.send_failed"
    CODE_FAILED = "code.failed"
    CODE_VOIDED = "code.voided"
    ACCOUNT_LOCKED = "account.locked"
    ACCOUNT_UNLOCKED = "account.unlocked"
    IP_TRUSTED = "ip.trusted"
    IP_REMOVED = "ip.removed"
    IP_RESTORED = "ip.restored"
    IP_EXPIRED = "ip.expired"
    IP_NOT_TRUSTED = "ip.not_trusted"
    NETWORK_ADDED = "network.added"
    NETWORK_REMOVED = "network.removed"
    HELPDESK_CODE_ISSUED = "helpdesk_code.issued"
    HELPDESK_CODE_CANCELLED = "helpdesk_code.cancelled"
    TWO_FACTOR_ENABLED = "2fa.enabled"
    TWO_FACTOR_DISABLED = "2fa.disabled"
    SETTING_CHANGED = "setting.changed"
    PERMISSION_CHANGED = "permission.changed"
    GROUP_CREATED = "group.created"
    GROUP_RENAMED = "group.renamed"
    GROUP_DELETED = "group.deleted"
    PERSON_CREATED = "person.created"
    PERSON_UPDATED = "person.updated"
    PERSON_DELETED = "person.deleted"
    PASSWORD_CHANGED = "password.changed"
    MAIL_TEST_SENT = "mail.test_sent"
    # A trust alert (trust_alerts.py): sent to one recipient, or not sent (and why).
    ALERT_SENT = "alert.sent"
    ALERT_FAILED = "alert.failed"
    SIGNED_OUT = "signed_out"
    SESSION_STARTED = "session.started"
    SESSION_ENDED = "session.ended"
    SESSION_REFUSED = "session.refused"
    # A recovery command run with the database owner's credentials (pmdesk recover ...).
    BREAK_GLASS = "break-glass"


#: How System → Log names each event (its CSV export too). Plain English; the UI translates.
EVENT_NAMES: dict[str, str] = {
    Event.LOGIN_SUCCEEDED: "Login succeeded",
    Event.LOGIN_REFUSED: "Login refused",
    Event.LOGIN_CODE_REQUIRED: "Security code asked",
    Event.CODE_SENT: "Code sent",
    Event.CODE_SEND_FAILED: "Code not delivered",
    Event.CODE_FAILED: "Wrong code",
    Event.CODE_VOIDED: "Code voided",
    Event.ACCOUNT_LOCKED: "Account locked",
    Event.ACCOUNT_UNLOCKED: "Account unlocked",
    Event.IP_TRUSTED: "IP trusted",
    Event.IP_REMOVED: "IP removed",
    Event.IP_RESTORED: "IP restored",
    Event.IP_EXPIRED: "IP expired",
    Event.IP_NOT_TRUSTED: "IP not trusted",
    Event.NETWORK_ADDED: "Office network added",
    Event.NETWORK_REMOVED: "Office network removed",
    Event.HELPDESK_CODE_ISSUED: "Helpdesk code issued",
    Event.HELPDESK_CODE_CANCELLED: "Helpdesk code cancelled",
    Event.TWO_FACTOR_ENABLED: "Two-step turned on",
    Event.TWO_FACTOR_DISABLED: "Two-step turned off",
    Event.SETTING_CHANGED: "Setting changed",
    Event.PERMISSION_CHANGED: "Permissions changed",
    Event.GROUP_CREATED: "Group created",
    Event.GROUP_RENAMED: "Group renamed",
    Event.GROUP_DELETED: "Group deleted",
    Event.PERSON_CREATED: "Person created",
    Event.PERSON_UPDATED: "Person changed",
    Event.PERSON_DELETED: "Person deleted",
    Event.PASSWORD_CHANGED: "Password changed",
    Event.MAIL_TEST_SENT: "Test code sent",
    Event.ALERT_SENT: "Trust alert sent",
    Event.ALERT_FAILED: "Trust alert not sent",
    Event.SIGNED_OUT: "Signed out",
    Event.SESSION_STARTED: "Session started",
    Event.SESSION_ENDED: "Session ended",
    Event.SESSION_REFUSED: "Session refused",
    Event.BREAK_GLASS: "Break-glass recovery",
}


def _same(text: str) -> str:
    return text


def event_name(value: str, translate: Callable[[str], str] = _same) -> str:
    """The event's name as the Log shows it (an unknown code as it is)."""
    name = EVENT_NAMES.get(value)
    return translate(name) if name else value


def local_time_text(value: datetime, tz: tzinfo | None = None) -> str:
    """A stored time as the Log shows it: local (``tz``, else this machine's), to the second."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def utc_iso_text(value: datetime) -> str:
    """A stored time for machines: ISO 8601 in UTC, to the second ("2026-05-04T13:02:09Z")."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def detail_text(detail: str) -> str:
    """The detail on one line, as the Log's table shows it."""
    return " ".join(detail.split())


def person_subject(person_id: int, login: str | None, first_name: str, last_name: str) -> str:
    """How the audit trail names a person: the login, else the name, else the record number."""
    name = " ".join(part for part in (first_name, last_name) if part)
    return login or name or f"person #{person_id}"


def record(
    session: Session,
    clock: Clock,
    actor: Actor,
    event: Event,
    *,
    subject: str = "",
    detail: str = "",
    address: str | None = None,
) -> None:
    """Add one audit row in the caller's transaction (so it commits or rolls back with it).
    Nothing reads its answer, so on a server it goes out with the next statement or the
    COMMIT (``lazy_transactions.DEFERRED``): no round trip of its own."""
    row = row_values(actor, event, subject, detail, address)
    insert_later(session, AuditEvent, [{"occurred_at": clock.now(session), **row}])


def record_many(
    session: Session,
    occurred_at: datetime,
    actor: Actor,
    event: Event,
    entries: Iterable[tuple[str, str]],
) -> int:
    """Add one audit row per (subject, detail), at ``occurred_at``, in as few statements as
    it takes (a thousand ORM objects per sweep chunk cost several times this)."""
    rows = [
        {"occurred_at": occurred_at, **row_values(actor, event, subject, detail, None)}
        for subject, detail in entries
    ]
    insert_later(session, AuditEvent, rows)
    return len(rows)


def row_values(
    actor: Actor, event: Event, subject: str, detail: str, address: str | None
) -> dict[str, object]:
    """An audit row's values but its time (cut to the columns' sizes)."""
    return {
        "actor": actor.name[:255],
        "event": event.value,
        "subject": subject[:255],
        "address": (address if address is not None else actor.address or "")[:45],
        "workstation": actor.workstation[:255],
        "detail": detail,
    }


# ----- System → Log: reading and exporting the trail ----------------------------------------

MAX_QUERY_LIMIT = 10_000
#: The Log's column titles, in its order; the CSV adds the time in UTC for machines.
LOG_COLUMNS = ("Time", "Actor", "Event", "Subject", "Address", "Workstation", "Detail")
CSV_COLUMNS = (*LOG_COLUMNS, "Time (UTC)")
# A spreadsheet runs a cell that starts with one of these as a formula (OWASP: CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditRow:
    id: int
    occurred_at: datetime
    actor: str
    event: str
    subject: str
    address: str
    workstation: str
    detail: str


class AuditService:
    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx

    def query(
        self,
        actor: Actor,
        *,
        actor_text: str | None = None,
        event: Event | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 500,
        before_id: int | None = None,
        address: str | None = None,
    ) -> list[AuditRow]:
        """Newest first (System → Log Read). ``actor_text`` matches part of who acted or whom it
        concerned, case-insensitively; ``event`` is an event, or a family such as "ip" or
        "login"; ``since`` is inclusive, ``until`` exclusive; ``address`` is an IP address
        (exact) or its start ("192.0.2.", "2001:db8:"; ``address_condition``); ``before_id``
        continues a list after its last row."""
        where = _audit_filters(actor_text, event, since, until, address)
        size = max(1, min(int(limit), MAX_QUERY_LIMIT))
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM_LOG, Action.READ)
            return _audit_page(s, where, size, before_id)

    def export_csv(
        self,
        actor: Actor,
        target: str | os.PathLike[str] | TextIO,
        *,
        actor_text: str | None = None,
        event: Event | str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        translate: Callable[[str], str] = _same,
        tz: tzinfo | None = None,
        address: str | None = None,
    ) -> int:
        """Write the matching rows as CSV, newest first, as System → Log shows them: its column
        titles and event names (through ``translate``), local times (``tz``, else this
        machine's), the detail on one line; then the time in ISO UTC. To a file path (written
        atomically, UTF-8 with BOM for spreadsheets) or a text stream; returns how many rows were
        written. No cell starts as a spreadsheet formula."""
        where = _audit_filters(actor_text, event, since, until, address)
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM_LOG, Action.READ)
        if isinstance(target, (str, os.PathLike)):
            path = Path(target)
            handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or None)
            try:
                with os.fdopen(handle, "w", encoding="utf-8-sig", newline="") as stream:
                    written = self._write_csv(stream, where, translate, tz)
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
            return written
        return self._write_csv(target, where, translate, tz)

    def _write_csv(
        self,
        stream: TextIO,
        where: list[ColumnElement[bool]],
        translate: Callable[[str], str],
        tz: tzinfo | None,
    ) -> int:
        writer = csv.writer(stream)
        writer.writerow([csv_safe(translate(title)) for title in CSV_COLUMNS])
        written = 0
        for row in self._all(where):
            writer.writerow(
                [
                    local_time_text(row.occurred_at, tz),
                    *(
                        csv_safe(value)
                        for value in (
                            row.actor,
                            event_name(row.event, translate),
                            row.subject,
                            row.address,
                            row.workstation,
                            detail_text(row.detail),
                        )
                    ),
                    utc_iso_text(row.occurred_at),
                ]
            )
            written += 1
        return written

    def _all(self, where: list[ColumnElement[bool]], batch: int = 1000) -> Iterator[AuditRow]:
        before: int | None = None
        while True:
            with self._ctx.db.session() as s:
                rows = _audit_page(s, where, batch, before)
            yield from rows
            if len(rows) < batch:
                return
            before = rows[-1].id


def csv_safe(value: str) -> str:
    """The cell as text a spreadsheet will not run as a formula."""
    return "'" + value if value.startswith(_FORMULA_START) else value


ADDRESS_FILTER_MAX_LENGTH = 45  # the longest IPv6 text (with an IPv4 tail)
_ADDRESS_FILTER_CHARS = frozenset("0123456789abcdef.:")
ADDRESS_FILTER_REFUSAL = translate(
    "audit", "Type an IP address (192.0.2.10) or how it starts (192.0.2.)."
)


def address_condition(text: str) -> ColumnElement[bool] | None:
    """The Log's address filter: a whole IP address matches exactly (in its canonical form:
    ``::ffff:192.0.2.1`` is ``192.0.2.1``); anything shorter matches the addresses that start
    with it ("192.0.2." is that block, "10.1" also 10.10…). None when empty; a
    ``ValidationError`` on the ``address`` field for what cannot start an address."""
    raw = text.strip().lower()
    if not raw:
        return None
    if len(raw) > ADDRESS_FILTER_MAX_LENGTH or not set(raw) <= _ADDRESS_FILTER_CHARS:
        raise ValidationError({"address": ADDRESS_FILTER_REFUSAL})
    exact = normalise_address(raw)
    if exact is not None:
        return AuditEvent.address == exact
    return AuditEvent.address.like(escape_like(raw) + "%", escape="\\")


def _audit_filters(
    actor_text: str | None,
    event: Event | str | None,
    since: datetime | None,
    until: datetime | None,
    address: str | None = None,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    by_address = address_condition(address or "")
    if by_address is not None:
        where.append(by_address)
    text = (actor_text or "").strip().lower()
    if text:
        like = "%" + escape_like(text) + "%"
        where.append(
            or_(
                func.lower(AuditEvent.actor).like(like, escape="\\"),
                func.lower(AuditEvent.subject).like(like, escape="\\"),
            )
        )
    if event:
        value = event.value if isinstance(event, Event) else str(event).strip()
        family = value.rstrip(".")
        if "." in family or family in {e.value for e in Event}:
            where.append(AuditEvent.event == value)
        else:
            where.append(AuditEvent.event.like(escape_like(family) + ".%", escape="\\"))
    if since is not None:
        where.append(AuditEvent.occurred_at >= _aware(since))
    if until is not None:
        where.append(AuditEvent.occurred_at < _aware(until))
    return where


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _audit_page(
    s: Session, where: list[ColumnElement[bool]], size: int, before_id: int | None
) -> list[AuditRow]:
    stmt = select(AuditEvent).where(*where)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    found = s.execute(stmt.order_by(AuditEvent.id.desc()).limit(size)).scalars()
    return [
        AuditRow(
            id=r.id,
            occurred_at=r.occurred_at,
            actor=r.actor,
            event=r.event,
            subject=r.subject,
            address=r.address,
            workstation=r.workstation,
            detail=r.detail,
        )
        for r in found
    ]
