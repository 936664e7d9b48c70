"""The two-step login flow on every engine: password, code, trust, resend, single use."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select
from sqlalchemy.orm import Session

from pmdesk.core.addresses import normalise_address
from pmdesk.core.auth import (
    GENERIC_REFUSAL,
    NO_EMAIL_MESSAGE,
    NO_PHONE_MESSAGE,
    RESEND_INTERVAL,
    CodeNeeded,
    LoginService,
    RefusalReason,
    Refused,
    SignedIn,
)
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.models import DeliveryOutcome, LoginChallenge, Person, TrustedIp
from pmdesk.core.passwords import Passwords
from pmdesk.secrets import MemoryStore
from tests.helpers.databases import stage
from tests.helpers.hardened import (
    LOOPBACK_NEVER_TRUSTED,
    RELAY_DELIVERS,
    SERVER_PASSWORDS,
    SERVER_SESSIONS,
)
from tests.helpers.login import (
    WORKSTATION,
    CollectingDelivery,
    add_user,
    audit_events,
    cheap_passwords,
    enable_two_factor,
    person,
    seen_from_routable_address,
    service,
    set_security,
)
from tests.helpers.trusted_ips import trust_addresses

PASSWORD = "Spring-Tide-42"


@pytest.fixture
def delivery() -> CollectingDelivery:
    return CollectingDelivery()


@pytest.fixture
def alice_sqlite(sqlite_db: Database, tmp_path: Path) -> tuple[CoreContext, int]:
    """For tests where the engine does not matter."""
    ctx = CoreContext(sqlite_db, MemoryStore(), tmp_path / "outbox", ShiftedClock())
    return ctx, add_user(ctx, "alice", PASSWORD)


@pytest.fixture
def alice(ctx: CoreContext) -> int:
    return add_user(ctx, "alice", PASSWORD, first_name="Alice", last_name="Martens")


def events(ctx: CoreContext) -> list[str]:
    return [e.event for e in audit_events(ctx)]


def code_needed(login: LoginService, name: str = "alice") -> CodeNeeded:
    result = login.begin(name, PASSWORD)
    assert isinstance(result, CodeNeeded), result
    return result


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


# ----- password only ---------------------------------------------------------------------------


def test_without_two_factor_the_password_signs_in(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery
) -> None:
    result = service(ctx, delivery).begin("Alice", PASSWORD)  # login is case-insensitive

    assert isinstance(result, SignedIn)
    assert (result.person_id, result.login, result.display_name) == (
        alice,
        "alice",
        "Alice Martens",
    )
    assert result.actor.person_id == alice and result.actor.workstation == WORKSTATION
    assert result.trusted_address is False
    assert delivery.sent == []
    assert person(ctx, alice).last_login_at is not None
    last = audit_events(ctx)[-1]
    assert (last.event, last.actor, last.workstation) == ("login.succeeded", "alice", WORKSTATION)


def test_unknown_user_wrong_password_and_locked_account_look_the_same(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery, clock: ShiftedClock
) -> None:
    login = service(ctx, delivery)
    unknown = login.begin("nobody", PASSWORD)
    bad = login.begin("alice", "not-the-password")
    for _ in range(9):
        login.begin("alice", "not-the-password")
    locked = login.begin("alice", PASSWORD)  # the right password, while locked

    for result in (unknown, bad, locked):
        assert isinstance(result, Refused)
        assert result.reason is RefusalReason.BAD_CREDENTIALS
        assert result.message == GENERIC_REFUSAL
        assert (result.attempts_left, result.retry_after) == (None, None)
    refused = [e for e in audit_events(ctx) if e.event == "login.refused"]
    assert refused[0].actor == "unknown"  # what was typed is never kept
    assert refused[0].detail == "reason=unknown_login"
    assert refused[1].detail == "reason=wrong_password"
    assert refused[-1].detail == "reason=locked"


@SERVER_PASSWORDS
def test_unknown_users_cost_a_password_check_too(ctx: CoreContext, alice: int) -> None:
    class Counting(Passwords):
        calls = 0

        def verify(self, stored_hash: str | None, password: str) -> bool:
            Counting.calls += 1
            return super().verify(stored_hash, password)

    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    login = LoginService(ctx, passwords=Counting(hasher), workstation=WORKSTATION)
    assert isinstance(login.begin("nobody-at-all", PASSWORD), Refused)
    assert isinstance(login.begin("x" * 10_000, "y" * 1_000_000), Refused)
    assert Counting.calls == 2


def test_a_password_typed_into_the_login_box_is_not_audited(ctx: CoreContext) -> None:
    login = service(ctx, CollectingDelivery())
    login.begin("my secret pass!", "whatever")
    assert audit_events(ctx)[-1].actor == "unknown"
    assert "my secret" not in repr([vars(e) for e in audit_events(ctx)])


@SERVER_PASSWORDS
def test_old_password_hashes_are_upgraded_on_login(ctx: CoreContext) -> None:
    weak = Passwords(PasswordHasher(time_cost=1, memory_cost=512, parallelism=1))
    person_id = add_user(ctx, "bob", PASSWORD, passwords=weak)
    before = person(ctx, person_id)

    assert isinstance(service(ctx, CollectingDelivery()).begin("bob", PASSWORD), SignedIn)

    after = person(ctx, person_id)
    assert after.password_hash != before.password_hash
    assert after.password_hash is not None and "m=1024" in after.password_hash
    assert cheap_passwords().verify(after.password_hash, PASSWORD)
    assert after.version == before.version  # an admin editing bob gets no false conflict


# ----- codes -----------------------------------------------------------------------------------


def test_with_two_factor_a_code_is_sent_and_signs_in(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery
) -> None:
    enable_two_factor(ctx)
    login = service(ctx, delivery)

    needed = code_needed(login)

    assert needed.destination == "a***@insypro.com"
    assert needed.valid_seconds == 600
    assert needed.attempts_left == 5
    assert needed.delivery_error is None
    assert needed.resend_after > needed.expires_at - timedelta(minutes=10)
    assert len(delivery.sent) == 1
    message = delivery.sent[0]
    assert message.email == "alice@insypro.com" and message.valid_minutes == 10
    assert message.workstation == WORKSTATION and message.person_name == "Alice Martens"
    with stage(ctx.db) as s:
        stored = s.get(LoginChallenge, needed.challenge_id)
        assert stored is not None
        assert message.code not in stored.code_hash  # only a salted hash is kept
        assert (stored.send_count, stored.attempts) == (1, 0)

    result = login.verify(needed.challenge_id, message.code, False)

    assert isinstance(result, SignedIn)
    assert result.trusted_address is False
    assert events(ctx)[-3:] == ["login.code_required", "code.sent", "login.succeeded"]
    with stage(ctx.db) as s:
        assert s.scalars(select(TrustedIp)).all() == []


def test_the_code_length_follows_the_setting(ctx: CoreContext, alice: int) -> None:
    enable_two_factor(ctx, code_ttl_minutes=3)
    delivery = CollectingDelivery()
    needed = code_needed(service(ctx, delivery))
    assert needed.valid_seconds == 180
    assert delivery.sent[0].valid_minutes == 3


@LOOPBACK_NEVER_TRUSTED
def test_trusting_the_address_skips_the_code_next_time(
    ctx: CoreContext,
    alice: int,
    delivery: CollectingDelivery,
    clock: ShiftedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen_from_routable_address(monkeypatch, ctx)
    enable_two_factor(ctx)
    login = service(ctx, delivery)
    needed = code_needed(login)
    signed = login.verify(needed.challenge_id, delivery.last_code, True)
    assert isinstance(signed, SignedIn)
    with stage(ctx.db) as s:
        address = ctx.db.client_address(s)
        trusted = s.scalars(select(TrustedIp)).one()
    assert address is not None
    assert (trusted.person_id, trusted.address) == (alice, address)
    assert "ip.trusted" in events(ctx)

    clock.advance(timedelta(days=3))
    again = login.begin("alice", PASSWORD)

    assert isinstance(again, SignedIn)
    assert again.trusted_address is True and again.address == address
    assert len(delivery.sent) == 1  # no second code
    with stage(ctx.db) as s:
        used = s.scalars(select(TrustedIp)).one()
        assert used.last_used_at is not None
        assert used.last_used_at > trusted.created_at + timedelta(days=2)
    # The sign-in without a code says why: which trust, made when, by whom, where.
    success = [e for e in audit_events(ctx) if e.event == "login.succeeded"][-1]
    assert success.detail.startswith(f"trusted address #{used.id}, created ")
    assert success.detail.endswith(f" UTC by alice on {WORKSTATION}")


@LOOPBACK_NEVER_TRUSTED
def test_trust_ends_after_thirty_days_on_the_database_clock(
    ctx: CoreContext,
    alice: int,
    delivery: CollectingDelivery,
    clock: ShiftedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen_from_routable_address(monkeypatch, ctx)
    enable_two_factor(ctx)
    login = service(ctx, delivery)
    needed = code_needed(login)
    assert isinstance(login.verify(needed.challenge_id, delivery.last_code, True), SignedIn)
    with stage(ctx.db) as s:
        created = s.scalars(select(TrustedIp)).one().created_at
        offset = created - ctx.clock.now(s)

    clock.advance(timedelta(days=30) + offset - timedelta(seconds=1))
    assert isinstance(login.begin("alice", PASSWORD), SignedIn)

    clock.advance(timedelta(seconds=2))
    assert isinstance(login.begin("alice", PASSWORD), CodeNeeded)


@LOOPBACK_NEVER_TRUSTED
def test_trust_length_follows_the_setting(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery, clock: ShiftedClock
) -> None:
    enable_two_factor(ctx, trust_days=7)
    login = service(ctx, delivery)
    needed = code_needed(login)
    assert isinstance(login.verify(needed.challenge_id, delivery.last_code, True), SignedIn)
    clock.advance(timedelta(days=7, seconds=1))
    assert isinstance(login.begin("alice", PASSWORD), CodeNeeded)


@LOOPBACK_NEVER_TRUSTED
def test_an_ipv4_mapped_address_is_the_same_address(
    ctx: CoreContext,
    alice: int,
    delivery: CollectingDelivery,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen_from_routable_address(monkeypatch, ctx)
    enable_two_factor(ctx)
    with stage(ctx.db) as s:
        seen = ctx.db.client_address(s)
    assert seen is not None
    if ":" in seen:
        pytest.skip("this workstation reaches the database over IPv6")
    stored = normalise_address(f"::ffff:{seen}")
    assert stored == seen
    trust_addresses(ctx.db, [(alice, stored, timedelta(0))], ctx.clock)

    result = service(ctx, delivery).begin("alice", PASSWORD)
    assert isinstance(result, SignedIn) and result.trusted_address is True


def test_a_code_works_once(ctx: CoreContext, alice: int, delivery: CollectingDelivery) -> None:
    enable_two_factor(ctx)
    login = service(ctx, delivery)
    needed = code_needed(login)
    code = delivery.last_code
    assert isinstance(login.verify(needed.challenge_id, code, False), SignedIn)

    replay = login.verify(needed.challenge_id, code, False)

    assert isinstance(replay, Refused)
    assert replay.reason is RefusalReason.INVALID_CHALLENGE
    assert "already been used" in replay.message


def test_a_code_is_bound_to_its_own_login_attempt(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery
) -> None:
    add_user(ctx, "bert", PASSWORD)
    enable_two_factor(ctx)
    login = service(ctx, delivery)
    first = code_needed(login, "alice")
    alice_code = delivery.last_code
    second = code_needed(login, "bert")
    if delivery.last_code == alice_code:  # one chance in a million
        pytest.skip("both codes happen to be equal")

    # Alice's code does not open Bert's attempt.
    result = login.verify(second.challenge_id, alice_code, False)
    assert isinstance(result, Refused) and result.reason is RefusalReason.WRONG_CODE
    assert result.attempts_left == 4
    # Nor does another workstation get to use Alice's attempt, even with the right code.
    elsewhere = service(ctx, delivery, workstation="ws-other").verify(
        first.challenge_id, alice_code, False
    )
    assert isinstance(elsewhere, Refused)
    assert elsewhere.reason is RefusalReason.INVALID_CHALLENGE
    assert isinstance(login.verify(first.challenge_id, alice_code, False), SignedIn)


def test_starting_over_retires_the_previous_code(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery, clock: ShiftedClock
) -> None:
    enable_two_factor(ctx)
    login = service(ctx, delivery)
    first = code_needed(login)
    first_code = delivery.last_code
    clock.advance(RESEND_INTERVAL)  # sooner, signing in again sends nothing (test below)
    code_needed(login)

    result = login.verify(first.challenge_id, first_code, False)

    assert isinstance(result, Refused) and result.reason is RefusalReason.INVALID_CHALLENGE
    assert "replaced by a newer sign-in" in result.message


def test_signing_in_again_within_30_seconds_sends_no_new_code(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery, clock: ShiftedClock
) -> None:
    """The resend interval holds for a new begin() too: retyping the password floods nobody."""
    enable_two_factor(ctx)
    login = service(ctx, delivery)
    first = code_needed(login)
    first_code = delivery.last_code

    clock.advance(timedelta(seconds=20))
    again = login.begin("alice", PASSWORD)
    elsewhere = service(ctx, delivery, workstation="ws-other").begin("alice", PASSWORD)

    for refused in (again, elsewhere):
        assert isinstance(refused, Refused) and refused.reason is RefusalReason.TOO_SOON
        assert refused.retry_after is not None
        assert abs((refused.retry_after - first.resend_after).total_seconds()) < 0.01
        assert "in 10 s" in refused.message or "in 9 s" in refused.message
        assert refused.attempts_left is None
    assert delivery.attempts == 1 and len(delivery.sent) == 1
    assert events(ctx)[-2:] == ["login.refused", "login.refused"]
    assert audit_events(ctx)[-1].detail == "reason=too_soon"
    assert person(ctx, alice).failed_logins == 0  # the password was right: no lockout count
    with stage(ctx.db) as s:
        [waiting] = s.scalars(select(LoginChallenge)).all()
        assert waiting.id == first.challenge_id and waiting.expires_at == first.expires_at

    clock.advance(timedelta(seconds=10))
    renewed = code_needed(login)

    assert renewed.challenge_id != first.challenge_id
    assert renewed.attempts_left == 5 and renewed.delivery_error is None
    assert delivery.attempts == 2 and len(delivery.sent) == 2
    if delivery.last_code != first_code:
        old = login.verify(first.challenge_id, first_code, False)
        assert isinstance(old, Refused) and old.reason is RefusalReason.INVALID_CHALLENGE
    assert isinstance(login.verify(renewed.challenge_id, delivery.last_code, False), SignedIn)


def test_two_simultaneous_begins_send_one_code(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery
) -> None:
    enable_two_factor(ctx)
    barrier = threading.Barrier(2)
    results: list[object] = []
    lock = threading.Lock()

    def attempt() -> None:
        login = service(ctx, delivery)
        barrier.wait(timeout=30)
        try:
            outcome: object = login.begin("alice", PASSWORD)
        except Exception as exc:  # reported below, with the engine's error
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    needed = [r for r in results if isinstance(r, CodeNeeded)]
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(needed) == 1 and len(refused) == 1, results
    assert refused[0].reason is RefusalReason.TOO_SOON
    assert delivery.attempts == 1
    with stage(ctx.db) as s:
        assert [c.id for c in s.scalars(select(LoginChallenge))] == [needed[0].challenge_id]


def test_codes_expire(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery, clock: ShiftedClock
) -> None:
    enable_two_factor(ctx)
    login = service(ctx, delivery)
    needed = code_needed(login)
    clock.advance(timedelta(minutes=10, seconds=1))

    result = login.verify(needed.challenge_id, delivery.last_code, False)

    assert isinstance(result, Refused)
    assert result.reason is RefusalReason.CODE_EXPIRED
    assert "expired" in result.message


def test_a_code_still_works_just_before_it_expires(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery, clock: ShiftedClock
) -> None:
    enable_two_factor(ctx)
    login = service(ctx, delivery)
    needed = code_needed(login)
    clock.advance(timedelta(minutes=9, seconds=55))
    assert isinstance(login.verify(needed.challenge_id, delivery.last_code, False), SignedIn)


def test_five_wrong_codes_void_the_code(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery, clock: ShiftedClock
) -> None:
    enable_two_factor(ctx)
    login = service(ctx, delivery)
    needed = code_needed(login)
    code = delivery.last_code

    left = []
    for _ in range(4):
        result = login.verify(needed.challenge_id, wrong(code), False)
        assert isinstance(result, Refused) and result.reason is RefusalReason.WRONG_CODE
        left.append(result.attempts_left)
    fifth = login.verify(needed.challenge_id, wrong(code), False)

    assert left == [4, 3, 2, 1]
    assert isinstance(fifth, Refused) and fifth.reason is RefusalReason.CODE_VOIDED
    assert fifth.attempts_left == 0
    for attempt in (
        login.verify(needed.challenge_id, code, False),  # the right code is too late now
        login.resend(needed.challenge_id),  # and no new code for this attempt
    ):
        assert isinstance(attempt, Refused) and attempt.reason is RefusalReason.CODE_VOIDED
    assert events(ctx).count("code.failed") == 5
    assert events(ctx).count("code.voided") == 1
    # Only a fresh start helps, and not within 30 s of the last code: guessing through voided
    # codes gets no faster than asking for new ones.
    soon = login.begin("alice", PASSWORD)
    assert isinstance(soon, Refused) and soon.reason is RefusalReason.TOO_SOON
    clock.advance(timedelta(seconds=31))
    again = code_needed(login)
    assert isinstance(login.verify(again.challenge_id, delivery.last_code, False), SignedIn)


def test_look_alike_codes_are_wrong_codes(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery
) -> None:
    """Digits that Python's isdigit() accepts, or padding, never pass for the real code."""
    enable_two_factor(ctx)
    login = service(ctx, delivery)
    needed = code_needed(login)
    code = delivery.last_code
    full_width = code.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    arabic_indic = code.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert arabic_indic.isdigit() and full_width.isdigit()

    results = [
        login.verify(needed.challenge_id, variant, False)
        for variant in (full_width, arabic_indic, f" {code}", f"{code}\n")
    ]

    assert [r.reason for r in results if isinstance(r, Refused)] == [RefusalReason.WRONG_CODE] * 4
    assert isinstance(login.verify(needed.challenge_id, code, False), SignedIn)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "12345",
        "1234567",
        "12 345",
        "123\x00456",
        "\x00" * 6,
        "abcdef",
        "+12345",
        "1" * 1_000_000,
    ],
    ids=["empty", "5", "7", "space", "nul", "nuls", "letters", "sign", "1MB"],
)
def test_malformed_codes_never_raise(bad: str, alice_sqlite: tuple[CoreContext, int]) -> None:
    ctx, _ = alice_sqlite
    delivery = CollectingDelivery()
    enable_two_factor(ctx)
    login = service(ctx, delivery)
    needed = code_needed(login)

    result = login.verify(needed.challenge_id, bad, False)

    assert isinstance(result, Refused) and result.reason is RefusalReason.WRONG_CODE
    assert result.attempts_left == 4
    stored = audit_events(ctx)[-1]
    assert stored.event == "code.failed" and "malformed" in stored.detail


@pytest.mark.parametrize(
    "challenge_id", ["", "x", "no such attempt", "a" * 43, "é" * 43, "a" * 100_000]
)
def test_unknown_login_attempts_are_refused(
    alice_sqlite: tuple[CoreContext, int], challenge_id: str
) -> None:
    ctx, _ = alice_sqlite
    login = service(ctx, CollectingDelivery())
    for result in (login.verify(challenge_id, "123456", True), login.resend(challenge_id)):
        assert isinstance(result, Refused)
        assert result.reason is RefusalReason.INVALID_CHALLENGE


# ----- resend ----------------------------------------------------------------------------------


def test_resend_waits_30_seconds_and_keeps_the_attempt_count(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery, clock: ShiftedClock
) -> None:
    enable_two_factor(ctx)
    login = service(ctx, delivery)
    needed = code_needed(login)
    old_code = delivery.last_code
    for _ in range(2):
        login.verify(needed.challenge_id, wrong(old_code), False)

    clock.advance(timedelta(seconds=20))
    too_soon = login.resend(needed.challenge_id)
    assert isinstance(too_soon, Refused) and too_soon.reason is RefusalReason.TOO_SOON
    assert too_soon.retry_after is not None
    assert abs((too_soon.retry_after - needed.resend_after).total_seconds()) < 0.01
    assert "10 s" in too_soon.message or "9 s" in too_soon.message
    assert len(delivery.sent) == 1

    clock.advance(timedelta(seconds=10))
    renewed = login.resend(needed.challenge_id)

    assert isinstance(renewed, CodeNeeded)
    assert renewed.challenge_id == needed.challenge_id
    assert renewed.attempts_left == 3  # a new code does not forgive earlier mistakes
    assert renewed.valid_seconds == 600 and renewed.expires_at > needed.expires_at
    assert len(delivery.sent) == 2
    new_code = delivery.last_code
    if new_code != old_code:
        old = login.verify(needed.challenge_id, old_code, False)
        assert isinstance(old, Refused) and old.reason is RefusalReason.WRONG_CODE
        assert old.attempts_left == 2
    assert isinstance(login.verify(needed.challenge_id, new_code, False), SignedIn)
    with stage(ctx.db) as s:
        row = s.get(LoginChallenge, needed.challenge_id)
        assert row is not None and row.send_count == 2


def test_an_expired_code_can_be_renewed(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery, clock: ShiftedClock
) -> None:
    enable_two_factor(ctx)
    login = service(ctx, delivery)
    needed = code_needed(login)
    clock.advance(timedelta(minutes=11))
    renewed = login.resend(needed.challenge_id)
    assert isinstance(renewed, CodeNeeded)
    assert isinstance(login.verify(needed.challenge_id, delivery.last_code, False), SignedIn)


@RELAY_DELIVERS
def test_a_failed_delivery_leaves_the_attempt_usable(
    ctx: CoreContext, alice: int, clock: ShiftedClock
) -> None:
    enable_two_factor(ctx)
    delivery = CollectingDelivery(fail_with="The mail server smtp.example.com refused the login.")
    login = service(ctx, delivery)

    failed = code_needed(login)

    assert failed.delivery_error == "The mail server smtp.example.com refused the login."
    assert failed.destination == "a***@insypro.com"
    assert failed.resend_after <= failed.expires_at - timedelta(minutes=9, seconds=59)
    last = audit_events(ctx)[-1]
    assert last.event == "code.send_failed" and "refused the login" in last.detail
    # The delivery's health (a unit of its own, sent right after the code's COMMIT) says so.
    assert (outcome(ctx).ok, outcome(ctx).failures_in_row) == (False, 1)

    delivery.fail_with = None  # the administrator fixed the mail server
    renewed = login.resend(failed.challenge_id)  # at once: nothing was sent before

    assert isinstance(renewed, CodeNeeded) and renewed.delivery_error is None
    assert (outcome(ctx).ok, outcome(ctx).failures_in_row) == (True, 0)
    assert isinstance(login.verify(failed.challenge_id, delivery.last_code, False), SignedIn)


def outcome(ctx: CoreContext) -> DeliveryOutcome:
    with stage(ctx.db) as s:
        [row] = s.scalars(select(DeliveryOutcome)).all()
        return row


@RELAY_DELIVERS
def test_a_broken_delivery_setup_is_reported_not_raised(ctx: CoreContext, alice: int) -> None:
    enable_two_factor(ctx, delivery_method="smtp", smtp_host="", smtp_from="")

    def broken(_settings: object) -> CollectingDelivery:
        from pmdesk.core.delivery.base import DeliveryError

        raise DeliveryError("Enter the mail server (SMTP host).")

    login = LoginService(
        ctx, delivery_factory=broken, passwords=cheap_passwords(), workstation=WORKSTATION
    )
    result = login.begin("alice", PASSWORD)
    assert isinstance(result, CodeNeeded)
    assert result.delivery_error == "Enter the mail server (SMTP host)."


# ----- no e-mail -------------------------------------------------------------------------------


def test_no_email_is_a_clear_message_only_after_the_right_password(
    ctx: CoreContext, delivery: CollectingDelivery
) -> None:
    add_user(ctx, "carl", PASSWORD, email="")
    add_user(ctx, "dora", PASSWORD, email="not an address")
    enable_two_factor(ctx)
    login = service(ctx, delivery)

    guessed = login.begin("carl", "a-wrong-guess")
    assert isinstance(guessed, Refused) and guessed.message == GENERIC_REFUSAL

    for name in ("carl", "dora"):
        result = login.begin(name, PASSWORD)
        assert isinstance(result, Refused)
        assert result.reason is RefusalReason.NO_EMAIL
        assert result.message == NO_EMAIL_MESSAGE
    assert delivery.sent == []
    assert audit_events(ctx)[-1].detail.startswith("reason=no_destination")
    with stage(ctx.db) as s:
        assert s.scalars(select(LoginChallenge)).all() == []


def test_sms_needs_a_phone_number(ctx: CoreContext, delivery: CollectingDelivery) -> None:
    add_user(ctx, "erik", PASSWORD)
    add_user(ctx, "fien", PASSWORD, mobile="+32470123467")
    enable_two_factor(ctx, delivery_method="sms", sms_url="https://sms.example.com/send")
    login = service(ctx, delivery)

    no_phone = login.begin("erik", PASSWORD)
    assert isinstance(no_phone, Refused) and no_phone.message == NO_PHONE_MESSAGE

    sent = login.begin("fien", PASSWORD)
    assert isinstance(sent, CodeNeeded)
    assert sent.destination == "+32•••••67"


@RELAY_DELIVERS
def test_sms_goes_to_the_number_the_2fa_check_found(
    ctx: CoreContext, delivery: CollectingDelivery
) -> None:
    """A mistyped mobile number and a valid phone number: turning 2FA on says the person can
    get a code, and signing in sends it to that phone number (not to the broken mobile)."""
    from pmdesk.core.security import find_shut_out

    add_user(ctx, "gust", PASSWORD, mobile="12", phone="09 234 56 78")
    enable_two_factor(ctx, delivery_method="sms", sms_url="https://sms.example.com/send")
    with stage(ctx.db) as s:
        assert [p.login for p in find_shut_out(s, "sms")] == []

    sent = service(ctx, delivery).begin("gust", PASSWORD)
    assert isinstance(sent, CodeNeeded)
    assert delivery.sent[-1].phone == "+3292345678"


# ----- concurrency -----------------------------------------------------------------------------


@LOOPBACK_NEVER_TRUSTED
def test_two_simultaneous_verifications_of_one_code_sign_in_once(
    ctx: CoreContext,
    alice: int,
    delivery: CollectingDelivery,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen_from_routable_address(monkeypatch, ctx)
    enable_two_factor(ctx)
    needed = code_needed(service(ctx, delivery))
    code = delivery.last_code
    barrier = threading.Barrier(2)
    results: list[object] = []
    lock = threading.Lock()

    def attempt() -> None:
        login = service(ctx, delivery)
        barrier.wait(timeout=30)
        try:
            outcome: object = login.verify(needed.challenge_id, code, True)
        except Exception as exc:  # reported below, with the engine's error
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    signed = [r for r in results if isinstance(r, SignedIn)]
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(signed) == 1 and len(refused) == 1, results
    assert refused[0].reason is RefusalReason.INVALID_CHALLENGE
    assert events(ctx).count("login.succeeded") == 1
    with stage(ctx.db) as s:
        assert len(s.scalars(select(TrustedIp)).all()) == 1


def test_failed_logins_do_not_conflict_with_an_admin_edit(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery
) -> None:
    before = person(ctx, alice).version
    service(ctx, delivery).begin("alice", "wrong-password")
    with stage(ctx.db) as s:
        row = s.execute(select(Person).where(Person.id == alice)).scalar_one()
        assert row.failed_logins == 1
        assert row.version == before


def test_settings_changes_apply_to_the_next_login(
    ctx: CoreContext, alice: int, delivery: CollectingDelivery
) -> None:
    login = service(ctx, delivery)
    assert isinstance(login.begin("alice", PASSWORD), SignedIn)
    enable_two_factor(ctx)
    assert isinstance(login.begin("alice", PASSWORD), CodeNeeded)
    set_security(ctx, two_factor_enabled=False)
    assert isinstance(login.begin("alice", PASSWORD), SignedIn)


class AddresslessDatabase(Database):
    """A server that cannot say where the client is (e.g. a local socket connection)."""

    def client_address(self, session: Session) -> str | None:
        return None


def test_an_unknown_address_is_never_trusted(sqlite_db: Database, tmp_path: Path) -> None:
    db = AddresslessDatabase(sqlite_db.url)
    ctx = CoreContext(db, MemoryStore(), tmp_path / "outbox", ShiftedClock())
    add_user(ctx, "alice", PASSWORD)
    enable_two_factor(ctx)
    delivery = CollectingDelivery()
    login = service(ctx, delivery)
    try:
        needed = code_needed(login)
        assert delivery.sent[0].requested_from is None
        signed = login.verify(needed.challenge_id, delivery.last_code, True)
        assert isinstance(signed, SignedIn) and signed.address is None
        assert "address unknown, not trusted" in audit_events(ctx)[-1].detail
        with stage(ctx.db) as s:
            assert s.scalars(select(TrustedIp)).all() == []
        assert isinstance(login.begin("alice", PASSWORD), CodeNeeded)  # still asks
    finally:
        db.dispose()


def test_a_login_attempt_cannot_be_renewed_for_ever(
    alice_sqlite: tuple[CoreContext, int],
) -> None:
    ctx, _ = alice_sqlite
    assert isinstance(ctx.clock, ShiftedClock)
    enable_two_factor(ctx)
    delivery = CollectingDelivery()
    login = service(ctx, delivery)
    needed = code_needed(login)
    for _ in range(5):
        ctx.clock.advance(timedelta(minutes=11))
        assert isinstance(login.resend(needed.challenge_id), CodeNeeded)
    ctx.clock.advance(timedelta(minutes=6))  # 61 minutes after the password

    late = login.resend(needed.challenge_id)

    assert isinstance(late, Refused) and late.reason is RefusalReason.INVALID_CHALLENGE
    assert "Sign in again" in late.message


@SERVER_SESSIONS
def test_sign_out_is_audited(ctx: CoreContext) -> None:
    from pmdesk.core.context import Actor
    from pmdesk.core.models import AuditEvent

    LoginService(ctx, passwords=cheap_passwords()).sign_out(
        Actor(name="alice", person_id=None, address="10.1.2.3", workstation="desk-7")
    )
    with stage(ctx.db) as s:
        row = s.execute(select(AuditEvent)).scalars().one()
    assert (row.event, row.actor, row.address, row.workstation) == (
        "signed_out",
        "alice",
        "10.1.2.3",
        "desk-7",
    )
