"""Text messages through Twilio, Vonage and CM.com: the documented request checked by a local
HTTPS stand-in of each API, which answers with the provider's real error shapes."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest

from pmdesk.core.delivery.base import CodeMessage, DeliveryError, DeliverySettings
from pmdesk.core.delivery.factory import delivery_for, secret_key
from pmdesk.core.delivery.sms_providers import ProviderSms
from pmdesk.secrets import MemoryStore
from tests.helpers.messages import make_message
from tests.helpers.providers import (
    CM_TOKEN,
    SMS_SENDER,
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    VONAGE_KEY,
    VONAGE_SECRET,
    Cm,
    Twilio,
    Vonage,
    endpoints_for,
)
from tests.helpers.smtp import extract_code

CODE = "318270"


def code_message(**changes: object) -> CodeMessage:
    return make_message(CODE, **changes)


def provider(
    settings: DeliverySettings, secret: str | None, context: object, **stand_ins: object
) -> ProviderSms:
    secrets = MemoryStore()
    key = secret_key(settings)
    if secret is not None and key is not None:
        secrets.set(key, secret)
    delivery = delivery_for(
        settings,
        secrets,
        Path("unused"),
        ssl_context=context,  # type: ignore[arg-type]
        timeout=5,
        endpoints=endpoints_for(**stand_ins),  # type: ignore[arg-type]
    )
    assert isinstance(delivery, ProviderSms)
    return delivery


def failure(delivery: ProviderSms, message: CodeMessage | None = None) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        delivery.send(message or code_message())
    text = str(info.value)
    assert CODE not in text
    for secret in (TWILIO_TOKEN, VONAGE_SECRET, CM_TOKEN):
        assert secret not in text
    return info.value


# ----- Twilio --------------------------------------------------------------------------------

TWILIO = DeliverySettings(method="twilio", sms_account=TWILIO_SID, sms_sender=TWILIO_FROM)


def twilio_delivery(
    twilio: Twilio, ctx: object, secret: str | None = TWILIO_TOKEN, **changes: object
) -> ProviderSms:
    return provider(replace(TWILIO, **changes), secret, ctx, twilio=twilio)  # type: ignore[arg-type]


def test_twilio_form_post_with_basic_auth(twilio: Twilio, test_client_context: object) -> None:
    delivery = twilio_delivery(twilio, test_client_context)
    assert delivery.label == f"Text message via Twilio (HTTPS, from {TWILIO_FROM})"
    delivery.send(code_message())

    [request] = twilio.received
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    expected = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    form = request.form
    assert form["To"] == "+32470123456"
    assert form["From"] == TWILIO_FROM
    assert extract_code(form["Body"]) == CODE


def test_twilio_messaging_service_instead_of_a_number(
    twilio: Twilio, test_client_context: object
) -> None:
    service = "MG" + "fedcba9876543210" * 2
    twilio_delivery(twilio, test_client_context, sms_sender=service).send(code_message())
    [request] = twilio.received
    assert request.form["MessagingServiceSid"] == service
    assert "From" not in request.form


def test_twilio_wrong_auth_token(twilio: Twilio, test_client_context: object) -> None:
    error = failure(twilio_delivery(twilio, test_client_context, secret="an old token"))
    assert error.step == "authenticate"
    assert str(error) == "Twilio refused the Account SID or Auth Token (20003: Authenticate)."


def test_twilio_sender_not_in_the_account(twilio: Twilio, test_client_context: object) -> None:
    error = failure(twilio_delivery(twilio, test_client_context, sms_sender="+3225550199"))
    assert error.step == "send"
    assert str(error).startswith(
        "The sender +3225550199 is not a Twilio number of this account (21659"
    )


def test_twilio_country_not_allowed(twilio: Twilio, test_client_context: object) -> None:
    twilio.blocked_countries.add("+31")
    error = failure(
        twilio_delivery(twilio, test_client_context), code_message(phone="+31 6 1234 5678")
    )
    assert error.step == "send"
    assert "Geo permissions" in str(error)
    assert "21408" in str(error)


def test_numbers_are_read_in_the_configured_region(
    twilio: Twilio, test_client_context: object
) -> None:
    delivery = twilio_delivery(twilio, test_client_context, phone_region="NL")
    message = code_message(phone="06 1234 5678")
    assert delivery.destination(message) == "+31612345678"
    delivery.send(message)
    assert twilio.received[0].form["To"] == "+31612345678"


def test_missing_auth_token(twilio: Twilio, test_client_context: object) -> None:
    error = failure(twilio_delivery(twilio, test_client_context, secret=None))
    assert error.step == "settings"
    assert str(error).startswith("No Twilio Auth Token is stored in this computer's keyring.")
    assert twilio.stand_in.requests == []


# ----- Vonage --------------------------------------------------------------------------------

VONAGE = DeliverySettings(method="vonage", sms_account=VONAGE_KEY, sms_sender=SMS_SENDER)


def test_vonage_form_with_key_and_secret(vonage: Vonage, test_client_context: object) -> None:
    provider(VONAGE, VONAGE_SECRET, test_client_context, vonage=vonage).send(code_message())
    [request] = vonage.received
    assert request.path == "/sms/json"
    form = request.form
    assert (form["api_key"], form["api_secret"]) == (VONAGE_KEY, VONAGE_SECRET)
    assert form["to"] == "32470123456"  # digits, no +
    assert form["from"] == SMS_SENDER
    assert extract_code(form["text"]) == CODE
    assert "authorization" not in request.headers


def test_vonage_bad_credentials_come_with_http_200(
    vonage: Vonage, test_client_context: object
) -> None:
    error = failure(provider(VONAGE, "wrong", test_client_context, vonage=vonage))
    assert error.step == "authenticate"
    assert str(error) == ("Vonage refused the API key or API secret (status 4: Bad Credentials).")


def test_vonage_out_of_credit(vonage: Vonage, test_client_context: object) -> None:
    vonage.credit = False
    error = failure(provider(VONAGE, VONAGE_SECRET, test_client_context, vonage=vonage))
    assert error.step == "send"
    assert str(error) == (
        "The Vonage account has no credit left: top it up (status 9: Partner quota exceeded)."
    )


# ----- CM.com --------------------------------------------------------------------------------

CM = DeliverySettings(method="cm", sms_sender=SMS_SENDER)


def test_cm_json_with_the_product_token(cm: Cm, test_client_context: object) -> None:
    delivery = provider(CM, CM_TOKEN, test_client_context, cm=cm)
    assert delivery.label == f"Text message via CM.com (HTTPS, from {SMS_SENDER})"
    delivery.send(code_message())
    [request] = cm.received
    assert request.path == "/v1.0/message"
    messages = request.json["messages"]
    assert messages["authentication"] == {"producttoken": CM_TOKEN}
    [msg] = messages["msg"]
    assert msg["from"] == SMS_SENDER
    assert msg["to"] == [{"number": "0032470123456"}]
    assert extract_code(msg["body"]["content"]) == CODE


def test_cm_wrong_product_token(cm: Cm, test_client_context: object) -> None:
    error = failure(
        provider(CM, "00000000-0000-0000-0000-000000000000", test_client_context, cm=cm)
    )
    assert error.step == "authenticate"
    assert str(error) == (
        "CM.com refused the product token (errorCode 101: No account found for the given "
        "authentication)."
    )


def test_cm_per_message_error(cm: Cm, test_client_context: object) -> None:
    """A refused number: errorCode 201 for the request, messageErrorCode 303 for the message;
    the message's own reason is the one shown."""
    cm.refused_numbers.add("0032470123456")
    error = failure(provider(CM, CM_TOKEN, test_client_context, cm=cm))
    assert error.step == "send"
    assert str(error) == (
        "CM.com refused the number (errorCode 303: Gsm '0032470123456' is not a number.)."
    )
