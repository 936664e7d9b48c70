"""Security codes by text message, against a local HTTPS gateway (the only fake: no real SMS
gateway can run here)."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pmdesk.core.delivery.base import CodeMessage, DeliveryError, DeliverySettings
from pmdesk.core.delivery.factory import delivery_for
from pmdesk.core.delivery.sms import SmsDelivery
from pmdesk.secrets import MemoryStore, sms_key
from tests.helpers.smtp import LOOPBACK, SmsGateway, SmtpServer, extract_code

CODE = "907315"


def code_message(**changes: object) -> CodeMessage:
    message = CodeMessage(
        person_name="Jan Claes",
        email="jan@workshop.example",
        phone="0470 12 34 56",
        code=CODE,
        valid_minutes=10,
        requested_from="198.51.100.7",
        workstation="WORKSHOP-2",
    )
    return replace(message, **changes)  # type: ignore[arg-type]


def sms(url: str, gateway: SmsGateway, token: str | None, timeout: float = 5.0) -> SmsDelivery:
    secrets = MemoryStore()
    if token is not None:
        secrets.set(sms_key(url), token)
    delivery = delivery_for(
        DeliverySettings(method="sms", sms_url=url),
        secrets,
        Path("unused"),
        ssl_context=gateway.client_context,
        timeout=timeout,
    )
    assert isinstance(delivery, SmsDelivery)
    return delivery


def send_error(delivery: SmsDelivery, message: CodeMessage | None = None) -> str:
    with pytest.raises(DeliveryError) as info:
        delivery.send(message or code_message())
    text = str(info.value)
    assert CODE not in text
    return text


def test_posts_json_with_the_bearer_token(sms_gateway: SmsGateway) -> None:
    delivery = sms(sms_gateway.url, sms_gateway, sms_gateway.token)
    assert delivery.encrypted is True
    port = urlsplit(sms_gateway.url).port
    assert delivery.label == f"Text message via the SMS gateway https://{LOOPBACK}:{port} (HTTPS)"

    delivery.send(code_message())

    [request] = sms_gateway.received
    assert request.path == "/send"
    assert request.authorization == f"Bearer {sms_gateway.token}"
    assert request.content_type.startswith("application/json")
    assert set(request.body) == {"to", "message"}
    assert request.body["to"] == "+32470123456"
    text = request.body["message"]
    assert extract_code(text) == CODE
    assert "10 minutes" in text
    assert "198.51.100.7" in text
    assert "WORKSHOP-2" in text
    assert "Do not share" in text
    assert "administrator" in text


@pytest.mark.parametrize(
    ("phone", "e164"),
    [
        ("0470 12 34 56", "+32470123456"),
        ("+32 470/12.34.56", "+32470123456"),
        ("0031 6 1234 5678", "+31612345678"),
        ("+44 (20) 7946 0958", "+442079460958"),
    ],
)
def test_numbers_are_sent_as_e164(sms_gateway: SmsGateway, phone: str, e164: str) -> None:
    delivery = sms(sms_gateway.url, sms_gateway, sms_gateway.token)
    message = code_message(phone=phone)
    assert delivery.destination(message) == e164
    delivery.send(message)
    assert sms_gateway.received[-1].body["to"] == e164


def test_test_message_says_it_is_a_test(sms_gateway: SmsGateway) -> None:
    sms(sms_gateway.url, sms_gateway, sms_gateway.token).send(code_message(test=True))
    assert sms_gateway.received[0].body["message"].startswith("TEST")


def test_person_without_a_number(sms_gateway: SmsGateway) -> None:
    delivery = sms(sms_gateway.url, sms_gateway, sms_gateway.token)
    for phone in ("", "call me maybe"):
        message = code_message(phone=phone)
        assert delivery.destination(message) is None
        assert "Jan Claes has no usable mobile number" in send_error(delivery, message)
    assert sms_gateway.received == []


@pytest.mark.parametrize("status", [400, 500, 503])
def test_gateway_refusal_is_an_error_without_the_code(sms_gateway: SmsGateway, status: int) -> None:
    sms_gateway.status = status  # the gateway echoes the request (with the code) in its answer
    error = send_error(sms(sms_gateway.url, sms_gateway, sms_gateway.token))
    assert f"refused the message (HTTP {status}" in error


def test_redirect_is_not_followed(sms_gateway: SmsGateway) -> None:
    sms_gateway.status = 302
    error = send_error(sms(sms_gateway.url, sms_gateway, sms_gateway.token))
    assert "HTTP 302" in error
    assert len(sms_gateway.received) == 1  # the token went nowhere else


def test_wrong_token_is_refused(sms_gateway: SmsGateway) -> None:
    error = send_error(sms(sms_gateway.url, sms_gateway, "an old token"))
    assert "HTTP 401" in error
    assert "an old token" not in error
    assert sms_gateway.received == []


def test_missing_token(sms_gateway: SmsGateway) -> None:
    error = send_error(sms(sms_gateway.url, sms_gateway, None))
    assert "No token for the SMS gateway" in error
    assert "keyring" in error
    assert sms_gateway.received == []


def test_untrusted_certificate(sms_gateway: SmsGateway) -> None:
    """The system's default context does not know the test CA: refused, nothing posted."""
    secrets = MemoryStore()
    secrets.set(sms_key(sms_gateway.url), sms_gateway.token)
    delivery = delivery_for(
        DeliverySettings(method="sms", sms_url=sms_gateway.url), secrets, Path("unused")
    )
    assert delivery.encrypted is True
    error = send_error(delivery)  # type: ignore[arg-type]
    assert f"certificate of the SMS gateway {LOOPBACK} is not trusted" in error
    assert sms_gateway.received == []


def test_refused_connection(closed_port: int, sms_gateway: SmsGateway) -> None:
    url = f"https://{LOOPBACK}:{closed_port}/send"
    error = send_error(sms(url, sms_gateway, "token"))
    assert error == f"Could not connect to the SMS gateway https://{LOOPBACK}:{closed_port}: " + (
        "connection refused."
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://sms.example.com/send", "must be reached over https://"),
        ("ftp://sms.example.com/send", "must start with https://"),
        ("https:///send", "must start with https://"),
        ("https://user:pw@sms.example.com/send", "Do not put a user name or password"),
        ("", "Enter the address"),
    ],
)
def test_unusable_gateway_addresses_are_refused(url: str, expected: str) -> None:
    with pytest.raises(DeliveryError, match=expected):
        delivery_for(DeliverySettings(method="sms", sms_url=url), MemoryStore(), Path("unused"))


def test_plain_http_is_allowed_to_a_gateway_on_this_computer() -> None:
    delivery = delivery_for(
        DeliverySettings(method="sms", sms_url="http://localhost:8080/send"),
        MemoryStore(),
        Path("unused"),
    )
    assert delivery.encrypted is False
    assert "local gateway only" in delivery.label


def test_hanging_gateway_times_out_quickly(
    smtp_hanging_server: SmtpServer, sms_gateway: SmsGateway
) -> None:
    url = f"https://{LOOPBACK}:{smtp_hanging_server.port}/send"
    started = time.monotonic()
    error = send_error(sms(url, sms_gateway, "token", timeout=0.3))
    assert time.monotonic() - started < 5
    assert error == (
        f"The SMS gateway https://{LOOPBACK}:{smtp_hanging_server.port} did not answer within "
        "0.3 seconds."
    )
