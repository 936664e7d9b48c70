"""Temporary lockout after repeated failures (the Keycloak brute-force model, per address).

Failures (a wrong password or a wrong security code) are counted twice:

- per (person, address), in ``login_failures``: ``lock_after_failures`` of them in a row (a
  System → Security setting, 3–100, default 10) lock that person *from that address* for
  ``first_lock_minutes``; each later lock there doubles, up to ``max_lock_minutes``. A guesser
  at one address cannot lock the person out from everywhere;
- per person, on the ``personnel`` row: every failure from anywhere counts, and
  ``PERSON_CAP`` (100, NIST SP 800-63B's cap on consecutive failures) lock the person
  everywhere, with the same doubling, ending their sessions: a guesser spread over many
  addresses is stopped too.

Twelve hours without a failure forget a count (and its doubling); a successful sign-in from an
address clears that address's row and the person's count. Failures while locked are refused
unread and not counted. An administrator can unlock at any time (``PersonnelService.unlock``,
which clears the person's address locks too).

The person's counters are written with plain UPDATE statements: they must not bump the
person's ``version``, or an administrator editing that person would get a false conflict each
time someone mistypes a password. Callers hold the person's row lock (``SELECT ... FOR UPDATE``
in a ``write_session``), so read-modify-write is safe, for the address rows too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from pmdesk.core import audit, sessions
from pmdesk.core.audit import Event
from pmdesk.core.clock import Clock
from pmdesk.core.context import Actor
from pmdesk.core.i18n import translate
from pmdesk.core.lazy_transactions import insert_later, write_later
from pmdesk.core.locked_rows import write_changes_later
from pmdesk.core.models import LoginFailure, Person
from pmdesk.core.people import display_name
from pmdesk.core.settings_row import settings_row

#: Consecutive failures from anywhere that lock a person everywhere (NIST SP 800-63B §5.2.2).
PERSON_CAP = 100
RESET_AFTER = timedelta(hours=12)
# The settings' defaults and bounds (System → Security, "Lockout").
MAX_FAILURES = 10
FIRST_LOCK = timedelta(minutes=1)
MAX_LOCK = timedelta(minutes=15)
LOCK_AFTER_RANGE = (3, PERSON_CAP)
FIRST_LOCK_MINUTES_RANGE = (1, 60)
MAX_LOCK_MINUTES_LIMIT = 1440  # a day
#: How the unknown address (a local socket) is kept in ``login_failures.address``.
UNKNOWN_ADDRESS = ""


@dataclass(frozen=True)
class Thresholds:
    """The lockout's numbers from the settings."""

    lock_after: int = MAX_FAILURES
    first_lock: timedelta = FIRST_LOCK
    max_lock: timedelta = MAX_LOCK


def thresholds(session: Session) -> Thresholds:
    """The numbers in force (the defaults when there is no settings row)."""
    row = settings_row(session)
    if row is None:
        return Thresholds()
    return Thresholds(
        row.lock_after_failures,
        timedelta(minutes=row.first_lock_minutes),
        timedelta(minutes=row.max_lock_minutes),
    )


@dataclass(frozen=True)
class LockState:
    """A person's person-wide lockout counters at one moment."""

    failed_logins: int
    lock_count: int
    locked_until: datetime | None
    last_failed_at: datetime | None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    @classmethod
    def of(cls, person: Person) -> LockState:
        return cls(
            person.failed_logins, person.lock_count, person.locked_until, person.last_failed_at
        )


def lock_duration(
    lock_count: int, first: timedelta = FIRST_LOCK, longest: timedelta = MAX_LOCK
) -> timedelta:
    """How long the ``lock_count``-th lock lasts: first, doubling, capped (1, 2, 4, 8, 15 …)."""
    if lock_count <= 1:
        return min(first, longest)
    if lock_count > 12:  # 2**11 times a minute is already above the longest allowed
        return longest
    return min(first * (1 << (lock_count - 1)), longest)


def address_key(address: str | None) -> str:
    return address if address else UNKNOWN_ADDRESS


def lock_for_update(session: Session, person_id: int) -> Person | None:
    """The person, with their row locked until the transaction ends."""
    return session.execute(
        select(Person).where(Person.id == person_id).with_for_update()
    ).scalar_one_or_none()


_ADDRESS_ROWS = "pmdesk_failure_rows"  # session.info: (transaction, {(person, address): row})


def _address_row(session: Session, person_id: int, address: str | None) -> LoginFailure | None:
    """The (person, address) failure row, read once per transaction: a sign-in step asks
    whether it locks, then counts a failure or forgets it (``_keep_address_row`` after)."""
    rows = _kept_rows(session)
    key = (person_id, address_key(address))
    if key not in rows:
        rows[key] = session.execute(failure_row_query(person_id, address)).scalar_one_or_none()
    return rows[key]


def failure_row_query(person_id: int, address: str | None) -> Select[LoginFailure]:
    """The (person, address) failure row: a sign-in step may read it along
    (``reads_along``) with the statement that locks the person."""
    return select(LoginFailure).where(
        LoginFailure.person_id == person_id, LoginFailure.address == address_key(address)
    )


def _keep_address_row(
    session: Session, person_id: int, address: str | None, row: LoginFailure | None
) -> None:
    _kept_rows(session)[(person_id, address_key(address))] = row


def keep_failure_row(
    session: Session, person_id: int, address: str | None, row: LoginFailure | None
) -> None:
    """The (person, address) failure row (or None: there is none), read by another query of
    this transaction under the person's lock: the sign-in step's checks and counts use it."""
    _keep_address_row(session, person_id, address, row)


def _kept_rows(session: Session) -> dict[tuple[int, str], LoginFailure | None]:
    transaction = session.get_transaction()
    kept = session.info.get(_ADDRESS_ROWS)
    if kept is None or kept[0] is not transaction:
        kept = (transaction, {})
        session.info[_ADDRESS_ROWS] = kept
    rows: dict[tuple[int, str], LoginFailure | None] = kept[1]
    return rows


def is_locked_out(session: Session, person: Person, address: str | None, now: datetime) -> bool:
    """Whether the person may not sign in from ``address`` now: locked everywhere, or there."""
    if LockState.of(person).locked(now):
        return True
    row = _address_row(session, person.id, address)
    return row is not None and row.locked_until is not None and row.locked_until > now


def record_failure(
    session: Session,
    clock: Clock,
    actor: Actor,
    person: Person,
    now: datetime,
    address: str | None = None,
) -> datetime | None:
    """Count one failure from ``address``; returns the new ``locked_until`` when it locks the
    person (there, or everywhere). Failures while locked are not counted."""
    if is_locked_out(session, person, address, now):
        return None
    limits = thresholds(session)
    locked_there = _count_at_address(session, clock, actor, person, now, address, limits)
    locked_everywhere = _count_for_person(session, clock, actor, person, now, limits)
    return locked_everywhere or locked_there


def _count_at_address(
    session: Session,
    clock: Clock,
    actor: Actor,
    person: Person,
    now: datetime,
    address: str | None,
    limits: Thresholds,
) -> datetime | None:
    row = _address_row(session, person.id, address)
    fresh = row is None
    if row is None:  # not added to the session: its INSERT waits for the COMMIT (below)
        row = LoginFailure(person_id=person.id, address=address_key(address), failed=0)
        row.lock_count = 0
        _keep_address_row(session, person.id, address, row)
    elif row.last_failed_at is not None and now - row.last_failed_at >= RESET_AFTER:
        row.failed, row.lock_count = 0, 0
    row.failed += 1
    row.last_failed_at = now
    locked = row.failed >= limits.lock_after
    if locked:
        row.lock_count += 1
        length = lock_duration(row.lock_count, limits.first_lock, limits.max_lock)
        row.locked_until = now + length
        row.failed = 0
    # The person is locked by the sign-in step, and the row with them (every writer of a
    # person's failure rows holds the person): nobody waits for these answers.
    if fresh:
        columns = ("person_id", "address", "failed", "lock_count", "locked_until", "last_failed_at")
        insert_later(session, LoginFailure, [{name: getattr(row, name) for name in columns}])
    else:
        write_changes_later(session, row)
    if not locked:
        return None
    where = f"from {address or 'an unknown address'} after {limits.lock_after} failures"
    _audit_lock(session, clock, actor, person, f"{where}; lock {row.lock_count}", length)
    return row.locked_until


def _count_for_person(
    session: Session, clock: Clock, actor: Actor, person: Person, now: datetime, limits: Thresholds
) -> datetime | None:
    state = LockState.of(person)
    failures, lock_count = state.failed_logins, state.lock_count
    if state.last_failed_at is not None and now - state.last_failed_at >= RESET_AFTER:
        failures, lock_count = 0, 0
    failures += 1
    locked_until: datetime | None = None
    if failures >= PERSON_CAP:
        lock_count += 1
        locked_until = now + lock_duration(lock_count, limits.first_lock, limits.max_lock)
        failures = 0
    _write(
        session,
        person,
        failed_logins=failures,
        lock_count=lock_count,
        last_failed_at=now,
        locked_until=locked_until if locked_until is not None else state.locked_until,
    )
    if locked_until is not None:
        # A person locked everywhere keeps no session open anywhere.
        ended = sessions.end_all(session, person.id)
        length = lock_duration(lock_count, limits.first_lock, limits.max_lock)
        what = f"everywhere after {PERSON_CAP} failures; lock {lock_count}"
        _audit_lock(session, clock, actor, person, what, length, ended)
    return locked_until


def _audit_lock(
    session: Session,
    clock: Clock,
    actor: Actor,
    person: Person,
    what: str,
    length: timedelta,
    ended: int = 0,
) -> None:
    minutes = int(length.total_seconds() // 60)
    audit.record(
        session,
        clock,
        actor,
        Event.ACCOUNT_LOCKED,
        subject=person.login or f"person #{person.id}",
        detail=f"{what}, {minutes} min" + (f"; {ended} sessions ended" if ended else ""),
    )


def record_success(session: Session, person: Person, address: str | None = None) -> None:
    """A completed sign-in from ``address``: forget that address's failures and the person's
    count (and their doublings). Other addresses keep theirs."""
    row = _address_row(session, person.id, address)
    if row is not None:  # (locked with the person: with the unit's next statement or COMMIT)
        write_later(session, delete(LoginFailure).where(LoginFailure.id == row.id))
        _keep_address_row(session, person.id, address, None)
    state = LockState.of(person)
    if state == LockState(0, 0, None, None):
        return
    _write(session, person, failed_logins=0, lock_count=0, last_failed_at=None, locked_until=None)


def _write(
    session: Session,
    person: Person,
    *,
    failed_logins: int,
    lock_count: int,
    last_failed_at: datetime | None,
    locked_until: datetime | None,
) -> None:
    values = {
        "failed_logins": failed_logins,
        "lock_count": lock_count,
        "last_failed_at": last_failed_at,
        "locked_until": locked_until,
    }
    # A plain UPDATE (no version bump: an administrator editing this person meanwhile gets
    # no false conflict), with the unit's next statement or COMMIT; the loaded object kept
    # in step without being marked dirty.
    write_later(session, update(Person).where(Person.id == person.id).values(**values))
    for name, value in values.items():
        set_committed_value(person, name, value)


# ----- the Locked now list (System → Security, ``pmdesk user locked``) ---------------------


@dataclass(frozen=True)
class Lock:
    """One lock in force: a person locked everywhere (``address`` None) or from one address
    (``""`` the unknown address)."""

    person_id: int
    login: str | None
    name: str
    address: str | None
    locked_until: datetime
    seconds_left: int
    lock_count: int  # the how-many-th lock in a row (each doubles)
    failures: int  # failures counted since this lock began

    @property
    def where(self) -> str:
        if self.address is None:
            return "everywhere"
        return self.address or "unknown address"


def locks_in_force(session: Session, now: datetime) -> list[Lock]:
    """Every lock in force at ``now``, the longest first."""
    everywhere = session.execute(select(Person).where(Person.locked_until > now)).scalars().all()
    found = [
        Lock(
            p.id,
            p.login,
            display_name(p),
            None,
            p.locked_until,
            _left(p.locked_until, now),
            p.lock_count,
            p.failed_logins,
        )
        for p in everywhere
        if p.locked_until is not None
    ]
    at_address = session.execute(
        select(LoginFailure, Person)
        .join(Person, Person.id == LoginFailure.person_id)
        .where(LoginFailure.locked_until > now)
    ).all()
    for row, p in at_address:
        assert row.locked_until is not None
        found.append(
            Lock(
                p.id,
                p.login,
                display_name(p),
                row.address,
                row.locked_until,
                _left(row.locked_until, now),
                row.lock_count,
                row.failed,
            )
        )
    return sorted(found, key=lambda lock: (-lock.seconds_left, lock.name, lock.where))


def _left(until: datetime, now: datetime) -> int:
    return max(0, int((until - now).total_seconds() + 0.999))


def time_left(seconds: int) -> str:
    """How long a lock still lasts, as the list shows it: "45 s", "12 min", "3 h 5 min"."""
    if seconds < 60:
        return translate("lockout", "{seconds} s").format(seconds=seconds)
    minutes = (seconds + 59) // 60
    if minutes < 60:
        return translate("lockout", "{minutes} min").format(minutes=minutes)
    if minutes % 60:
        return translate("lockout", "{hours} h {minutes} min").format(
            hours=minutes // 60, minutes=minutes % 60
        )
    return translate("lockout", "{hours} h").format(hours=minutes // 60)
