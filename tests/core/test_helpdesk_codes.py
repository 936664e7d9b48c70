"""Helpdesk one-time sign-in codes (issue 16 §3) on every engine and the hardened leg: issue,
replace, cancel, use once, expiry on the database clock, wrong tries towards the lockout,
rights, and a sign-in while the mail server is down."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from pmdesk.core import helpdesk
from pmdesk.core.audit import Event
from pmdesk.core.auth import (
    NO_EMAIL_MESSAGE,
    CodeNeeded,
    LoginService,
    RefusalReason,
    Refused,
    SignedIn,
)
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import PermissionDenied, ValidationError
from pmdesk.core.helpdesk import HelpdeskCodeService
from pmdesk.core.models import AuditEvent, HelpdeskCode, Person, TrustedIp
from tests.helpers.databases import stage
from tests.helpers.hardened import RELAY_DELIVERS
from tests.helpers.login import (
    WORKSTATION,
    CollectingDelivery,
    add_user,
    cheap_passwords,
    enable_two_factor,
    mail_server_down,
    person,
    service,
)
from tests.helpers.staff import actor, add_group

PASSWORD = "Spring-Tide-42"
REASON = "Ticket 4711: phone lost"


@pytest.fixture
def people(ctx: CoreContext) -> dict[str, int]:
    """boss (Administrator: System → Security Edit) and alice, who lost her phone; two-step on."""
    ids = {
        "boss": add_user(ctx, "boss", PASSWORD),
        "alice": add_user(ctx, "alice", PASSWORD, first_name="Alice", last_name="Martens"),
    }
    enable_two_factor(ctx)
    return ids


def _boss(people: dict[str, int]) -> Actor:
    return actor(people["boss"], "boss")


def _rows(ctx: CoreContext) -> list[HelpdeskCode]:
    with stage(ctx.db) as s:
        return list(s.execute(select(HelpdeskCode)).scalars())


def _log(ctx: CoreContext, event: Event | str) -> list[AuditEvent]:
    with stage(ctx.db) as s:
        found = s.execute(select(AuditEvent).where(AuditEvent.event == str(event)))
        return list(found.scalars())


def _code_step(ctx: CoreContext, delivery: CollectingDelivery) -> tuple[LoginService, CodeNeeded]:
    login = service(ctx, delivery)
    step = login.begin("alice", PASSWORD)
    assert isinstance(step, CodeNeeded), step
    return login, step


def test_a_code_is_issued_once_stored_only_as_a_hash_and_audited_without_it(
    ctx: CoreContext, people: dict[str, int], clock: ShiftedClock
) -> None:
    issued = HelpdeskCodeService(ctx).issue(_boss(people), people["alice"], f"  {REASON}  ")

    assert re.fullmatch(r"[0-9]{12}", issued.code)
    assert re.fullmatch(r"[0-9]{4} [0-9]{4} [0-9]{4}", issued.grouped)
    assert issued.login == "alice" and not issued.replaced
    with ctx.db.session() as s:
        now = ctx.clock.now(s)
    assert timedelta(minutes=59) < issued.expires_at - now <= timedelta(minutes=60)
    [row] = _rows(ctx)
    assert row.person_id == people["alice"] and row.reason == REASON  # trimmed
    assert issued.code not in row.code_hash
    [logged] = _log(ctx, Event.HELPDESK_CODE_ISSUED)
    assert (logged.subject, logged.detail) == ("alice", f"valid 60 min; reason: {REASON}")
    with stage(ctx.db) as s:
        every = " ".join(f"{e.detail} {e.subject}" for e in s.execute(select(AuditEvent)).scalars())
    assert issued.code not in every and issued.grouped not in every
    live = HelpdeskCodeService(ctx).live(_boss(people), people["alice"])
    assert live is not None and live.reason == REASON and live.issued_by.startswith("boss")


def test_bad_input_gets_a_message_per_field_and_nothing_is_stored(
    ctx: CoreContext, people: dict[str, int]
) -> None:
    desk = HelpdeskCodeService(ctx)
    with pytest.raises(ValidationError) as info:
        desk.issue(_boss(people), people["alice"], "   ", minutes=4)
    assert info.value.errors == {
        "reason": helpdesk.REASON_REQUIRED,
        "minutes": helpdesk.MINUTES_RANGE,
    }
    with pytest.raises(ValidationError) as info:
        desk.issue(_boss(people), people["alice"], "x" * 201, minutes=481)
    assert set(info.value.errors) == {"reason", "minutes"}
    assert "at most 200 characters" in info.value.errors["reason"]
    assert _rows(ctx) == [] and _log(ctx, Event.HELPDESK_CODE_ISSUED) == []


def test_only_security_edit_issues_and_never_for_oneself(
    ctx: CoreContext, people: dict[str, int]
) -> None:
    readers = add_group(ctx.db, "Readers", {"system.security": "r", "maintenance": "re"})
    clerk_id = add_user(ctx, "clerk", PASSWORD)
    with stage(ctx.db) as s:
        clerk_row = s.get(Person, clerk_id)
        assert clerk_row is not None
        clerk_row.group_id = readers
    clerk = actor(clerk_id, "clerk")
    desk = HelpdeskCodeService(ctx)
    with pytest.raises(PermissionDenied):
        desk.issue(clerk, people["alice"], REASON)
    with pytest.raises(PermissionDenied):
        desk.issue(_boss(people), people["boss"], REASON)
    assert _rows(ctx) == []
    # The control: the boss issues one for alice; the clerk can neither cancel it nor see it.
    desk.issue(_boss(people), people["alice"], REASON)
    with pytest.raises(PermissionDenied):
        desk.cancel(clerk, people["alice"])
    assert len(_rows(ctx)) == 1


def test_a_new_code_replaces_the_live_one_and_only_it_signs_in(
    ctx: CoreContext, people: dict[str, int]
) -> None:
    desk = HelpdeskCodeService(ctx)
    first = desk.issue(_boss(people), people["alice"], REASON)
    second = desk.issue(_boss(people), people["alice"], "Ticket 4712", minutes=30)
    assert second.replaced and len(_rows(ctx)) == 1
    assert [e.detail for e in _log(ctx, Event.HELPDESK_CODE_ISSUED)][-1] == (
        "valid 30 min; replaced the live code; reason: Ticket 4712"
    )

    login, step = _code_step(ctx, CollectingDelivery())
    assert step.helpdesk_code
    old = login.verify(step.challenge_id, first.grouped, False)
    assert isinstance(old, Refused) and old.reason is RefusalReason.WRONG_CODE
    signed = login.verify(step.challenge_id, second.grouped, False)
    assert isinstance(signed, SignedIn) and signed.person_id == people["alice"]


def test_the_code_signs_in_once_is_audited_and_trusts_no_address_unasked(
    ctx: CoreContext, people: dict[str, int], clock: ShiftedClock
) -> None:
    issued = HelpdeskCodeService(ctx).issue(_boss(people), people["alice"], REASON)
    login, step = _code_step(ctx, CollectingDelivery())

    signed = login.verify(step.challenge_id, issued.grouped, False)

    assert isinstance(signed, SignedIn) and signed.login == "alice"
    [success] = [e for e in _log(ctx, Event.LOGIN_SUCCEEDED) if e.subject == "alice"]
    assert success.detail.startswith("helpdesk code issued by boss")
    assert success.detail.endswith(f": {REASON}")
    assert _rows(ctx) == []
    assert HelpdeskCodeService(ctx).live(_boss(people), people["alice"]) is None
    with stage(ctx.db) as s:
        assert s.execute(select(TrustedIp)).scalars().all() == []
    # Used once: the next sign-in's code step no longer takes it.
    clock.advance(timedelta(seconds=31))
    again, step = _code_step(ctx, CollectingDelivery())
    assert not step.helpdesk_code
    refused = again.verify(step.challenge_id, issued.code, False)
    assert isinstance(refused, Refused) and refused.reason is RefusalReason.WRONG_CODE


def test_the_code_expires_on_the_database_clock(
    ctx: CoreContext, people: dict[str, int], clock: ShiftedClock
) -> None:
    issued = HelpdeskCodeService(ctx).issue(_boss(people), people["alice"], REASON, minutes=5)
    clock.advance(timedelta(minutes=5, seconds=1))
    assert HelpdeskCodeService(ctx).live(_boss(people), people["alice"]) is None

    login, step = _code_step(ctx, CollectingDelivery())
    assert not step.helpdesk_code
    refused = login.verify(step.challenge_id, issued.code, False)
    assert isinstance(refused, Refused) and refused.reason is RefusalReason.WRONG_CODE
    # A new code after an expired one replaces nothing live.
    again = HelpdeskCodeService(ctx).issue(_boss(people), people["alice"], REASON)
    assert not again.replaced and len(_rows(ctx)) == 1


def test_wrong_helpdesk_codes_count_towards_the_lockout(
    ctx: CoreContext, people: dict[str, int]
) -> None:
    issued = HelpdeskCodeService(ctx).issue(_boss(people), people["alice"], REASON)
    guess = f"{(int(issued.code) + 1) % 10**12:012d}"
    login, step = _code_step(ctx, CollectingDelivery())

    refused = login.verify(step.challenge_id, helpdesk.group(guess), False)

    assert isinstance(refused, Refused) and refused.reason is RefusalReason.WRONG_CODE
    assert refused.attempts_left == 4
    assert person(ctx, people["alice"]).failed_logins == 1
    [failed] = _log(ctx, Event.CODE_FAILED)
    assert failed.detail == "wrong code, attempt 1 of 5"
    assert len(_rows(ctx)) == 1  # a wrong guess does not use up the right code


def test_a_cancelled_code_no_longer_signs_in(ctx: CoreContext, people: dict[str, int]) -> None:
    desk = HelpdeskCodeService(ctx)
    issued = desk.issue(_boss(people), people["alice"], REASON)
    assert desk.cancel(_boss(people), people["alice"]) is True
    assert desk.cancel(_boss(people), people["alice"]) is False
    [cancelled] = _log(ctx, Event.HELPDESK_CODE_CANCELLED)
    assert cancelled.subject == "alice" and cancelled.detail.endswith(REASON)

    login, step = _code_step(ctx, CollectingDelivery())
    refused = login.verify(step.challenge_id, issued.code, False)
    assert isinstance(refused, Refused) and refused.reason is RefusalReason.WRONG_CODE


@RELAY_DELIVERS
def test_the_code_signs_in_while_the_mail_server_is_down(
    ctx: CoreContext, people: dict[str, int], closed_port: int
) -> None:
    """Codes go by SMTP to a port where no mail server listens: the code step still comes, and
    the helpdesk code signs in."""
    mail_server_down(ctx, closed_port)
    issued = HelpdeskCodeService(ctx).issue(_boss(people), people["alice"], REASON)
    login = LoginService(ctx, passwords=cheap_passwords(), workstation=WORKSTATION)

    step = login.begin("alice", PASSWORD)

    assert isinstance(step, CodeNeeded), step
    assert step.delivery_error is not None and step.helpdesk_code
    signed = login.verify(step.challenge_id, issued.grouped, False)
    assert isinstance(signed, SignedIn) and signed.login == "alice"


def test_with_nowhere_to_send_a_code_the_helpdesk_code_still_signs_in(
    ctx: CoreContext, people: dict[str, int]
) -> None:
    """A person without an e-mail address is refused a code as before, unless a helpdesk code
    is live: then the code step comes, saying why nothing was sent, and takes it."""
    carl = add_user(ctx, "carl", PASSWORD, email="")
    delivery = CollectingDelivery()
    login = service(ctx, delivery)
    refused = login.begin("carl", PASSWORD)
    assert isinstance(refused, Refused) and refused.reason is RefusalReason.NO_EMAIL

    issued = HelpdeskCodeService(ctx).issue(_boss(people), carl, REASON)
    step = login.begin("carl", PASSWORD)

    assert isinstance(step, CodeNeeded), step
    assert step.helpdesk_code and step.destination == ""
    assert step.delivery_error == NO_EMAIL_MESSAGE
    assert delivery.sent == []
    signed = login.verify(step.challenge_id, issued.grouped, False)
    assert isinstance(signed, SignedIn) and signed.person_id == carl
