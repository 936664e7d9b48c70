"""Temporary account lockout after repeated failures (the Keycloak brute-force model).

Ten consecutive failures (wrong password or wrong security code) lock the account for one
minute; each later lock doubles, up to fifteen minutes. Twelve hours without a failure forget
the count (and the doubling); a successful login resets both. An administrator can unlock at
any time (``PersonnelService.unlock``).

The counters are written with plain UPDATE statements: they must not bump the person's
``version``, or an administrator editing that person would get a false conflict each time
someone mistypes a password. Callers hold the person's row lock (``SELECT ... FOR UPDATE`` in a
``write_session``), so read-modify-write is safe.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pmdesk.core import audit, sessions
from pmdesk.core.audit import Event
from pmdesk.core.clock import Clock
from pmdesk.core.context import Actor
from pmdesk.core.models import Person

MAX_FAILURES = 10
FIRST_LOCK = timedelta(minutes=1)
MAX_LOCK = timedelta(minutes=15)
RESET_AFTER = timedelta(hours=12)


@dataclass(frozen=True)
class LockState:
    """A person's lockout counters at one moment."""

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


def lock_duration(lock_count: int) -> timedelta:
    """How long the ``lock_count``-th lock lasts: 1, 2, 4, 8, 15, 15 … minutes."""
    if lock_count <= 1:
        return FIRST_LOCK
    if lock_count > 8:  # 2**8 minutes is already far above the cap
        return MAX_LOCK
    return min(FIRST_LOCK * (1 << (lock_count - 1)), MAX_LOCK)


def lock_for_update(session: Session, person_id: int) -> Person | None:
    """The person, with their row locked until the transaction ends."""
    return session.execute(
        select(Person).where(Person.id == person_id).with_for_update()
    ).scalar_one_or_none()


def record_failure(
    session: Session, clock: Clock, actor: Actor, person: Person, now: datetime
) -> datetime | None:
    """Count one failure; returns the new ``locked_until`` when this failure locks the account.

    Failures while the account is already locked are not counted (they are refused unread).
    """
    state = LockState.of(person)
    if state.locked(now):
        return None
    failures, lock_count = state.failed_logins, state.lock_count
    if state.last_failed_at is not None and now - state.last_failed_at >= RESET_AFTER:
        failures, lock_count = 0, 0
    failures += 1
    locked_until: datetime | None = None
    if failures >= MAX_FAILURES:
        lock_count += 1
        locked_until = now + lock_duration(lock_count)
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
        # A locked account keeps no session open anywhere.
        ended = sessions.end_all(session, person.id)
        minutes = int(lock_duration(lock_count).total_seconds() // 60)
        audit.record(
            session,
            clock,
            actor,
            Event.ACCOUNT_LOCKED,
            subject=person.login or f"person #{person.id}",
            detail=f"after {MAX_FAILURES} failures; lock {lock_count}, {minutes} min"
            + (f"; {ended} sessions ended" if ended else ""),
        )
    return locked_until


def record_success(session: Session, person: Person) -> None:
    """A completed login: forget failures and the doubling."""
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
    session.execute(
        update(Person)
        .where(Person.id == person.id)
        .values(
            failed_logins=failed_logins,
            lock_count=lock_count,
            last_failed_at=last_failed_at,
            locked_until=locked_until,
        )
        .execution_options(synchronize_session=False)
    )
    # Keep the loaded object in step without marking it dirty (no version bump on flush).
    session.expire(person, ["failed_logins", "lock_count", "last_failed_at", "locked_until"])
