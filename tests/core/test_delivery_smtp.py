"""Security codes by e-mail, against real SMTP servers (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from pmdesk.core.delivery.base import CodeMessage, DeliveryError, DeliverySettings
from pmdesk.core.delivery.factory import delivery_for
from pmdesk.core.delivery.smtp import SmtpDelivery
from pmdesk.secrets import MemoryStore, smtp_key
from tests.helpers.smtp import LOOPBACK, SENDER, SmtpServer, extract_code

CODE = "482913"


def code_message(**changes: object) -> CodeMessage:
    message = CodeMessage(
        person_name="Anna Peeters",
        email="anna.peeters@workshop.example",
        phone="",
        code=CODE,
        valid_minutes=10,
        requested_from="192.0.2.44",
        workstation="RECEPTION-PC",
    )
    return replace(message, **changes)  # type: ignore[arg-type]


def smtp(
    settings: DeliverySettings,
    server: SmtpServer,
    tmp_path: Path,
    secrets: MemoryStore | None = None,
    timeout: float = 5.0,
) -> SmtpDelivery:
    delivery = delivery_for(
        settings,
        secrets or MemoryStore(),
        tmp_path / "outbox",
        ssl_context=server.client_context,
        timeout=timeout,
    )
    assert isinstance(delivery, SmtpDelivery)
    return delivery


def send_error(delivery: SmtpDelivery, message: CodeMessage | None = None) -> str:
    with pytest.raises(DeliveryError) as info:
        delivery.send(message or code_message())
    text = str(info.value)
    assert CODE not in text
    assert "\n" not in text
    return text


def test_plain_local_server_receives_a_readable_code(
    smtp_plain_server: SmtpServer, tmp_path: Path
) -> None:
    delivery = smtp(smtp_plain_server.settings("none"), smtp_plain_server, tmp_path)
    assert delivery.encrypted is False
    assert "no encryption" in delivery.label

    delivery.send(code_message())

    [mail] = smtp_plain_server.received
    assert mail.rcpt_tos == ["anna.peeters@workshop.example"]
    assert mail.mail_from == "security@workshop.example"
    assert mail.code == CODE
    msg = mail.message
    assert msg["Subject"] == "pmdesk security code"
    assert msg["To"].addresses[0].addr_spec == "anna.peeters@workshop.example"
    assert msg["From"] == SENDER
    text = mail.text
    assert "10 minutes" in text
    assert "192.0.2.44" in text
    assert "RECEPTION-PC" in text
    assert "do not share" in text
    assert "administrator" in text
    assert "change your password" in text


def test_an_internationalised_domain_goes_to_the_server_in_its_ascii_form(
    smtp_plain_server: SmtpServer, tmp_path: Path
) -> None:
    """jan@café.be is a valid address (issue 14, item 4); a mail server without SMTPUTF8
    only takes the IDNA form of its domain, in the envelope and in the To header."""
    delivery = smtp(smtp_plain_server.settings("none"), smtp_plain_server, tmp_path)
    delivery.send(code_message(email="jan@café.be"))
    [mail] = smtp_plain_server.received
    assert mail.rcpt_tos == ["jan@xn--caf-dma.be"]
    assert mail.message["To"].addresses[0].addr_spec == "jan@xn--caf-dma.be"
    assert mail.code == CODE


def test_starttls_with_a_trusted_certificate(
    smtp_starttls_server: SmtpServer, tmp_path: Path
) -> None:
    delivery = smtp(smtp_starttls_server.settings("starttls"), smtp_starttls_server, tmp_path)
    assert delivery.encrypted is True
    assert delivery.label == f"E-mail via {LOOPBACK}:{smtp_starttls_server.port} (STARTTLS)"

    delivery.send(code_message())

    [mail] = smtp_starttls_server.received
    assert mail.secure
    assert extract_code(mail.text) == CODE


def test_implicit_tls_with_a_trusted_certificate(
    smtp_tls_server: SmtpServer, tmp_path: Path
) -> None:
    delivery = smtp(smtp_tls_server.settings("tls"), smtp_tls_server, tmp_path)
    delivery.send(code_message(test=True))

    [mail] = smtp_tls_server.received
    assert mail.secure
    assert mail.code == CODE
    assert "TEST" in mail.text
    assert mail.message["Subject"] == "pmdesk security code (test)"


def test_self_signed_certificate_is_refused_with_a_clear_message(
    smtp_self_signed_server: SmtpServer, tmp_path: Path
) -> None:
    delivery = smtp(smtp_self_signed_server.settings("starttls"), smtp_self_signed_server, tmp_path)
    error = send_error(delivery)
    assert "certificate of the mail server 127.0.0.1 is not trusted" in error
    assert "self-signed" in error
    assert smtp_self_signed_server.received == []


def test_system_trust_store_does_not_trust_a_private_authority(
    smtp_tls_server: SmtpServer, tmp_path: Path
) -> None:
    """Without a context passed in, the system's default (verifying) context is used."""
    delivery = delivery_for(smtp_tls_server.settings("tls"), MemoryStore(), tmp_path, timeout=5.0)
    assert isinstance(delivery, SmtpDelivery)
    error = send_error(delivery)
    assert "is not trusted" in error
    assert smtp_tls_server.received == []


def test_server_without_starttls_gets_nothing_in_plaintext(
    smtp_no_starttls_server: SmtpServer, tmp_path: Path
) -> None:
    delivery = smtp(smtp_no_starttls_server.settings("starttls"), smtp_no_starttls_server, tmp_path)
    error = send_error(delivery)
    assert "does not offer STARTTLS" in error
    assert "nothing was sent" in error
    assert smtp_no_starttls_server.received == []


def test_refused_port(closed_port: int, tmp_path: Path) -> None:
    server = SmtpServer(host=LOOPBACK, port=closed_port)
    delivery = smtp(server.settings("starttls"), server, tmp_path)
    error = send_error(delivery)
    assert error.startswith(f"Could not connect to the mail server 127.0.0.1:{closed_port}")
    assert "connection refused" in error


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_hanging_server_times_out_quickly(
    smtp_hanging_server: SmtpServer, tmp_path: Path, security: str
) -> None:
    delivery = smtp(
        smtp_hanging_server.settings(security),  # type: ignore[arg-type]
        smtp_hanging_server,
        tmp_path,
        timeout=0.3,
    )
    started = time.monotonic()
    error = send_error(delivery)
    assert time.monotonic() - started < 5
    assert "did not answer within 0.3 seconds" in error


def test_default_timeout_is_fifteen_seconds(tmp_path: Path) -> None:
    settings = DeliverySettings(
        method="smtp", smtp_host="smtp.example.com", smtp_from="a@example.com"
    )
    delivery = delivery_for(settings, MemoryStore(), tmp_path)
    assert isinstance(delivery, SmtpDelivery)
    assert delivery.timeout == 15


def test_auth_with_the_password_from_the_keyring(
    smtp_auth_server: SmtpServer, tmp_path: Path
) -> None:
    secrets = MemoryStore()
    secrets.set(smtp_key(LOOPBACK, smtp_auth_server.username), smtp_auth_server.password)
    settings = smtp_auth_server.settings("starttls", username=smtp_auth_server.username)

    smtp(settings, smtp_auth_server, tmp_path, secrets).send(code_message())

    [mail] = smtp_auth_server.received
    assert mail.code == CODE


def test_auth_required_but_no_username_configured(
    smtp_auth_server: SmtpServer, tmp_path: Path
) -> None:
    delivery = smtp(smtp_auth_server.settings("starttls"), smtp_auth_server, tmp_path)
    error = send_error(delivery)
    assert error.startswith("The mail server 127.0.0.1 requires a login (530")
    assert smtp_auth_server.received == []


def test_wrong_password_is_reported_as_such(smtp_auth_server: SmtpServer, tmp_path: Path) -> None:
    secrets = MemoryStore()
    secrets.set(smtp_key(LOOPBACK, smtp_auth_server.username), "not the password")
    settings = smtp_auth_server.settings("starttls", username=smtp_auth_server.username)
    error = send_error(smtp(settings, smtp_auth_server, tmp_path, secrets))
    assert "refused the username or password for 'mailer'" in error
    assert "not the password" not in error
    assert smtp_auth_server.received == []


def test_missing_password_in_the_keyring(smtp_auth_server: SmtpServer, tmp_path: Path) -> None:
    settings = smtp_auth_server.settings("starttls", username="mailer")
    error = send_error(smtp(settings, smtp_auth_server, tmp_path))
    assert "No password for the mail account 'mailer' on 127.0.0.1" in error
    assert "keyring" in error


def test_recipient_refused(smtp_starttls_server: SmtpServer, tmp_path: Path) -> None:
    smtp_starttls_server.refused_recipients.add("anna.peeters@workshop.example")
    delivery = smtp(smtp_starttls_server.settings("starttls"), smtp_starttls_server, tmp_path)
    error = send_error(delivery)
    assert "refused the recipient anna.peeters@workshop.example" in error
    assert "550" in error


def test_server_quoting_the_code_in_its_refusal_does_not_leak_it(
    smtp_starttls_server: SmtpServer, tmp_path: Path
) -> None:
    smtp_starttls_server.reject_data_quoting_code = True
    delivery = smtp(smtp_starttls_server.settings("starttls"), smtp_starttls_server, tmp_path)
    error = send_error(delivery)  # asserts the code is not in the message
    assert "The mail server refused the message (554" in error
    assert "******" in error


def test_person_without_email_gets_a_clear_message(
    smtp_plain_server: SmtpServer, tmp_path: Path
) -> None:
    delivery = smtp(smtp_plain_server.settings("none"), smtp_plain_server, tmp_path)
    for email in ("", "not an address"):
        message = code_message(email=email)
        assert delivery.destination(message) is None
        assert "Anna Peeters has no usable e-mail address" in send_error(delivery, message)
    assert smtp_plain_server.received == []


@pytest.mark.parametrize("host", ["smtp.example.com", "192.0.2.10", "10.0.0.5"])
def test_plaintext_to_a_remote_host_is_refused(host: str, tmp_path: Path) -> None:
    settings = DeliverySettings(
        method="smtp", smtp_host=host, smtp_port=25, smtp_security="none", smtp_from=SENDER
    )
    with pytest.raises(DeliveryError, match="Unencrypted SMTP is allowed only"):
        delivery_for(settings, MemoryStore(), tmp_path)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.1.1", "::1", "[::1]"])
def test_plaintext_to_this_computer_is_allowed(host: str, tmp_path: Path) -> None:
    settings = DeliverySettings(
        method="smtp", smtp_host=host, smtp_port=25, smtp_security="none", smtp_from=SENDER
    )
    delivery = delivery_for(settings, MemoryStore(), tmp_path)
    assert delivery.encrypted is False


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"smtp_host": ""}, "Enter the mail server"),
        ({"smtp_from": ""}, "Enter the From address"),
        ({"smtp_from": "not-an-address"}, "From address:"),
        ({"smtp_port": 0}, "port must be between 1 and 65535"),
        ({"smtp_security": "ssl"}, "STARTTLS, TLS or none"),
    ],
)
def test_incomplete_settings_are_refused(
    changes: dict[str, object], expected: str, tmp_path: Path
) -> None:
    settings = DeliverySettings(
        method="smtp", smtp_host="smtp.example.com", smtp_port=587, smtp_from=SENDER
    )
    with pytest.raises(DeliveryError, match=expected):
        delivery_for(replace(settings, **changes), MemoryStore(), tmp_path)  # type: ignore[arg-type]
