"""Password guessing across many accounts: 50 accounts × 20 guesses each (plus the same against
50 logins that do not exist). Every account locks after its tenth failure; the right password
does not get through a lock; and the answer is word for word the same whether the login is
unknown, the password wrong or the account locked, so guessing tells nothing.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

from pmdesk.core.audit import Event
from pmdesk.core.auth import GENERIC_REFUSAL, RefusalReason, Refused, SignedIn
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.models import AuditEvent, LoginFailure, Person
from tests.helpers.login import CollectingDelivery, add_user, service

ACCOUNTS = 50
GUESSES = 20


@pytest.mark.slow
def test_fifty_accounts_twenty_guesses_each(sqlite_ctx: CoreContext) -> None:
    rng = random.Random(99)
    passwords = {f"user{n:02d}": f"Right-Password-{n:02d}" for n in range(ACCOUNTS)}
    for login, password in passwords.items():
        add_user(sqlite_ctx, login, password)
    login = service(sqlite_ctx, CollectingDelivery())

    answers: Counter[tuple[RefusalReason, str, int | None]] = Counter()
    for round_ in range(GUESSES):
        for name in [*passwords, *(f"ghost{n:02d}" for n in range(ACCOUNTS))]:
            guess = f"Guess-{rng.randrange(10**9)}"
            result = login.begin(name, guess)
            assert isinstance(result, Refused), (name, round_)
            answers[(result.reason, result.message, result.attempts_left)] += 1

    # One answer for every one of the 2,000 guesses: unknown, wrong and locked look alike.
    assert answers == {
        (RefusalReason.BAD_CREDENTIALS, GENERIC_REFUSAL, None): 2 * ACCOUNTS * GUESSES
    }

    with sqlite_ctx.db.session() as s:
        now = sqlite_ctx.clock.now(s)
        people = list(s.execute(select(Person).where(Person.login_key.is_not(None))).scalars())
        # Locked from the one address the guesses came from (lockout.py: per address).
        locks = list(s.scalars(select(LoginFailure.locked_until)))
        details = Counter(
            (row.event, row.detail) for row in s.execute(select(AuditEvent)).scalars()
        )
    assert len(people) == ACCOUNTS
    assert len(locks) == ACCOUNTS and all(until is not None and until > now for until in locks)
    # Audited apart (for the administrator), answered alike (for the attacker).
    assert details[(Event.LOGIN_REFUSED.value, "reason=wrong_password")] == ACCOUNTS * 10
    assert details[(Event.LOGIN_REFUSED.value, "reason=locked")] == ACCOUNTS * (GUESSES - 10)
    assert details[(Event.LOGIN_REFUSED.value, "reason=unknown_login")] == ACCOUNTS * GUESSES
    locked = [k for k in details if k[0] == Event.ACCOUNT_LOCKED.value]
    assert sum(details[k] for k in locked) == ACCOUNTS, "each account locked once"

    # The right password during the lock: the same refusal, not a hint that it was right.
    for name, password in list(passwords.items())[:5]:
        result = login.begin(name, password)
        assert isinstance(result, Refused)
        assert (result.reason, result.message) == (RefusalReason.BAD_CREDENTIALS, GENERIC_REFUSAL)


def test_the_lock_ends_and_the_right_password_then_works(
    sqlite_ctx: CoreContext, clock: ShiftedClock
) -> None:
    add_user(sqlite_ctx, "bob", "Bobs-Right-Password")
    login = service(sqlite_ctx, CollectingDelivery())
    for _ in range(10):
        assert isinstance(login.begin("bob", "wrong-password"), Refused)
    assert isinstance(login.begin("bob", "Bobs-Right-Password"), Refused)
    clock.advance(timedelta(minutes=1, seconds=1))
    assert isinstance(login.begin("bob", "Bobs-Right-Password"), SignedIn)
