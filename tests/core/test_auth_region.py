"""Sign-in by text message reads stored numbers in the ``phone_region`` setting, and the login
dialog's delivery warning (issue 14, items 4 and 7)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from pmdesk.core.auth import usable_destination
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.delivery import health
from pmdesk.core.delivery.base import DeliveryError
from pmdesk.core.errors import ValidationError
from pmdesk.core.login_results import NO_PHONE_MESSAGE, CodeNeeded, Refused
from pmdesk.core.models import Person
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.core.security import SecurityService, find_shut_out
from pmdesk.core.validation import first_valid_phone
from tests.helpers.databases import stage
from tests.helpers.hardened import RELAY_DELIVERS
from tests.helpers.login import (
    CollectingDelivery,
    add_user,
    enable_two_factor,
    service,
    set_security,
)
from tests.helpers.staff import actor, add_person

PASSWORD = "Spring-Tide-42"
DUTCH_MOBILE = "06 12345678"  # national: +31 6 12345678


@pytest.fixture
def delivery() -> CollectingDelivery:
    return CollectingDelivery()


def test_first_valid_phone_reads_national_numbers_in_the_region() -> None:
    assert first_valid_phone(DUTCH_MOBILE) is None  # not a Belgian number
    assert first_valid_phone(DUTCH_MOBILE, region="NL") == "+31612345678"
    # A number with its country code is the same anywhere.
    assert first_valid_phone("+32 470 12 34 56", region="NL") == "+32470123456"
    assert usable_destination(Person(mobile=DUTCH_MOBILE, phone=""), "sms", "NL") == (
        "+31612345678"
    )


@RELAY_DELIVERS
def test_a_dutch_office_signs_in_with_a_stored_national_number(
    ctx: CoreContext, clock: ShiftedClock, delivery: CollectingDelivery
) -> None:
    add_user(ctx, "joost", PASSWORD, mobile=DUTCH_MOBILE)
    enable_two_factor(
        ctx,
        delivery_method="sms",
        sms_url="https://sms.example.com/send",
        phone_region="NL",
    )
    with stage(ctx.db) as s:
        assert [p.login for p in find_shut_out(s, "twilio", "NL")] == []

    login = service(ctx, delivery)
    sent = login.begin("joost", PASSWORD)
    assert isinstance(sent, CodeNeeded), sent
    assert delivery.sent[-1].phone == "+31612345678"
    assert sent.destination.startswith("+31") and sent.destination.endswith("78")

    # "Send a new code" reads the number the same way.
    clock.advance(timedelta(minutes=1))
    again = login.resend(sent.challenge_id)
    assert isinstance(again, CodeNeeded), again
    assert [m.phone for m in delivery.sent] == ["+31612345678"] * 2


def test_the_same_number_in_a_belgian_office_has_nowhere_to_go(
    ctx: CoreContext, delivery: CollectingDelivery
) -> None:
    add_user(ctx, "joost", PASSWORD, mobile=DUTCH_MOBILE)
    enable_two_factor(ctx, delivery_method="sms", sms_url="https://sms.example.com/send")
    with stage(ctx.db) as s:
        assert [p.login for p in find_shut_out(s, "sms")] == ["joost"]

    # On a hardened database the server queues the code (it cannot read phone numbers as
    # libphonenumber does) and the relay finds there is nowhere to send it: the same refusal.
    refused = service(ctx, delivery).begin("joost", PASSWORD)
    assert isinstance(refused, Refused)
    assert refused.message == NO_PHONE_MESSAGE
    assert delivery.sent == []


def test_readiness_uses_the_region_setting(ctx: CoreContext) -> None:
    admin = actor(add_person(ctx.db, "root", email="root@example.com"), "root")
    add_user(ctx, "joost", PASSWORD, mobile=DUTCH_MOBILE)
    set_security(ctx, delivery_method="sms", sms_url="https://sms.example.com/send")
    security = SecurityService(ctx)
    assert "joost" in [p.login for p in security.readiness(admin)]
    set_security(ctx, phone_region="NL")
    assert "joost" not in [p.login for p in security.readiness(admin)]


def _record(ctx: CoreContext, method: str, error: DeliveryError | None) -> None:
    with stage(ctx.db) as s:
        health.record(s, ctx.clock.now(s), method, error)


def test_the_login_warning_follows_the_delivery_health(
    ctx: CoreContext, delivery: CollectingDelivery
) -> None:
    login = service(ctx, delivery)
    set_security(ctx, delivery_method="smtp")
    _record(
        ctx, "smtp", DeliveryError("The mail server refused the password.", step="authenticate")
    )
    # Two-step authentication off: no code is needed, so nothing to warn about.
    assert login.delivery_warning() is None

    enable_two_factor(ctx)
    assert login.delivery_warning() == health.LOGIN_WARNING

    # Only the configured method counts.
    set_security(ctx, delivery_method="graph")
    assert login.delivery_warning() is None
    _record(ctx, "graph", DeliveryError("Mailbox full.", step="send"))
    assert login.delivery_warning() is None  # one send failure may be one person's address
    _record(ctx, "graph", DeliveryError("Mailbox full.", step="send"))
    assert login.delivery_warning() == health.LOGIN_WARNING
    _record(ctx, "graph", None)
    assert login.delivery_warning() is None


def test_personnel_reads_a_national_number_in_the_offices_region(ctx: CoreContext) -> None:
    """A Dutch office types its staff's numbers as the Dutch do: saved with +31. The same
    number in a Belgian office is refused under the field, and nothing is stored."""
    admin = actor(add_person(ctx.db, "root", email="root@example.com"), "root")
    service = PersonnelService(ctx)
    with pytest.raises(ValidationError) as refused:
        service.create(admin, PersonForm(last_name="Visser", mobile=DUTCH_MOBILE))
    assert set(refused.value.errors) == {"mobile"}
    set_security(ctx, phone_region="NL")
    record = service.create(admin, PersonForm(last_name="Visser", mobile=DUTCH_MOBILE))
    assert record.form.mobile == "+31612345678"
    # A number with its country code is the same in any region.
    updated = service.update(
        admin, record.id, record.version, replace(record.form, phone="+32 470 12 34 56")
    )
    assert (updated.form.phone, updated.form.mobile) == ("+32470123456", "+31612345678")
