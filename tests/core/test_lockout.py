"""Account lockout: 10 failures lock for 1, 2, 4, 8, 15 minutes; 12 quiet hours forget."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from pmdesk.core.auth import GENERIC_REFUSAL, CodeNeeded, LoginService, Refused, SignedIn
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.lockout import lock_duration
from pmdesk.core.models import AuditEvent
from pmdesk.core.personnel import PersonnelService
from tests.helpers.databases import stage
from tests.helpers.login import (
    CollectingDelivery,
    add_user,
    audit_events,
    enable_two_factor,
    person,
    service,
)

PASSWORD = "Harbour-Light-7"


@pytest.fixture
def alice(ctx: CoreContext) -> int:
    return add_user(ctx, "alice", PASSWORD)


@pytest.fixture
def login(ctx: CoreContext) -> LoginService:
    return service(ctx, CollectingDelivery())


def fail(login: LoginService, times: int) -> None:
    for _ in range(times):
        result = login.begin("alice", "wrong-password")
        assert isinstance(result, Refused) and result.message == GENERIC_REFUSAL


def locked(login: LoginService) -> bool:
    """Whether the right password is refused (it would sign in and reset, if not locked)."""
    result = login.begin("alice", PASSWORD)
    return isinstance(result, Refused)


def test_lock_lengths_double_up_to_fifteen_minutes() -> None:
    minutes = [lock_duration(n).total_seconds() / 60 for n in range(1, 9)]
    assert minutes == [1, 2, 4, 8, 15, 15, 15, 15]
    assert lock_duration(10_000) == timedelta(minutes=15)


def test_nine_failures_do_not_lock(ctx: CoreContext, alice: int, login: LoginService) -> None:
    fail(login, 9)
    assert person(ctx, alice).failed_logins == 9
    assert isinstance(login.begin("alice", PASSWORD), SignedIn)
    after = person(ctx, alice)
    assert (after.failed_logins, after.lock_count, after.locked_until) == (0, 0, None)


def test_ten_failures_lock_and_each_lock_doubles(
    ctx: CoreContext, alice: int, login: LoginService, clock: ShiftedClock
) -> None:
    for number, expected in enumerate((1, 2, 4, 8, 15, 15), start=1):
        fail(login, 10)
        state = person(ctx, alice)
        assert state.lock_count == number
        assert state.locked_until is not None and state.last_failed_at is not None
        assert state.locked_until - state.last_failed_at == timedelta(minutes=expected)
        # Still locked a second before the end, even with the right password.
        clock.advance(timedelta(minutes=expected) - timedelta(seconds=1))
        fail(login, 3)
        assert locked(login)
        clock.advance(timedelta(seconds=2))
        # Failures while locked were not counted: the next lock needs ten new ones.
        assert person(ctx, alice).failed_logins == 0

    assert isinstance(login.begin("alice", PASSWORD), SignedIn)
    after = person(ctx, alice)
    assert (after.failed_logins, after.lock_count) == (0, 0)
    with stage(ctx.db) as s:
        locks = s.scalars(select(AuditEvent).where(AuditEvent.event == "account.locked")).all()
    assert len(locks) == 6
    assert locks[0].subject == "alice" and "1 min" in locks[0].detail


def test_twelve_quiet_hours_forget_failures_and_doubling(
    ctx: CoreContext, alice: int, login: LoginService, clock: ShiftedClock
) -> None:
    fail(login, 10)  # lock 1
    clock.advance(timedelta(minutes=2))
    fail(login, 9)
    clock.advance(timedelta(hours=12))
    fail(login, 1)
    assert person(ctx, alice).failed_logins == 1  # the nine were forgotten
    fail(login, 9)
    state = person(ctx, alice)
    assert state.lock_count == 1  # not the doubled second lock
    assert state.locked_until is not None and state.last_failed_at is not None
    assert state.locked_until - state.last_failed_at == timedelta(minutes=1)


def test_less_than_twelve_hours_keeps_counting(
    ctx: CoreContext, alice: int, login: LoginService, clock: ShiftedClock
) -> None:
    fail(login, 9)
    clock.advance(timedelta(hours=11, minutes=59))
    fail(login, 1)
    assert locked(login)


def test_an_administrator_can_unlock(ctx: CoreContext, alice: int, login: LoginService) -> None:
    fail(login, 10)
    assert locked(login)

    PersonnelService(ctx).unlock(Actor.command_line(), alice)

    assert isinstance(login.begin("alice", PASSWORD), SignedIn)
    assert "account.unlocked" in [e.event for e in audit_events(ctx)]


def test_wrong_codes_count_towards_the_lock(
    ctx: CoreContext, alice: int, clock: ShiftedClock
) -> None:
    enable_two_factor(ctx)
    delivery = CollectingDelivery()
    login = service(ctx, delivery)
    fail(login, 8)
    needed = login.begin("alice", PASSWORD)
    assert isinstance(needed, CodeNeeded)
    code = delivery.last_code
    other = f"{(int(code) + 1) % 10**6:06d}"

    assert isinstance(login.verify(needed.challenge_id, other, False), Refused)
    tenth = login.verify(needed.challenge_id, other, False)  # the tenth failure
    assert isinstance(tenth, Refused)

    # Locked: even the right code is refused now, with the generic message.
    refused = login.verify(needed.challenge_id, code, False)
    assert isinstance(refused, Refused) and refused.message == GENERIC_REFUSAL
    assert "account.locked" in [e.event for e in audit_events(ctx)]
    # Once the lock is over, the code (still valid, three attempts left) works.
    clock.advance(timedelta(minutes=1, seconds=1))
    assert isinstance(login.verify(needed.challenge_id, code, False), SignedIn)
