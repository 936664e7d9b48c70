"""Delivery health (issue 14, item 7): the last outcome per method, kept in the database on
every engine; "recent sends have failed" for the Security screen, the login dialog and
``pmdesk mail status``; and the new delivery settings validated field by field."""

from __future__ import annotations

import ssl
from dataclasses import fields as dataclass_fields
from datetime import timedelta

import pytest

from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.delivery import health
from pmdesk.core.delivery.base import METHODS, DeliveryError, DeliverySettings, failure_text
from pmdesk.core.delivery.factory import secret_key
from pmdesk.core.delivery.fields import (
    FIELD_HINTS,
    FIELD_LABELS,
    METHOD_LABELS,
    method_fields,
)
from pmdesk.core.errors import ValidationError
from pmdesk.core.security import SecurityService, validate_delivery
from pmdesk.secrets import sms_provider_key, smtp_key
from tests.helpers.databases import stage
from tests.helpers.hardened import RELAY_DELIVERS
from tests.helpers.providers import (
    CLIENT_ID,
    MAILBOX,
    TENANT,
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    Twilio,
    endpoints_for,
)
from tests.helpers.smtp import SmtpServer

ADMIN = Actor.command_line()


def test_no_sends_yet(ctx: CoreContext) -> None:
    report = SecurityService(ctx).delivery_health(ADMIN)
    assert report.method == "outbox"
    assert report.outcomes == []
    assert report.trouble is None and report.warning is None


@RELAY_DELIVERS
def test_a_test_message_that_works_is_recorded(ctx: CoreContext) -> None:
    SecurityService(ctx).send_test_code(ADMIN, "helpdesk@workshop.example")
    report = SecurityService(ctx).delivery_health(ADMIN)
    [outbox] = report.outcomes
    assert (outbox.method, outbox.ok, outbox.failures_in_row) == ("outbox", True, 0)
    assert outbox.last_ok_at == outbox.last_at
    assert report.trouble is None


@RELAY_DELIVERS
def test_a_broken_connection_warns_at_once_and_a_success_clears_it(
    ctx: CoreContext, closed_port: int, clock: ShiftedClock, smtp_auth_server: SmtpServer
) -> None:
    service = SecurityService(ctx)
    server = SmtpServer(host="127.0.0.1", port=closed_port)
    service.update_delivery(ADMIN, server.settings("starttls"))
    with pytest.raises(DeliveryError) as info:
        service.send_test_code(ADMIN, "anna@workshop.example", timeout=2)
    assert info.value.step == "connect"
    assert failure_text(info.value).startswith("Failed at: connecting (connect). Could not connect")

    report = service.delivery_health(ADMIN)
    assert report.trouble is not None
    assert report.trouble.step == "connect"
    assert report.warning is not None
    assert report.warning.startswith("The last security code could not be sent (")
    assert "failed at: connect; no success yet" in report.warning
    assert "connection refused. Check the host name and port" in report.warning
    with ctx.db.session() as s:
        assert health.trouble(s, "smtp") is not None
        assert health.LOGIN_WARNING.startswith("Security codes could not be sent recently.")

    clock.offset += timedelta(minutes=5)
    service.update_delivery(ADMIN, smtp_auth_server.settings("starttls", username="mailer"))
    ctx.secrets.set(smtp_key(smtp_auth_server.host, "mailer"), smtp_auth_server.password)
    service.send_test_code(
        ADMIN, "anna@workshop.example", ssl_context=smtp_auth_server.client_context
    )
    report = service.delivery_health(ADMIN)
    assert report.trouble is None
    [smtp] = report.outcomes
    assert smtp.ok and smtp.failures_in_row == 0 and smtp.message == ""


def test_one_refused_recipient_is_not_a_broken_method(ctx: CoreContext) -> None:
    """A failure at the send step may be one person's address: two in a row warn."""
    with stage(ctx.db) as s:
        now = ctx.clock.now(s)
        health.record(s, now, "twilio", None)
        refused = DeliveryError("Twilio says the number is not a valid phone number.", step="send")
        health.record(s, now, "twilio", refused)
    with stage(ctx.db) as s:
        [outcome] = health.outcomes(s)
        assert (outcome.ok, outcome.failures_in_row, outcome.step) == (False, 1, "send")
        assert health.trouble(s, "twilio") is None
    with stage(ctx.db) as s:
        health.record(s, ctx.clock.now(s), "twilio", refused)
    with stage(ctx.db) as s:
        trouble = health.trouble(s, "twilio")
        assert trouble is not None and trouble.failures_in_row == 2
        assert health.warning(trouble).startswith("The last 2 security codes could not be sent")


def test_the_audit_and_health_never_hold_the_code(ctx: CoreContext) -> None:
    with stage(ctx.db) as s:
        health.record(s, ctx.clock.now(s), "sms", "x" * 2000)
    with stage(ctx.db) as s:
        assert len(health.outcomes(s)[0].message) == health.MESSAGE_MAX


@RELAY_DELIVERS
def test_send_test_code_through_a_provider(
    ctx: CoreContext, twilio: Twilio, test_client_context: ssl.SSLContext
) -> None:
    """ "Send test code" with an SMS provider: the provider gets the number, health says ok;
    a refused token is reported at the authenticate step and remembered."""
    service = SecurityService(ctx)
    settings = DeliverySettings(method="twilio", sms_account=TWILIO_SID, sms_sender=TWILIO_FROM)
    service.update_delivery(ADMIN, settings)
    ctx.secrets.set(sms_provider_key("twilio", TWILIO_SID), TWILIO_TOKEN)
    options = {"ssl_context": test_client_context, "endpoints": endpoints_for(twilio=twilio)}
    sent = service.send_test_code(ADMIN, "0470 12 34 56", **options)  # type: ignore[arg-type]
    assert sent.destination == "+32470123456"
    assert twilio.received[0].form["Body"].startswith("TEST - pmdesk security code: ")

    ctx.secrets.set(sms_provider_key("twilio", TWILIO_SID), "a revoked token")
    with pytest.raises(DeliveryError) as info:
        service.send_test_code(ADMIN, "0470 12 34 56", **options)  # type: ignore[arg-type]
    assert failure_text(info.value) == (
        "Failed at: signing in (authenticate). Twilio refused the Account SID or Auth Token "
        "(20003: Authenticate)."
    )
    trouble = service.delivery_health(ADMIN).trouble
    assert trouble is not None and trouble.step == "authenticate"
    assert trouble.last_ok_at is not None


# ----- settings ----------------------------------------------------------------------------------


def test_new_settings_round_trip(ctx: CoreContext) -> None:
    wanted = DeliverySettings(
        method="m365",
        smtp_from=MAILBOX,
        m365_tenant_id=TENANT.upper(),
        m365_client_id=CLIENT_ID,
        m365_auth="certificate",
        m365_thumbprint="3a:7f:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:01:02",
        sms_account=TWILIO_SID,
        sms_sender="06 1234 5678",
        phone_region="nl",
    )
    stored = SecurityService(ctx).update_delivery(ADMIN, wanted).delivery
    assert stored.m365_tenant_id == TENANT
    assert stored.m365_thumbprint == "3A7F00112233445566778899AABBCCDDEEFF0102"
    assert stored.phone_region == "NL"
    assert stored.sms_sender == "+31612345678"  # read as a Dutch number: region NL
    assert SecurityService(ctx).get(ADMIN).delivery == stored


@pytest.mark.parametrize(
    ("settings", "field", "expected"),
    [
        (DeliverySettings(method="m365", smtp_from=MAILBOX, m365_client_id=CLIENT_ID),
         "m365_tenant_id", "Enter the directory (tenant) ID."),
        (DeliverySettings(method="graph", smtp_from=MAILBOX, m365_tenant_id="not a tenant",
                          m365_client_id=CLIENT_ID), "m365_tenant_id", "is a GUID"),
        (DeliverySettings(method="graph", smtp_from=MAILBOX, m365_tenant_id=TENANT,
                          m365_client_id="my app"), "m365_client_id", "App registrations"),
        (DeliverySettings(method="m365", smtp_from=MAILBOX, m365_tenant_id=TENANT,
                          m365_client_id=CLIENT_ID, m365_auth="certificate"),
         "m365_thumbprint", "Enter the certificate's thumbprint."),
        (DeliverySettings(method="graph", m365_tenant_id=TENANT, m365_client_id=CLIENT_ID),
         "smtp_from", "Enter the sender address"),
        (DeliverySettings(method="google", smtp_from=MAILBOX), "google_client_email",
         "JSON key"),
        (DeliverySettings(method="twilio", sms_account="AC123", sms_sender="+3225550100"),
         "sms_account", "AC followed by 32 hexadecimal"),
        (DeliverySettings(method="vonage", sms_account="a1b2c3d4"), "sms_sender",
         "Enter the sender of text messages"),
        (DeliverySettings(method="cm", sms_sender="Workshop Garage Ltd"), "sms_sender",
         "The sender:"),
        (DeliverySettings(method="cm", sms_sender="Workshop", phone_region="XX"),
         "phone_region", "not a country code"),
    ],
)  # fmt: skip
def test_each_bad_field_is_named(settings: DeliverySettings, field: str, expected: str) -> None:
    with pytest.raises(ValidationError) as info:
        validate_delivery(settings)
    assert field in info.value.errors, info.value.errors
    assert expected in info.value.errors[field]


def test_the_form_description_covers_every_field_and_method() -> None:
    """Every DeliverySettings field (but the method) has a label and a hint, and every method
    a label; a method's fields are real fields."""
    names = {f.name for f in dataclass_fields(DeliverySettings)} - {"method"}
    assert set(FIELD_LABELS) == names == set(FIELD_HINTS)
    assert tuple(METHOD_LABELS) == METHODS
    for method in METHODS:
        assert set(method_fields(method)) <= names
    assert "m365_thumbprint" in method_fields("graph")
    # Which secret a method needs is factory.secret_key's answer (None: no secret).
    assert secret_key(DeliverySettings(method="smtp")) is None
    assert secret_key(DeliverySettings(method="cm")) == sms_provider_key("cm", "")
