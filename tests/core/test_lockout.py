"""Lockout per (person, address): 10 failures from one address lock the person there for 1, 2,
4, 8, 15 minutes; 100 from anywhere lock them everywhere; 12 quiet hours forget; the numbers
are System → Security settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from pmdesk.core.auth import GENERIC_REFUSAL, CodeNeeded, LoginService, Refused, SignedIn
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.lockout import PERSON_CAP, lock_duration
from pmdesk.core.models import AuditEvent, LoginFailure, Person
from pmdesk.core.personnel import PersonnelService
from tests.helpers.databases import stage
from tests.helpers.login import (
    CollectingDelivery,
    add_user,
    audit_events,
    enable_two_factor,
    person,
    service,
    set_security,
)

PASSWORD = "Harbour-Light-7"
ELSEWHERE = "198.51.100.7"  # an address the tests never sign in from


@pytest.fixture
def alice(ctx: CoreContext) -> int:
    return add_user(ctx, "alice", PASSWORD)


@pytest.fixture
def login(ctx: CoreContext) -> LoginService:
    return service(ctx, CollectingDelivery())


@dataclass(frozen=True)
class AddressRow:
    failed: int
    lock_count: int
    locked_until: datetime | None
    last_failed_at: datetime | None


def fail(login: LoginService, times: int) -> None:
    for _ in range(times):
        result = login.begin("alice", "wrong-password")
        assert isinstance(result, Refused) and result.message == GENERIC_REFUSAL


def locked(login: LoginService) -> bool:
    """Whether the right password is refused (it would sign in and reset, if not locked)."""
    result = login.begin("alice", PASSWORD)
    return isinstance(result, Refused)


def addresses(ctx: CoreContext, person_id: int) -> dict[str, AddressRow]:
    with stage(ctx.db) as s:
        rows = s.scalars(select(LoginFailure).where(LoginFailure.person_id == person_id)).all()
        return {
            r.address: AddressRow(r.failed, r.lock_count, r.locked_until, r.last_failed_at)
            for r in rows
        }


def here(ctx: CoreContext, person_id: int) -> AddressRow:
    """The one row of the address the tests sign in from."""
    rows = {a: r for a, r in addresses(ctx, person_id).items() if a != ELSEWHERE}
    assert len(rows) == 1, rows
    return next(iter(rows.values()))


def stage_address(ctx: CoreContext, person_id: int, **values: object) -> None:
    """A row for ELSEWHERE, as failures from there would have left it."""
    with stage(ctx.db) as s:
        row = LoginFailure(person_id=person_id, address=ELSEWHERE, failed=0, lock_count=0)
        for name, value in values.items():
            setattr(row, name, value)
        s.add(row)


def locks(ctx: CoreContext) -> list[AuditEvent]:
    with stage(ctx.db) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.event == "account.locked")))


def test_lock_lengths_double_up_to_the_longest() -> None:
    minutes = [lock_duration(n).total_seconds() / 60 for n in range(1, 9)]
    assert minutes == [1, 2, 4, 8, 15, 15, 15, 15]
    assert lock_duration(10_000) == timedelta(minutes=15)
    longer = [
        lock_duration(n, timedelta(minutes=5), timedelta(hours=1)).total_seconds() / 60
        for n in range(1, 6)
    ]
    assert longer == [5, 10, 20, 40, 60]


def test_nine_failures_do_not_lock(ctx: CoreContext, alice: int, login: LoginService) -> None:
    fail(login, 9)
    assert here(ctx, alice).failed == 9
    assert person(ctx, alice).failed_logins == 9
    assert isinstance(login.begin("alice", PASSWORD), SignedIn)
    after = person(ctx, alice)
    assert (after.failed_logins, after.lock_count, after.locked_until) == (0, 0, None)
    assert addresses(ctx, alice) == {}  # a success forgets this address's failures


def test_ten_failures_lock_this_address_and_each_lock_doubles(
    ctx: CoreContext, alice: int, login: LoginService, clock: ShiftedClock
) -> None:
    for number, expected in enumerate((1, 2, 4, 8, 15, 15), start=1):
        fail(login, 10)
        state = here(ctx, alice)
        assert state.lock_count == number
        assert state.locked_until is not None and state.last_failed_at is not None
        assert state.locked_until - state.last_failed_at == timedelta(minutes=expected)
        # Still locked a second before the end, even with the right password.
        clock.advance(timedelta(minutes=expected) - timedelta(seconds=1))
        fail(login, 3)
        assert locked(login)
        clock.advance(timedelta(seconds=2))
        # Failures while locked were not counted: the next lock needs ten new ones.
        assert here(ctx, alice).failed == 0

    # The person is not locked everywhere: 60 failures are below the cap of 100.
    assert person(ctx, alice).locked_until is None
    assert person(ctx, alice).failed_logins == 60
    assert isinstance(login.begin("alice", PASSWORD), SignedIn)
    after = person(ctx, alice)
    assert (after.failed_logins, after.lock_count) == (0, 0)
    found = locks(ctx)
    assert len(found) == 6
    assert found[0].subject == "alice" and "after 10 failures; lock 1, 1 min" in found[0].detail


def test_a_lock_at_one_address_does_not_lock_another(
    ctx: CoreContext, alice: int, login: LoginService
) -> None:
    stage_address(ctx, alice, failed=4)
    fail(login, 10)
    assert locked(login)
    # The other address's count is its own, untouched by the lock here.
    assert addresses(ctx, alice)[ELSEWHERE].failed == 4
    assert addresses(ctx, alice)[ELSEWHERE].locked_until is None
    assert person(ctx, alice).locked_until is None


def test_a_lock_elsewhere_does_not_stop_a_sign_in_here(
    ctx: CoreContext, alice: int, login: LoginService
) -> None:
    until = datetime.now(UTC) + timedelta(hours=1)
    stage_address(ctx, alice, lock_count=1, locked_until=until)
    assert isinstance(login.begin("alice", PASSWORD), SignedIn)
    # The success here leaves the other address's lock as it was.
    assert addresses(ctx, alice)[ELSEWHERE].locked_until is not None


@pytest.mark.not_hardened("the server sees the test's one loopback address")
def test_a_guesser_at_one_address_leaves_the_others_free(
    ctx: CoreContext, alice: int, login: LoginService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ctx.db, "client_address", lambda session: "203.0.113.9")
    fail(login, 10)
    assert locked(login)
    monkeypatch.setattr(ctx.db, "client_address", lambda session: "192.0.2.44")
    assert isinstance(login.begin("alice", PASSWORD), SignedIn)
    monkeypatch.setattr(ctx.db, "client_address", lambda session: "203.0.113.9")
    assert locked(login)  # still locked there


def test_a_hundred_failures_from_anywhere_lock_the_person_everywhere(
    ctx: CoreContext, alice: int, login: LoginService
) -> None:
    with stage(ctx.db) as s:
        row = s.get(Person, alice)
        assert row is not None
        row.failed_logins = PERSON_CAP - 1  # as if 99 failures came from many addresses
    fail(login, 1)
    state = person(ctx, alice)
    assert state.locked_until is not None and state.last_failed_at is not None
    assert state.locked_until - state.last_failed_at == timedelta(minutes=1)
    # This address has one failure, far from its own lock: the lock is the person's.
    assert here(ctx, alice).failed == 1 and here(ctx, alice).locked_until is None
    assert locked(login)
    assert [e.detail for e in locks(ctx)] == ["everywhere after 100 failures; lock 1, 1 min"]


@pytest.mark.not_hardened("the server sees the test's one loopback address")
def test_a_person_locked_everywhere_is_refused_from_every_address(
    ctx: CoreContext, alice: int, login: LoginService, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(11):  # nine failures from each of eleven addresses: none locked
        monkeypatch.setattr(ctx.db, "client_address", lambda session, n=number: f"203.0.113.{n}")
        fail(login, 9)
    assert person(ctx, alice).failed_logins == 99
    assert person(ctx, alice).locked_until is None
    monkeypatch.setattr(ctx.db, "client_address", lambda session: "203.0.113.50")
    fail(login, 1)  # the hundredth
    monkeypatch.setattr(ctx.db, "client_address", lambda session: "192.0.2.44")
    assert locked(login)


def test_the_thresholds_are_the_settings(
    ctx: CoreContext, alice: int, login: LoginService, clock: ShiftedClock
) -> None:
    set_security(ctx, lock_after_failures=3, first_lock_minutes=5, max_lock_minutes=20)
    fail(login, 3)
    state = here(ctx, alice)
    assert state.locked_until is not None and state.last_failed_at is not None
    assert state.locked_until - state.last_failed_at == timedelta(minutes=5)
    clock.advance(timedelta(minutes=5, seconds=1))
    fail(login, 3)
    state = here(ctx, alice)
    assert state.locked_until is not None and state.last_failed_at is not None
    assert state.locked_until - state.last_failed_at == timedelta(minutes=10)
    assert "after 3 failures; lock 2, 10 min" in locks(ctx)[-1].detail


def test_twelve_quiet_hours_forget_failures_and_doubling(
    ctx: CoreContext, alice: int, login: LoginService, clock: ShiftedClock
) -> None:
    fail(login, 10)  # lock 1
    clock.advance(timedelta(minutes=2))
    fail(login, 9)
    clock.advance(timedelta(hours=12))
    fail(login, 1)
    assert here(ctx, alice).failed == 1  # the nine were forgotten
    assert person(ctx, alice).failed_logins == 1
    fail(login, 9)
    state = here(ctx, alice)
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

    assert addresses(ctx, alice) == {}
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
    assert addresses(ctx, alice) == {}  # the sign-in cleared this address's lock
