"""Trusted IP addresses: made by a code login with "Trust this IP" (or an administrator), listed
and removed in System → Security, expired by a background sweep.

Trust is per person and normalised address, valid while ``created_at > now - trust_days`` on the
database clock. Expiry is checked at login (``is_trusted``), so a late sweep never extends trust;
the sweep only tidies up, in bounded chunks, and audits each row it really deleted exactly once
even when several workstations sweep at the same moment.

The list is paged newest first with keyset paging on (created_at, id), which the indexes
``ix_trusted_ips_created_id`` and ``ix_trusted_ips_person_created`` serve directly.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Row,
    Select,
    Table,
    and_,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from pmdesk.core import audit, trusted_ip_review
from pmdesk.core.addresses import (
    Network,
    in_address_list,
    normalise_address,
    parse_address_list,
)
from pmdesk.core.audit import Event
from pmdesk.core.clock import Clock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.dialect_insert import insert_for
from pmdesk.core.errors import NotFound, PermissionDenied, ValidationError, message_of
from pmdesk.core.i18n import translate
from pmdesk.core.lazy_transactions import WITH_COMMIT, insert_later, write_later
from pmdesk.core.locked_rows import write_changes_later
from pmdesk.core.models import (
    LoginChallenge,
    Person,
    SecuritySettings,
    TrustedIp,
    TrustedIpRemoval,
)
from pmdesk.core.modules import MAINTENANCE, SYSTEM_SECURITY, Action
from pmdesk.core.office_networks import (
    OUTSIDE,
    load_networks,
    network_of,
    networks_query,
    policy_refusal,
)
from pmdesk.core.permissions import (
    require,
    require_any,
    require_within_own_rights,
    right_column,
)
from pmdesk.core.reads_along import read_along
from pmdesk.core.removal_as_seen import REMOVED_COLUMNS, can_go_short, remove_as_seen
from pmdesk.core.search import starts_with
from pmdesk.core.security import DEFAULT_TRUST_DAYS, load_settings
from pmdesk.core.server.roles import SCHEMA
from pmdesk.core.settings_row import read_with_right
from pmdesk.core.trust_alerts import PendingAlert, alert_for, send_alert
from pmdesk.core.trusted_ip_row import TrustedIpRow
from pmdesk.core.types import UTCDateTime, search_text

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 500
CHALLENGE_KEEP = timedelta(days=1)
#: How long a removal from the list can be undone (``TrustedIpService.restore``).
UNDO_WINDOW = timedelta(seconds=60)
#: Set for its own transaction by ``remove`` on a server-enforced PostgreSQL: the server then
#: keeps what was removed for Undo (server/review_sql.py).
UNDOABLE_SETTING = "pmdesk.undoable_removal"
# The list counts its rows exactly up to here ("Viewing items 1-20 of more than 100000").
COUNT_CAP = 100_000

# id, address, created_at, last_used_at, person_id, first_name, last_name, login
_Listing = tuple[int, str, datetime, datetime | None, int, str, str, str | None]
# rows, index of the first row, whether there is a page before it, and one after it
_Found = tuple[list["TrustedIpRow"], int, bool, bool]


@dataclass(frozen=True)
class PageCursor:
    """Where a Previous/Next page starts: the row next to it, and that row's position (1-based)."""

    created_at: datetime
    id: int
    index: int
    direction: Literal["after", "before"]


@dataclass(frozen=True)
class TrustedIpPage:
    rows: list[TrustedIpRow]
    total: int  # exact when total_exact, else "more than COUNT_CAP"
    first_index: int  # 1-based; 0 when the page is empty ("Viewing items 1-20 of 8000")
    last_index: int
    page_size: int
    next: PageCursor | None = None
    previous: PageCursor | None = None
    total_exact: bool = True

    @property
    def page(self) -> int:
        return (self.first_index - 1) // self.page_size + 1 if self.first_index else 1

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    def describe(self) -> str:
        """'Viewing items 1-20 of 8000' as on the Security screen."""
        if self.total_exact:
            text = translate("trusted_ips", "Viewing items {first}-{last} of {total}")
        else:
            text = translate("trusted_ips", "Viewing items {first}-{last} of more than {total}")
        return text.format(first=self.first_index, last=self.last_index, total=self.total)


# ----- which addresses can be trusted at all -------------------------------------------------

SERVER_BACKENDS = frozenset({"postgresql", "mariadb"})


def why_not_trustable(
    backend: str, address: str | None, never_trusted: str | Iterable[Network] = ""
) -> str | None:
    """Why ``address`` can never be trusted here, or None when it can.

    The one place that decides, for the login flow, the trust check, "Trust this IP" and
    ``ip trust``. ``backend`` is 'sqlite', 'postgresql' or 'mariadb'; ``never_trusted`` the
    Security setting (its text or parsed). On a shared database (PostgreSQL, MariaDB) the
    server sees one loopback or link-local address, or none at all over a Unix socket, for
    everyone arriving through localhost, an SSH tunnel or a connection pooler, so those are
    never trusted there. The embedded database reports the machine's own outbound address:
    its loopback fallback stays trustable.
    """
    normalised = normalise_address(address)
    server = backend in SERVER_BACKENDS
    if normalised is None:
        if server and address is None:
            return translate(
                "trusted_ips",
                "The database server cannot see this workstation's address (a local socket "
                "connection, the same for everyone connecting that way), so it is never trusted.",
            )
        return translate(
            "trusted_ips", "This workstation's address is unknown, so it cannot be trusted."
        )
    networks = (
        parse_address_list(never_trusted) if isinstance(never_trusted, str) else never_trusted
    )
    if in_address_list(normalised, list(networks)):
        return translate(
            "trusted_ips",
            "{address} is on the list of addresses never trusted (a proxy or connection "
            "pooler, System → Security), so it is never trusted.",
        ).format(address=normalised)
    if server:
        ip = ipaddress.ip_address(normalised)
        if ip.is_loopback:
            return translate(
                "trusted_ips",
                "{address} is a loopback address, shared by everyone who reaches the "
                "database through this computer (localhost, an SSH tunnel or a connection "
                "pooler), so it is never trusted on a shared database.",
            ).format(address=normalised)
        if ip.is_link_local:
            return translate(
                "trusted_ips",
                "{address} is a link-local address, not unique to this workstation, so it "
                "is never trusted on a shared database.",
            ).format(address=normalised)
    return None


def backend_of(session: Session) -> str:
    """'sqlite', 'postgresql' or 'mariadb' for the session's engine (as Database.backend)."""
    name = session.get_bind().dialect.name
    return "mariadb" if name in {"mysql", "mariadb"} else name


def trust_refusal(session: Session, address: str | None) -> str | None:
    """``why_not_trustable`` with this session's engine and the current Security settings, then
    the trust policy (office networks)."""
    never_trusted = _valid_entries(load_settings(session).never_trusted_addresses)
    refusal = why_not_trustable(backend_of(session), address, never_trusted)
    return refusal if refusal is not None else policy_refusal(session, address)


def _valid_entries(text: str) -> list[Network]:
    """The list's entries; one saved by hand that is not valid is skipped, not fatal."""
    found: list[Network] = []
    for entry in re.split(r"[\s,;]+", text or ""):
        try:
            found.extend(parse_address_list(entry))
        except ValueError:
            continue
    return found


# ----- functions for the login flow (inside its transaction) --------------------------------


def is_trusted(
    session: Session,
    now: datetime,
    trust_days: int,
    person_id: int,
    address: str | None,
    *,
    touch: bool = False,
) -> TrustedIp | None:
    """The trust for this person and address, if still valid at ``now`` (the database clock).

    An unknown or unparseable address is never trusted, nor one that cannot be trusted here
    (``why_not_trustable``) even when a row for it exists. ``touch`` records the use.
    """
    normalised = normalise_address(address)
    if normalised is None or trust_refusal(session, normalised) is not None:
        return None
    row = _trust_row(session, person_id, normalised, lock=False)
    if row is None or row.created_at <= now - timedelta(days=trust_days):
        return None
    if touch:  # nobody waits for this answer: it goes with the step's next statement
        write_later(
            session, update(TrustedIp).where(TrustedIp.id == row.id).values(last_used_at=now)
        )
        set_committed_value(row, "last_used_at", now)
    return row


def keep_trust_row(
    session: Session, person_id: int, address: str, row: TrustedIp | None, *, locked: bool
) -> None:
    """The trust row for this person and (normalised) address, or None: there is none, read
    by another query of this transaction under the person's lock (``locked``: the row too).
    ``is_trusted`` and ``trust_anew`` then read nothing again."""
    _kept_trust_rows(session)[(person_id, address)] = (row, locked)


def _trust_row(session: Session, person_id: int, address: str, *, lock: bool) -> TrustedIp | None:
    kept = _kept_trust_rows(session).pop((person_id, address), None)
    if kept is not None and (kept[1] or not lock):
        return kept[0]
    return session.execute(trust_row_query(person_id, address, lock=lock)).scalar_one_or_none()


def _kept_trust_rows(session: Session) -> dict[tuple[int, str], tuple[TrustedIp | None, bool]]:
    """Kept for the transaction they were read in only."""
    transaction = session.get_transaction()
    kept = session.info.get(_TRUST_ROWS)
    if kept is None or kept[0] is not transaction:
        kept = (transaction, {})
        session.info[_TRUST_ROWS] = kept
    rows: dict[tuple[int, str], tuple[TrustedIp | None, bool]] = kept[1]
    return rows


_TRUST_ROWS = "pmdesk_trust_rows"  # session.info: (transaction, {(person, address): (row, locked)})


def trust_row_query(person_id: int, address: str, *, lock: bool = False) -> Select[TrustedIp]:
    """The trust row for this person and (normalised) address, valid or not (``lock``: locked
    until the transaction ends): a sign-in step may read it along (``reads_along``) with the
    statement that locks the person."""
    query = select(TrustedIp).where(TrustedIp.person_id == person_id, TrustedIp.address == address)
    return query.with_for_update() if lock else query


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def why_no_code(row: TrustedIp) -> str:
    """What a sign-in without a code records as its reason: "trusted address #812, created
    3 May 2026 by alice on WS-07" (who and where are unknown for rows trusted before 0013)."""
    created = row.created_at
    # Month names by hand: %b follows the process locale, which Qt sets from the desktop.
    month = _MONTHS[created.month - 1]
    reason = f"trusted address #{row.id}, created {created.day} {month} {created:%Y %H:%M} UTC"
    if row.trusted_by:
        reason += f" by {row.trusted_by}"
    if row.trusted_on:
        reason += f" on {row.trusted_on}"
    return reason


def trust(
    session: Session, clock: Clock, actor: Actor, person_id: int, address: str | None
) -> TrustedIp | None:
    """Trust ``address`` for this person (no permission check: the caller decided).

    Returns the trust, or None for an address that cannot be trusted (``why_not_trustable``:
    unknown, loopback or link-local on a shared database, or on the never-trusted list; the
    audit trail says why). Re-trusting a valid address keeps it as it is: the trust period
    counts from its creation. An expired row the sweep has not reached yet starts a new period.
    """
    return trust_anew(session, clock, actor, person_id, address)[0]


def trust_anew(
    session: Session,
    clock: Clock,
    actor: Actor,
    person_id: int,
    address: str | None,
    *,
    last: bool = False,
) -> tuple[TrustedIp | None, bool]:
    """``trust``, and whether a trust period started now (a new row, or one trusted again
    after its period ended): what a trust alert is about (``trust_alerts``).

    The caller holds the person's row lock: every unit that makes a trusted row does, so
    the row read here is the truth until the unit ends. ``last``: this is the unit's last
    write; a new row's INSERT then takes the unit's COMMIT along (``WITH_COMMIT``), and the
    row returned is not in the session."""
    normalised = normalise_address(address)
    if normalised is None:
        return None, False
    refusal = trust_refusal(session, normalised)
    if refusal is not None:
        audit.record(
            session,
            clock,
            actor,
            Event.IP_NOT_TRUSTED,
            subject=_subject_of(session, person_id),
            detail=f"address {normalised}: {refusal}",
        )
        return None, False
    now = clock.now(session)
    cutoff = now - timedelta(days=load_settings(session).trust_days)
    # FOR UPDATE (ignored on SQLite, where the write transaction is exclusive): a sweep deleting
    # this row at the same moment finishes first, and then we simply insert a new one.
    existing = _trust_row(session, person_id, normalised, lock=True)
    subject = _subject_of(session, person_id)
    if existing is not None:
        # Locked above: its UPDATE goes with the unit's next statement or COMMIT.
        if existing.created_at > cutoff:
            existing.last_used_at = now
            write_changes_later(session, existing)
            return existing, False
        existing.created_at = now
        existing.last_used_at = now
        existing.trusted_by = actor.name[:64]
        existing.trusted_on = actor.workstation[:255]
        write_changes_later(session, existing)
        audit.record(
            session,
            clock,
            actor,
            Event.IP_TRUSTED,
            subject=subject,
            detail=f"address {normalised} (trusted again after its period ended)",
        )
        return existing, True
    values = {
        "person_id": person_id,
        "address": normalised,
        "created_at": now,
        "last_used_at": now,
        "trusted_by": actor.name[:64],
        "trusted_on": actor.workstation[:255],
    }
    if last:
        # The log row first: nothing may be written after the INSERT that commits.
        audit.record(
            session, clock, actor, Event.IP_TRUSTED, subject=subject, detail=f"address {normalised}"
        )
        new_id = _insert_with_commit(session, values)
        return (TrustedIp(id=new_id, **values), True) if new_id is not None else (None, False)
    row = _insert_unless_there(session, values)
    if row is None:
        # Another workstation trusted the same address a moment ago: keep that one.
        return session.execute(
            select(TrustedIp).where(
                TrustedIp.person_id == person_id, TrustedIp.address == normalised
            )
        ).scalar_one_or_none(), False
    audit.record(
        session, clock, actor, Event.IP_TRUSTED, subject=subject, detail=f"address {normalised}"
    )
    return row, True


def _insert_with_commit(session: Session, values: dict[str, object]) -> int | None:
    """The new trusted row's id; its INSERT is the unit's last statement and takes the COMMIT
    along (one round trip). The caller holds the person's lock, so no other unit makes the
    same row meanwhile; should one have all the same (None), the sign-in still stands."""
    dialect = session.get_bind().dialect.name
    options = {WITH_COMMIT: True}
    table = cast(Table, TrustedIp.__table__)
    if dialect in {"postgresql", "sqlite"}:
        statement = (
            insert_for(dialect)(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["person_id", "address"])
            .returning(table.c.id)
        )
        found = session.execute(statement, execution_options=options).scalar_one_or_none()
        return int(found) if found is not None else None
    result = cast(
        CursorResult[Any],
        session.execute(
            insert(table).values(**values).prefix_with("IGNORE"), execution_options=options
        ),
    )
    return int(result.lastrowid) if result.rowcount == 1 else None


def _insert_unless_there(session: Session, values: dict[str, object]) -> TrustedIp | None:
    """The new trusted row, or None when the (person, address) row is there already (another
    workstation inserted it a moment ago). PostgreSQL and SQLite: one INSERT … ON CONFLICT DO
    NOTHING RETURNING. MariaDB has no such statement that tells the two apart: a SAVEPOINT
    around the INSERT (no round trips more: the SAVEPOINT goes with the INSERT, the RELEASE
    with the next statement, ``lazy_transactions``)."""
    dialect = session.get_bind().dialect.name
    if dialect in {"postgresql", "sqlite"}:
        statement = (
            insert_for(dialect)(TrustedIp)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["person_id", "address"])
            .returning(TrustedIp)
        )
        return session.scalars(statement).one_or_none()
    row = TrustedIp(**values)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


# ----- the service --------------------------------------------------------------------------


#: A removed row as DELETE … RETURNING gives it: id, person, address, created, last used, and
#: who trusted it on which workstation.
_Removed = tuple[int, int, str, datetime, datetime | None, str | None, str | None]


class TrustedIpService:
    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx
        self._verdicts = trusted_ip_review.AddressVerdicts()  # the review list's, kept

    # ----- listing -----------------------------------------------------------------------------

    def page(
        self,
        actor: Actor,
        *,
        filter_text: str = "",
        person_id: int | None = None,
        page: int = 1,
        page_size: int = DEFAULT_PAGE_SIZE,
        cursor: PageCursor | None = None,
        known_total: tuple[int, bool] | None = None,
        review: bool = False,
    ) -> TrustedIpPage:
        """One page, newest first. ``cursor`` (from a previous page's next/previous) pages by
        keyset and stays fast however deep; ``page`` (1-based) jumps by offset. With a cursor,
        ``known_total`` (the previous page's ``total, total_exact``) saves counting again
        (counting a million rows costs more than the page; a reload counts afresh).

        ``filter_text`` matches the start of the user's login, forename or lastname, or the
        start of the address. ``review`` keeps only the rows that need review, each with its
        reasons (``trusted_ip_review``).
        """
        size = max(1, min(int(page_size), MAX_PAGE_SIZE))
        with self._ctx.db.session() as s:
            if page == 1 and cursor is None and not (filter_text or review or known_total):
                self._read_first_page_along(s, _filters(s, "", person_id), size)
            read_with_right(s, actor, SYSTEM_SECURITY, Action.READ)  # and the settings
            trust_days = load_settings(s).trust_days
            where = _filters(s, filter_text, person_id)
            if review:
                now, networks = self._ctx.clock.now(s), load_networks(s)
                where.append(trusted_ip_review.review_filter(s, now, networks, self._verdicts))
            if cursor is not None and known_total is not None:
                total, exact = known_total
            else:
                total, exact = _count(s, where)
            if total == 0:
                return TrustedIpPage([], 0, 0, 0, size)
            found = self._keyset(s, where, cursor, size, trust_days) if cursor else None
            if found is None:
                found = _by_offset(s, where, page, size, total, exact, trust_days)
            rows, first_index, has_previous, has_next = found
            if not rows:
                return TrustedIpPage([], total, 0, 0, size, total_exact=exact)
            if review:
                rows = trusted_ip_review.with_reasons(s, rows, now, networks)
            last_index = first_index + len(rows) - 1
            if exact:
                # A cursor's position may have drifted while other workstations added or
                # removed rows; never show more than there are.
                last_index = min(last_index, total)
                first_index = max(1, min(first_index, last_index - len(rows) + 1))
            top, bottom = rows[0], rows[-1]
            return TrustedIpPage(
                rows=rows,
                total=total,
                first_index=first_index,
                last_index=last_index,
                page_size=size,
                next=PageCursor(bottom.created_at, bottom.id, last_index, "after")
                if has_next
                else None,
                previous=PageCursor(top.created_at, top.id, first_index, "before")
                if has_previous
                else None,
                total_exact=exact,
            )

    def _read_first_page_along(
        self, s: Session, where: list[ColumnElement[bool]], size: int
    ) -> None:
        """The first page's count, rows and office networks go out with the right's check, in
        one round trip (``reads_along``); a refusal discards them (on a server-enforced
        database the server shows them only the rows the right allows anyway)."""
        read_along(s, _count_query(s, where), _newest_first(where, 0, size), networks_query())

    def _keyset(
        self,
        s: Session,
        where: list[ColumnElement[bool]],
        cursor: PageCursor,
        size: int,
        trust_days: int,
    ) -> _Found | None:
        """The page next to the cursor, or None when the caller should fall back to offsets.

        One row more than a page is read to know whether there is a page beyond it.
        """
        at, row_id = cursor.created_at, cursor.id
        if cursor.direction == "after":
            # created_at <= c AND (created_at < c OR id < i): a plain range on the index.
            keyset = and_(
                TrustedIp.created_at <= at, or_(TrustedIp.created_at < at, TrustedIp.id < row_id)
            )
            stmt = (
                _listing([*where, keyset])
                .order_by(TrustedIp.created_at.desc(), TrustedIp.id.desc())
                .limit(size + 1)
            )
            rows = _rows(s.execute(stmt).all(), trust_days, load_networks(s))
            if not rows:
                return None  # everything after it went away
            return rows[:size], cursor.index + 1, True, len(rows) > size
        keyset = and_(
            TrustedIp.created_at >= at, or_(TrustedIp.created_at > at, TrustedIp.id > row_id)
        )
        stmt = (
            _listing([*where, keyset])
            .order_by(TrustedIp.created_at.asc(), TrustedIp.id.asc())
            .limit(size + 1)
        )
        rows = _rows(s.execute(stmt).all(), trust_days, load_networks(s))
        if len(rows) <= size:
            return None  # reached the top: show the first page, full
        page = rows[:size]
        page.reverse()
        return page, max(2, cursor.index - size), True, True

    def for_person(self, actor: Actor, person_id: int) -> list[TrustedIpRow]:
        """Every trusted address of one person, newest first (the Personnel form)."""
        with self._ctx.db.session() as s:
            if actor.person_id != person_id:
                require_any(s, actor, (MAINTENANCE, Action.READ), (SYSTEM_SECURITY, Action.READ))
            trust_days = load_settings(s).trust_days
            stmt = _listing([TrustedIp.person_id == person_id]).order_by(
                TrustedIp.created_at.desc(), TrustedIp.id.desc()
            )
            return _rows(s.execute(stmt).all(), trust_days, load_networks(s))

    def at_address(self, actor: Actor, address: str) -> list[TrustedIpRow]:
        """Everyone who has ``address`` trusted, newest first (System → Security Read): the
        first half of an address trace (``pmdesk ip trace``). The address is read as the list
        stores it (``::ffff:192.0.2.1`` is ``192.0.2.1``); anything else is refused."""
        normalised = normalise_address(address)
        if normalised is None:
            raise ValidationError(
                {
                    "address": translate(
                        "trusted_ips", "'{address}' is not an IP address (192.0.2.10)."
                    ).format(address=address.strip()[:60])
                }
            )
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.READ)
            trust_days = load_settings(s).trust_days
            stmt = _listing([TrustedIp.address == normalised]).order_by(
                TrustedIp.created_at.desc(), TrustedIp.id.desc()
            )
            return _rows(s.execute(stmt).all(), trust_days, load_networks(s))

    def review_count(self, actor: Actor) -> int:
        """How many trusted rows need review (the Security tab's "3 to review"; System →
        Security Read), counted as the list counts (up to ``COUNT_CAP``)."""
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.READ)
            now = self._ctx.clock.now(s)
            review = trusted_ip_review.review_filter(s, now, load_networks(s), self._verdicts)
            return _count(s, [review])[0]

    # ----- changing ----------------------------------------------------------------------------

    def remove(self, actor: Actor, ids: Iterable[int], seen: Sequence[TrustedIpRow] = ()) -> int:
        """Remove trusted addresses by id (System → Security Delete); returns how many.

        Only addresses of people whose rights do not exceed one's own (and one's own): a batch
        with any address of someone who has more rights is refused whole, nothing removed.
        What a person removes can be put back for ``UNDO_WINDOW`` (``restore``).

        ``seen``: these rows as the list shows them. On a server they are then removed in one
        round trip when still as shown (``removal_as_seen``); else, or when not, the long way.
        """
        wanted = sorted({int(i) for i in ids})
        if self._short_way(seen, wanted):
            done = self._ctx.db.write_transaction(
                lambda s: remove_as_seen(
                    s,
                    self._ctx.clock,
                    actor,
                    seen,
                    keep_for_undo=not self._server_undo,
                    undo_window=UNDO_WINDOW,
                    detail_of=_trust_detail,
                    server_undo=(
                        UNDOABLE_SETTING
                        if self._server_undo and actor.person_id is not None
                        else None
                    ),
                )
            )
            if done:
                return len(wanted)

        def remove(s: Session) -> int:
            locked, subjects, now = _lock_for_removal(s, actor, wanted, self._ctx.clock)
            if not locked or now is None:
                return 0
            self._delete_later(s, actor, locked, now, undoable=True)
            return self._audit_removed(s, actor, locked, now, Event.IP_REMOVED, subjects)

        # Run again if the server aborts it to break a deadlock (a sweep or a login deleting
        # or adding trusted addresses at the same moment, on MariaDB).
        return self._ctx.db.write_transaction(remove)

    def restore(self, actor: Actor, ids: Iterable[int]) -> int:
        """Undo: put back trusted addresses this person removed in the last ``UNDO_WINDOW``
        (System → Security Edit); returns how many came back.

        Exactly as they were (person, address, created_at, last_used_at; the same id where it
        is free): an undo never extends trust nor makes a new one. Only rows the actor removed
        themselves; a row whose person is gone, or whose address that person has trusted again
        meanwhile, is skipped. Each row put back is audited ``ip.restored``.
        """
        wanted = sorted({int(i) for i in ids})

        def put_back(s: Session) -> int:
            require(s, actor, SYSTEM_SECURITY, Action.EDIT)
            if actor.person_id is None:
                raise PermissionDenied(
                    translate(
                        "trusted_ips", "Only the person who removed addresses can put them back."
                    )
                )
            if self._server_undo:
                found = s.execute(
                    text(f"SELECT {SCHEMA}.restore_trusted_ips(CAST(:ids AS integer[]))"),
                    {"ids": wanted},
                )
                return int(found.scalar_one())
            return self._restore_here(s, actor, actor.person_id, wanted)

        return self._ctx.db.write_transaction(put_back)

    def _short_way(self, seen: Sequence[TrustedIpRow], wanted: Sequence[int]) -> bool:
        """Whether a removal of rows as shown can be tried in one round trip: on a server, for
        rows ``can_go_short``."""
        return bool(seen) and not self._ctx.db.is_sqlite and can_go_short(seen, wanted)

    @property
    def _server_undo(self) -> bool:
        """Whether the server keeps what Undo may put back (a server-enforced PostgreSQL)."""
        return self._ctx.db.backend == "postgresql" and self._ctx.db.hardening_level > 0

    def _restore_here(self, s: Session, actor: Actor, me: int, wanted: list[int]) -> int:
        now = self._ctx.clock.now(s)
        kept = list(
            s.execute(
                select(TrustedIpRemoval)
                .where(
                    TrustedIpRemoval.trusted_ip_id.in_(wanted),
                    TrustedIpRemoval.removed_by == me,
                    TrustedIpRemoval.removed_at >= now - UNDO_WINDOW,
                )
                .order_by(TrustedIpRemoval.id)
                .with_for_update()
            ).scalars()
        )
        people = {  # locked: whoever makes a person's trusted row holds the person
            pid: group_id
            for pid, group_id in s.execute(
                select(Person.id, Person.group_id)
                .where(Person.id.in_(sorted({k.person_id for k in kept})))
                .order_by(Person.id)
                .with_for_update()
            ).all()
        }
        for group_id in sorted({g for pid, g in people.items() if pid != me}, key=str):
            require_within_own_rights(
                s,
                actor,
                group_id,
                doing=translate("trusted_ips", "put back the trusted addresses of this person"),
            )
        restored: list[TrustedIpRemoval] = []
        for row in kept:
            s.delete(row)
            taken = s.execute(
                select(TrustedIp.id).where(
                    TrustedIp.person_id == row.person_id, TrustedIp.address == row.address
                )
            ).first()
            if row.person_id not in people or taken is not None:
                continue
            free = s.get(TrustedIp, row.trusted_ip_id) is None
            s.add(
                TrustedIp(
                    id=row.trusted_ip_id if free else None,
                    person_id=row.person_id,
                    address=row.address,
                    created_at=row.created_at,
                    last_used_at=row.last_used_at,
                    trusted_by=row.trusted_by,
                    trusted_on=row.trusted_on,
                )
            )
            s.flush()
            restored.append(row)
        subjects = _subjects(s, {r.person_id for r in restored})
        audit.record_many(
            s,
            now,
            actor,
            Event.IP_RESTORED,
            (
                (
                    subjects.get(r.person_id, f"person #{r.person_id}"),
                    _trust_detail(r.address, r.created_at, r.trusted_ip_id),
                )
                for r in restored
            ),
        )
        return len(restored)

    def remove_for_person(self, actor: Actor, person_id: int, ids: Iterable[int]) -> int:
        """Remove some of one person's addresses (Personnel: Maintenance Edit, or Security
        Delete); ids of other people's addresses are ignored."""
        wanted = sorted({int(i) for i in ids})

        def remove(s: Session) -> int:
            require_any(s, actor, (MAINTENANCE, Action.EDIT), (SYSTEM_SECURITY, Action.DELETE))
            person = s.get(Person, person_id)
            if person is not None and actor.person_id != person_id:
                require_within_own_rights(
                    s,
                    actor,
                    person.group_id,
                    doing=translate("trusted_ips", "remove this person's trusted addresses"),
                )
            return self._delete_and_audit(s, actor, wanted, person_id)

        return self._ctx.db.write_transaction(remove)

    def trust_by_admin(self, actor: Actor, person_id: int, address: str) -> TrustedIpRow:
        """An administrator trusts an address for someone (System → Security Edit), for people
        whose rights do not exceed their own. An address that can never be trusted here
        (``why_not_trustable``) is refused with the reason."""
        if normalise_address(address) is None:
            raise ValidationError(
                {
                    "address": translate(
                        "trusted_ips", "'{address}' is not an IP address such as 192.0.2.10."
                    ).format(address=address.strip()[:60])
                }
            )

        def add(s: Session) -> TrustedIpRow:
            require(s, actor, SYSTEM_SECURITY, Action.EDIT)
            # Locked: whoever makes a person's trusted row holds the person (trust_anew).
            person = s.get(Person, person_id, with_for_update=True)
            if person is None:
                raise NotFound(
                    translate(
                        "trusted_ips",
                        "This person no longer exists (another workstation deleted it).",
                    )
                )
            if actor.person_id != person_id:
                require_within_own_rights(
                    s,
                    actor,
                    person.group_id,
                    doing=translate("trusted_ips", "trust an address for this person"),
                )
            refusal = trust_refusal(s, address)
            if refusal is not None:
                raise ValidationError({"address": refusal})
            alert.clear()
            row, anew = trust_anew(s, self._ctx.clock, actor, person_id, address)
            assert row is not None
            s.flush()
            if anew:
                found_alert = alert_for(s, person, row, actor.workstation, self._ctx.language)
                alert.extend([found_alert] if found_alert is not None else [])
            trust_days = load_settings(s).trust_days
            found = s.execute(_listing([TrustedIp.id == row.id])).all()
            return _rows(found, trust_days, load_networks(s))[0]

        alert: list[PendingAlert] = []  # sent once the trust has committed
        added = self._ctx.db.write_transaction(add)
        for pending in alert:
            send_alert(self._ctx, pending)
        return added

    @property
    def swept_by_relay(self) -> bool:
        """On a database hardened to level 3 the relay sweeps (``pmdesk.expire``); the
        workstation's login may no longer touch login attempts, so ``expire`` does nothing."""
        return self._ctx.db.server_codes

    def expire(
        self,
        actor: Actor | None = None,
        *,
        chunk_size: int = 1000,
        should_stop: Callable[[], bool] | None = None,
        pause_s: float | None = None,
    ) -> int:
        """Delete trusted addresses older than the trust period, ≈``chunk_size`` per transaction.

        Safe to run on several workstations at once: each chunk locks the rows it takes
        (``FOR UPDATE SKIP LOCKED`` on PostgreSQL and MariaDB, ``BEGIN IMMEDIATE`` on SQLite)
        and audits only the rows its own DELETE … RETURNING reports. Also purges finished login
        challenges. Returns how many addresses this call removed.

        ``should_stop`` is asked before each chunk and before the purge (a quitting app stops at
        the next one). Between chunks the sweep pauses ``pause_s`` (default: 0.1 s on SQLite,
        none elsewhere): SQLite has one writer at a time, and without a gap a waiting login
        rarely gets its turn.
        """
        if self.swept_by_relay:
            return 0
        who = actor or Actor.system("expiry sweep")
        size = max(1, int(chunk_size))
        pause = (0.1 if self._ctx.db.is_sqlite else 0.0) if pause_s is None else pause_s
        removed = 0
        first = True
        while True:
            if not first and pause > 0:
                time.sleep(pause)
            first = False
            if should_stop is not None and should_stop():  # asked after the pause
                return removed
            ids, deleted = self._expire_chunk(who, size)
            removed += deleted
            if len(ids) < size:
                break
        if should_stop is None or not should_stop():
            self._purge_challenges(size)
        return removed

    # ----- internals ---------------------------------------------------------------------------

    def _expire_chunk(self, who: Actor, size: int) -> tuple[list[int], int]:
        """One chunk in one transaction (run again if the server breaks a deadlock): lock the
        oldest expired rows no other sweep holds, their owners' names read along; the DELETE
        and the log rows go with the COMMIT (two round trips)."""

        def chunk(s: Session) -> tuple[list[int], int]:
            if not who.is_system:
                require(s, who, SYSTEM_SECURITY, Action.DELETE)
            expired = TrustedIp.created_at <= self._expiry_cutoff(s)
            oldest = (
                select(TrustedIp.person_id)
                .where(expired)
                .order_by(TrustedIp.created_at, TrustedIp.id)
                .limit(size)
                .subquery()
            )
            # The owners of the oldest expired rows: those this chunk locks, unless another
            # sweep holds some of them (their owners are then read apart).
            owners = _subjects_query(select(oldest.c.person_id))
            read_along(s, owners)
            dialect = s.get_bind().dialect.name
            rows = s.execute(
                select(*REMOVED_COLUMNS, self._ctx.clock.column(dialect))
                .where(expired)
                .order_by(TrustedIp.created_at, TrustedIp.id)
                .limit(size)
                .with_for_update(skip_locked=True)
                # MariaDB: the index holds the order, so only the chunk's rows are read and
                # locked (a plan that sorts would lock every expired row: other sweeps starve).
                .with_hint(TrustedIp, f"FORCE INDEX ({_BY_AGE})", "mysql")
                .with_hint(TrustedIp, f"FORCE INDEX ({_BY_AGE})", "mariadb")
            ).all()
            if not rows:
                return [], 0
            now = self._ctx.clock.observe(s, rows[0][-1])
            locked: list[_Removed] = [(int(r[0]), int(r[1]), str(r[2]), *r[3:7]) for r in rows]
            known = {
                r[0]: audit.person_subject(r[0], r[1], r[2], r[3]) for r in s.execute(owners).all()
            }
            self._delete_later(s, who, locked, now, undoable=False)
            return [r[0] for r in locked], self._audit_removed(
                s, who, locked, now, Event.IP_EXPIRED, known
            )

        return self._ctx.db.write_transaction(chunk, attempts=CHUNK_ATTEMPTS)

    def _expiry_cutoff(self, s: Session) -> ColumnElement[Any]:
        """Trusted before this, a row has expired: the database clock less the trust period,
        computed by the server in the statement that locks (SQLite: read first, no wire)."""
        if self._ctx.db.is_sqlite:
            now, trust_days = self._now_and_trust_days(s)
            return literal(now - timedelta(days=trust_days), UTCDateTime())
        days = func.coalesce(
            select(SecuritySettings.trust_days)
            .order_by(SecuritySettings.id)
            .limit(1)
            .scalar_subquery(),
            DEFAULT_TRUST_DAYS,
        )
        return self._ctx.clock.days_ago_column(s.get_bind().dialect.name, days)

    def _now_and_trust_days(self, s: Session) -> tuple[datetime, int]:
        """The transaction's "now" and the trust period, in one statement."""
        clock = self._ctx.clock
        found = s.execute(
            select(clock.column(s.get_bind().dialect.name), SecuritySettings.trust_days)
            .order_by(SecuritySettings.id)
            .limit(1)
        ).first()
        if found is None:  # no settings row: the defaults
            return clock.now(s), load_settings(s).trust_days
        return clock.observe(s, found[0]), int(found[1])

    def _delete_and_audit(
        self, s: Session, actor: Actor, ids: Sequence[int], person_id: int
    ) -> int:
        """DELETE … RETURNING of the person's rows among ``ids``, then one audit row per row
        this statement really deleted."""
        if not ids:
            return 0
        now = self._ctx.clock.now(s)
        deleted_rows: list[_Removed] = []
        for start in range(0, len(ids), 500):
            result = s.execute(
                delete(TrustedIp)
                .where(TrustedIp.id.in_(ids[start : start + 500]), TrustedIp.person_id == person_id)
                .returning(*REMOVED_COLUMNS),
                execution_options={"synchronize_session": False},
            )
            deleted_rows.extend(
                (int(r[0]), int(r[1]), str(r[2]), r[3], r[4], r[5], r[6]) for r in result.all()
            )
        return self._audit_removed(s, actor, deleted_rows, now, Event.IP_REMOVED, {})

    def _mark_undoable(self, s: Session, actor: Actor, undoable: bool) -> bool:
        """Whether what is removed next is kept for Undo; on a server-enforced PostgreSQL, tell
        its trigger to keep it (nobody reads that answer: it goes with the DELETE)."""
        undoable = undoable and actor.person_id is not None
        if undoable and self._server_undo:
            write_later(
                s, text("SELECT set_config(:name, 'on', true)").bindparams(name=UNDOABLE_SETTING)
            )
        return undoable

    def _delete_later(
        self,
        s: Session,
        actor: Actor,
        locked: Sequence[_Removed],
        now: datetime,
        *,
        undoable: bool,
    ) -> None:
        """DELETE rows this unit holds locked (``FOR UPDATE``): exactly these go, so nobody
        waits for its answer; it goes out with the COMMIT, with the Undo snapshots."""
        undoable = self._mark_undoable(s, actor, undoable)
        ids = [row[0] for row in locked]
        for start in range(0, len(ids), 500):
            write_later(
                s,
                delete(TrustedIp)
                .where(TrustedIp.id.in_(ids[start : start + 500]))
                .execution_options(synchronize_session=False),
            )
        if undoable and not self._server_undo and actor.person_id is not None:
            self._keep_for_undo(s, actor.person_id, now, locked)

    @staticmethod
    def _audit_removed(
        s: Session,
        actor: Actor,
        removed: Sequence[_Removed],
        at: datetime,
        event: Event,
        known: dict[int, str],
    ) -> int:
        """One log row per trusted row removed; the owners not in ``known`` are read."""
        owners = {r[1] for r in removed}
        subjects = known | _subjects(s, owners - known.keys())
        audit.record_many(
            s,
            at,
            actor,
            event,
            (
                (
                    subjects.get(owner, f"person #{owner}"),
                    _trust_detail(address, created_at, row_id),
                )
                for row_id, owner, address, created_at, *_rest in sorted(removed)
            ),
        )
        return len(removed)

    @staticmethod
    def _keep_for_undo(
        s: Session,
        me: int,
        now: datetime,
        rows: Sequence[_Removed],
    ) -> None:
        """What ``restore`` may put back; older snapshots go."""
        # Nobody reads these answers: they go out with the unit's next statement or COMMIT.
        write_later(
            s, delete(TrustedIpRemoval).where(TrustedIpRemoval.removed_at < now - UNDO_WINDOW)
        )
        kept = [
            {
                "trusted_ip_id": row_id,
                "person_id": owner,
                "address": address,
                "created_at": created_at,
                "last_used_at": used,
                "trusted_by": by,
                "trusted_on": on,
                "removed_by": me,
                "removed_at": now,
            }
            for row_id, owner, address, created_at, used, by, on in sorted(rows)
        ]
        insert_later(s, TrustedIpRemoval, kept)

    def _purge_challenges(self, size: int) -> int:
        """Remove used login challenges and those expired for more than a day."""

        def chunk(s: Session) -> tuple[int, int]:
            now = self._ctx.clock.now(s)
            finished = or_(
                LoginChallenge.expires_at < now - CHALLENGE_KEEP,
                LoginChallenge.used_at.is_not(None),
            )
            ids = list(
                s.execute(
                    select(LoginChallenge.id)
                    .where(finished)
                    .order_by(LoginChallenge.id)
                    .limit(size)
                    .with_for_update(skip_locked=True)
                ).scalars()
            )
            if not ids:
                return 0, 0
            result = s.execute(
                delete(LoginChallenge).where(LoginChallenge.id.in_(ids), finished),
                execution_options={"synchronize_session": False},
            )
            return len(ids), int(getattr(result, "rowcount", 0) or 0)

        purged = 0
        while True:
            taken, deleted = self._ctx.db.write_transaction(chunk, attempts=CHUNK_ATTEMPTS)
            purged += deleted
            if taken < size:
                return purged


# ----- query building -----------------------------------------------------------------------


def _by_offset(
    s: Session,
    where: list[ColumnElement[bool]],
    page: int,
    size: int,
    total: int,
    exact: bool,
    trust_days: int,
) -> _Found:
    """A page by number (clamped to the last one). With an exact total, pages in the older
    half are read from the other end of the index, so the last page is as quick as the first."""
    stmt = _listing(where)
    last_page = -(-total // size)
    # Without an exact count, a jump goes at most to the end of the counted part.
    number = max(1, min(int(page), last_page if exact else COUNT_CAP // size + 1))
    offset = (number - 1) * size
    if not exact or offset <= total // 2:
        rows = _rows(
            s.execute(_newest_first(where, offset, size)).all(),
            trust_days,
            load_networks(s),
        )
        return rows[:size], offset + 1, offset > 0, len(rows) > size
    end = min(offset + size, total)
    oldest_first = stmt.order_by(TrustedIp.created_at.asc(), TrustedIp.id.asc())
    rows = _rows(
        s.execute(oldest_first.offset(total - end).limit(end - offset)).all(),
        trust_days,
        load_networks(s),
    )
    rows.reverse()
    return rows, offset + 1, offset > 0, end < total


_ADDRESS_CHARS = re.compile(r"\A[0-9a-f.:]+\Z")
# Up to this many matching people are looked up first and passed as a list, so that the
# (person_id, created_at, id) index serves each of them; more than that and the match is dense
# enough that walking the list newest first finds a page quickly anyway.
PERSON_LIST_LIMIT = 1000
# A chunk the server aborted to break a deadlock is run again, this many times at most.
CHUNK_ATTEMPTS = 5


def _filters(s: Session, filter_text: str, person_id: int | None) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if person_id is not None:
        where.append(TrustedIp.person_id == person_id)
    term = search_text(filter_text)
    if term:
        where.append(_text_filter(s, term))
    return where


def _text_filter(s: Session, term: str) -> ColumnElement[bool]:
    dialect = s.get_bind().dialect.name
    people = select(Person.id).where(
        or_(
            *(
                starts_with(column, term, dialect)
                for column in (Person.login_key, Person.last_name_key, Person.first_name_key)
            )
        )
    )
    found = list(s.execute(people.limit(PERSON_LIST_LIMIT + 1)).scalars())
    matches: list[ColumnElement[bool]] = []
    if len(found) > PERSON_LIST_LIMIT:
        matches.append(TrustedIp.person_id.in_(people))
    elif found:
        matches.append(TrustedIp.person_id.in_(found))
    address = normalise_address(term)
    if address is not None:
        # A whole address means that address: an equality every engine serves from the index.
        matches.append(TrustedIp.address == address)
    elif _ADDRESS_CHARS.match(term):
        address = term
        # Addresses are stored lower-case and byte-wise ordered (migration 0004): the
        # prefix range or LIKE is served by ix_trusted_ips_address on every engine.
        matches.append(starts_with(TrustedIp.address, address, dialect))
    if not matches:
        return false()
    return or_(*matches) if len(matches) > 1 else matches[0]


def _count(s: Session, where: list[ColumnElement[bool]]) -> tuple[int, bool]:
    """(count, exact): counting stops at COUNT_CAP, so a huge list costs no more than that.

    SQLite counts a whole table or index range faster than it reads COUNT_CAP rows, so it
    always counts exactly.
    """
    found = int(s.execute(_count_query(s, where)).scalar_one())
    if s.get_bind().dialect.name == "sqlite":
        return found, True
    return (COUNT_CAP, False) if found > COUNT_CAP else (found, True)


def _count_query(s: Session, where: list[ColumnElement[bool]]) -> Select[int]:
    if s.get_bind().dialect.name == "sqlite":
        return select(func.count()).select_from(TrustedIp).where(*where)
    capped = select(TrustedIp.id).where(*where).limit(COUNT_CAP + 1).subquery()
    return select(func.count()).select_from(capped)


def _newest_first(where: list[ColumnElement[bool]], offset: int, size: int) -> Select[*_Listing]:
    """A page's rows from the newest end, with one more to tell whether another follows."""
    newest = _listing(where).order_by(TrustedIp.created_at.desc(), TrustedIp.id.desc())
    return newest.offset(offset).limit(size + 1)


def _listing(where: list[ColumnElement[bool]]) -> Select[*_Listing]:
    return (
        select(
            TrustedIp.id,
            TrustedIp.address,
            TrustedIp.created_at,
            TrustedIp.last_used_at,
            TrustedIp.person_id,
            Person.first_name,
            Person.last_name,
            Person.login,
        )
        .join(Person, Person.id == TrustedIp.person_id)
        .where(*where)
    )


def _rows(
    rows: Sequence[Row[*_Listing]], trust_days: int, networks: Sequence[tuple[str, list[Network]]]
) -> list[TrustedIpRow]:
    period = timedelta(days=trust_days)
    found: list[TrustedIpRow] = []
    for r in rows:
        row_id, address, created_at, last_used_at, person_id, first, last, login = r
        found.append(
            TrustedIpRow(
                id=row_id,
                address=address,
                created_at=created_at,
                last_used_at=last_used_at,
                person_id=person_id,
                person_name=" ".join(p for p in (first, last) if p),
                login=login or "",
                expires_at=created_at + period,
                network_name=network_of(address, networks) or OUTSIDE,
            )
        )
    return found


def _lock_for_removal(
    s: Session, actor: Actor, ids: Sequence[int], clock: Clock
) -> tuple[list[_Removed], dict[int, str], datetime | None]:
    """Lock the trusted rows to remove, with the right and the clock in the same statement and
    their owners read along (one round trip per 500 addresses). Refuse (PermissionDenied,
    nothing removed) without System → Security Delete, or when any of these addresses belongs
    to someone else whose Usergroup has rights the actor's lacks. Returns the rows, the owners'
    log names and the transaction's "now" (None when none of the addresses is there)."""
    allowed = right_column(actor, SYSTEM_SECURITY, Action.DELETE)
    now_column = clock.column(s.get_bind().dialect.name)
    rows: list[Any] = []
    owners: list[Any] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        owners_query = _owners_query(chunk)
        read_along(s, owners_query)
        rows += s.execute(
            select(*REMOVED_COLUMNS, allowed, now_column)
            .where(TrustedIp.id.in_(chunk))
            .order_by(TrustedIp.id)  # every remover locks in the same order
            .with_for_update()
        ).all()
        owners += s.execute(owners_query).all()
    if not rows or not rows[0][-2]:
        require(s, actor, SYSTEM_SECURITY, Action.DELETE)  # refused, or else: nothing there
    now = clock.observe(s, rows[0][-1]) if rows else None
    subjects = {r[0]: audit.person_subject(r[0], r[2], r[3], r[4]) for r in owners}
    if not actor.is_system:
        others = {
            pid: (group_id, subjects[pid])
            for pid, group_id, *_rest in owners
            if pid != actor.person_id
        }
        _require_owners_within_rights(actor, s, others)
    locked: list[_Removed] = [(int(r[0]), int(r[1]), str(r[2]), *r[3:7]) for r in rows]
    return locked, subjects, now


# The index a sweep takes its chunks in (oldest first).
_BY_AGE = "ix_trusted_ips_created_id"


def _owners_query(ids: Sequence[int]) -> Select[int, int | None, str | None, str, str]:
    """The owners of these trusted rows: their group, for the rights check, and log name."""
    return (
        select(Person.id, Person.group_id, Person.login, Person.first_name, Person.last_name)
        .where(Person.id.in_(select(TrustedIp.person_id).where(TrustedIp.id.in_(ids))))
        .order_by(Person.id)
    )


def _require_owners_within_rights(
    actor: Actor, s: Session, owners: dict[int, tuple[int | None, str]]
) -> None:
    """Refuse when any of these owners (person: group, log name) is someone else whose
    Usergroup has rights the actor's lacks."""
    checked: set[int | None] = set()
    for _pid, (group_id, subject) in sorted(owners.items()):
        if group_id in checked:
            continue
        try:
            require_within_own_rights(
                s,
                actor,
                group_id,
                doing=translate("trusted_ips", "remove the trusted addresses of {person}").format(
                    person=subject
                ),
            )
        except PermissionDenied as exc:
            raise PermissionDenied(
                translate("trusted_ips", "{refusal} Nothing was removed.").format(
                    refusal=message_of(exc)
                )
            ) from exc
        checked.add(group_id)


def _subjects(s: Session, person_ids: set[int]) -> dict[int, str]:
    if not person_ids:
        return {}
    rows = s.execute(_subjects_query(person_ids)).all()
    return {r[0]: audit.person_subject(r[0], r[1], r[2], r[3]) for r in rows}


def _subjects_query(
    person_ids: set[int] | Select[Any],
) -> Select[int, str | None, str, str]:
    """The log names of these people, or of those a query finds (``_subjects``)."""
    wanted = sorted(person_ids) if isinstance(person_ids, set) else person_ids
    return select(Person.id, Person.login, Person.first_name, Person.last_name).where(
        Person.id.in_(wanted)
    )


def _subject_of(s: Session, person_id: int) -> str:
    """How the log names the person; read only when the unit has not loaded them yet (a
    sign-in step has: it locked them)."""
    person = s.get(Person, person_id)
    if person is None:
        return f"person #{person_id}"
    return audit.person_subject(person.id, person.login, person.first_name, person.last_name)


def _as_utc_text(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _trust_detail(address: str, created_at: datetime, row_id: int) -> str:
    """How the log names one trusted row (removed, expired, put back)."""
    return f"address {address}, trusted since {_as_utc_text(created_at)} (#{row_id})"
