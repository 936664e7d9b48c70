"""Brute force against the security code.

An attacker who has the password (phished) guesses codes. Measured: how many guesses are
accepted (none), how many reach the hash comparison (five per code: then it is void), when the
account locks (after ten failures), and how many guesses per hour the lockout lets through over
a day of trying (on the injected clock: no sleeping).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from pmdesk.core import codes
from pmdesk.core.audit import Event
from pmdesk.core.auth import CodeNeeded, LoginService, RefusalReason, Refused, SignedIn
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.models import AuditEvent
from tests.helpers.login import (
    CollectingDelivery,
    add_user,
    enable_two_factor,
    person,
    service,
)

PASSWORD = "Phished-Password-99"
GUESSES = 10_000


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Counts every guess that is hashed and compared with the stored code."""
    seen: list[str] = []
    digest: Callable[..., bytes] = codes._digest

    def counting(code: str, salt: bytes, *rest: object) -> bytes:
        seen.append(code)
        return digest(code, salt, *rest)

    monkeypatch.setattr(codes, "_digest", counting)
    yield seen


@pytest.fixture
def victim(sqlite_ctx: CoreContext) -> tuple[CoreContext, LoginService, CollectingDelivery, int]:
    alice = add_user(sqlite_ctx, "alice", PASSWORD)
    enable_two_factor(sqlite_ctx)
    delivery = CollectingDelivery()
    return sqlite_ctx, service(sqlite_ctx, delivery), delivery, alice


def wrong_guess(rng: random.Random, real: str) -> str:
    """A random six-digit guess that is not the code (so the run cannot get lucky)."""
    while True:
        guess = f"{rng.randrange(10**6):06d}"
        if guess != real:
            return guess


def count_events(ctx: CoreContext, event: Event) -> int:
    with ctx.db.session() as s:
        return int(
            s.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.event == event.value)
            ).scalar_one()
        )


@pytest.mark.slow
def test_ten_thousand_guesses_at_one_code(
    victim: tuple[CoreContext, LoginService, CollectingDelivery, int],
    comparisons: list[str],
) -> None:
    ctx, login, delivery, alice = victim
    needed = login.begin("alice", PASSWORD)
    assert isinstance(needed, CodeNeeded)
    real = delivery.last_code
    comparisons.clear()  # hashing the new code itself is not a guess
    rng = random.Random(20240611)
    reasons: dict[RefusalReason, int] = {}
    accepted = 0
    for n in range(GUESSES):
        # Every thousandth guess is the right code: after the fifth wrong one it is void too.
        guess = real if n % 1000 == 999 else wrong_guess(rng, real)
        result = login.verify(needed.challenge_id, guess, True)
        if isinstance(result, SignedIn):
            accepted += 1
            continue
        reasons[result.reason] = reasons.get(result.reason, 0) + 1
        if n < 4:
            assert result.reason is RefusalReason.WRONG_CODE
            assert result.attempts_left == 4 - n
        else:
            assert result.reason is RefusalReason.CODE_VOIDED, n
            assert result.attempts_left == 0

    assert accepted == 0
    assert reasons == {RefusalReason.WRONG_CODE: 4, RefusalReason.CODE_VOIDED: GUESSES - 4}
    assert len(comparisons) == 5, "only the five guesses before the code was void were compared"
    assert count_events(ctx, Event.CODE_FAILED) == 5
    assert count_events(ctx, Event.CODE_VOIDED) == 1
    assert count_events(ctx, Event.LOGIN_SUCCEEDED) == 0
    # Five failures so far: not yet locked; the account is still usable with a fresh code.
    assert person(ctx, alice).failed_logins == 5
    assert person(ctx, alice).locked_until is None


@pytest.mark.slow
def test_a_day_of_guessing_with_the_password(
    victim: tuple[CoreContext, LoginService, CollectingDelivery, int],
    comparisons: list[str],
    clock: ShiftedClock,
    cheap_scrypt: None,
) -> None:
    """The attacker signs in again for each new code and waits out every lock."""
    ctx, login, delivery, alice = victim
    rng = random.Random(7)
    guesses = refused_begins = too_soon = 0
    compared_per_hour: dict[int, int] = {}
    start = clock.offset
    hour = 0
    while hour < 24:
        hour = int((clock.offset - start) / timedelta(hours=1))
        needed = login.begin("alice", PASSWORD)
        if isinstance(needed, Refused) and needed.reason is RefusalReason.TOO_SOON:
            # No new code within 30 s of the last one, even after voiding it: wait that out.
            too_soon += 1
            clock.advance(timedelta(seconds=30))
            continue
        if isinstance(needed, Refused):
            # Locked: the same message as a wrong password. Wait and try again.
            assert needed.reason is RefusalReason.BAD_CREDENTIALS
            refused_begins += 1
            clock.advance(timedelta(minutes=5))
            continue
        assert isinstance(needed, CodeNeeded)
        real = delivery.last_code
        for _ in range(6):
            before = len(comparisons)
            result: Any = login.verify(needed.challenge_id, wrong_guess(rng, real), False)
            guesses += 1
            compared = len(comparisons) - before
            compared_per_hour[hour] = compared_per_hour.get(hour, 0) + compared
            assert isinstance(result, Refused)
            if result.reason in {RefusalReason.BAD_CREDENTIALS, RefusalReason.CODE_VOIDED}:
                break
        # The right code typed now still does not sign in: void or locked.
        assert not isinstance(login.verify(needed.challenge_id, real, False), SignedIn)
        clock.advance(timedelta(seconds=5))

    locked = count_events(ctx, Event.ACCOUNT_LOCKED)
    assert count_events(ctx, Event.LOGIN_SUCCEEDED) == 0
    assert locked >= 24, "locked again and again over the day"
    assert max(compared_per_hour.values()) <= 100, compared_per_hour  # ASVS 2.2.1: ≤ 100/h
    total = sum(compared_per_hour.values())
    # With 1e6 codes, ~1000 compared guesses a day give an attacker about 0.1 % per day.
    assert total <= 24 * 100
    assert person(ctx, alice).locked_until is not None
    print(
        f"\n24 h of guessing: {guesses} guesses, {total} compared "
        f"(max {max(compared_per_hour.values())}/h), {locked} locks, "
        f"{refused_begins} sign-ins refused while locked, {too_soon} within 30 s of a code"
    )
