"""E-mail through Microsoft 365 and Google Workspace with OAuth 2.0 (SASL XOAUTH2): the real
MSAL and google-auth against local token endpoints, and an aiosmtpd server that checks the
token it is given."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from pmdesk.core.delivery.base import CodeMessage, DeliveryError, DeliverySettings, Endpoints
from pmdesk.core.delivery.factory import delivery_for, secret_key
from pmdesk.core.delivery.oauth import GOOGLE_SCOPE, SMTP_SCOPE, TokenCache
from pmdesk.core.delivery.smtp import SmtpDelivery
from pmdesk.secrets import MemoryStore, google_key
from tests.helpers.messages import make_message
from tests.helpers.providers import (
    CLIENT_ID,
    CLIENT_SECRET,
    GOOGLE_TOKEN_AUDIENCE,
    MAILBOX,
    SERVICE_ACCOUNT,
    TENANT,
    Entra,
    GoogleTokenService,
    KeyPair,
    XoauthServer,
    endpoints_for,
    m365_settings,
    make_key_pair,
    service_account_json,
)

CODE = "736204"


def code_message(**changes: object) -> CodeMessage:
    return make_message(CODE, **changes)


def m365(
    server: XoauthServer,
    entra: Entra,
    cache: TokenCache,
    *,
    secret: str | None = CLIENT_SECRET,
    trusting: bool = True,  # False: the system's trusted authorities, which lack the test CA
    endpoints: Endpoints | None = None,
    **changes: object,
) -> SmtpDelivery:
    settings = m365_settings(server, **changes)
    secrets = MemoryStore()
    if secret is not None:
        key = secret_key(settings)
        assert key is not None
        secrets.set(key, secret)
    delivery = delivery_for(
        settings,
        secrets,
        Path("unused"),
        ssl_context=server.smtp.client_context if trusting else None,
        timeout=5,
        endpoints=endpoints or endpoints_for(entra=entra),
        tokens=cache,
    )
    assert isinstance(delivery, SmtpDelivery)
    return delivery


def failure(delivery: SmtpDelivery) -> DeliveryError:
    with pytest.raises(DeliveryError) as info:
        delivery.send(code_message())
    text = str(info.value)
    assert CODE not in text
    assert "\n" not in text
    assert CLIENT_SECRET not in text
    return info.value


# ----- Microsoft 365 ---------------------------------------------------------------------------


def test_m365_client_secret_signs_in_with_xoauth2_and_sends(
    m365_smtp: XoauthServer, entra: Entra, token_cache: TokenCache
) -> None:
    delivery = m365(m365_smtp, entra, token_cache)
    assert delivery.label == (
        f"E-mail via Microsoft 365 (127.0.0.1:{m365_smtp.smtp.port} (STARTTLS), OAuth as {MAILBOX})"
    )
    delivery.send(code_message())

    [form] = entra.token_requests
    assert form["client_id"] == CLIENT_ID
    assert form["client_secret"] == CLIENT_SECRET
    assert form["scope"] == SMTP_SCOPE
    [(user, token)] = m365_smtp.attempts
    assert user == MAILBOX
    assert entra.issued[token] == SMTP_SCOPE
    [mail] = m365_smtp.smtp.received
    assert mail.secure
    assert mail.mail_from == MAILBOX
    assert mail.code == CODE


def test_m365_certificate_signs_a_client_assertion(
    m365_smtp: XoauthServer, entra: Entra, token_cache: TokenCache, app_certificate: KeyPair
) -> None:
    delivery = m365(
        m365_smtp,
        entra,
        token_cache,
        secret=app_certificate.private_pem,
        m365_auth="certificate",
        m365_thumbprint=app_certificate.thumbprint,
    )
    delivery.send(code_message())
    [form] = entra.token_requests
    assert "client_secret" not in form
    assert form["client_assertion_type"].endswith(":jwt-bearer")
    assert len(m365_smtp.smtp.received) == 1


def test_certificate_of_another_app_is_refused(
    m365_smtp: XoauthServer, entra: Entra, token_cache: TokenCache, app_certificate: KeyPair
) -> None:
    other = make_key_pair("not the uploaded certificate")
    error = failure(
        m365(
            m365_smtp,
            entra,
            token_cache,
            secret=other.private_pem,
            m365_auth="certificate",
            m365_thumbprint=app_certificate.thumbprint,
        )
    )
    assert error.step == "token"
    assert str(error).startswith("The certificate was refused")
    assert "(AADSTS700027)" in str(error)
    assert other.private_pem.splitlines()[1] not in str(error)


def test_token_is_cached_and_asked_for_again_before_it_expires(
    m365_smtp: XoauthServer, entra: Entra
) -> None:
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    entra.expires_in = 3599
    delivery = m365(m365_smtp, entra, cache)
    delivery.send(code_message())
    now[0] += 3599 - 301  # more than five minutes left: the same token
    delivery.send(code_message())
    assert len(entra.token_requests) == 1
    now[0] += 2  # under five minutes left: a new one
    delivery.send(code_message())
    assert len(entra.token_requests) == 2
    tokens = [token for _, token in m365_smtp.attempts]
    assert tokens[0] == tokens[1] != tokens[2]


def test_a_changed_secret_is_never_served_the_old_token(
    m365_smtp: XoauthServer, entra: Entra, token_cache: TokenCache
) -> None:
    m365(m365_smtp, entra, token_cache).send(code_message())
    error = failure(m365(m365_smtp, entra, token_cache, secret="a wrong new secret"))
    assert error.step == "token"
    assert len(entra.token_requests) == 2


@pytest.mark.parametrize(
    ("changes", "secret", "expected"),
    [
        (
            {"m365_tenant_id": "0b0b0b0b-1111-2222-3333-444444444444"},
            CLIENT_SECRET,
            "The tenant ID is wrong: Microsoft Entra ID does not know the tenant "
            "'0b0b0b0b-1111-2222-3333-444444444444' (AADSTS90002).",
        ),
        (
            {"m365_client_id": "99999999-8888-7777-6666-555555555555"},
            CLIENT_SECRET,
            "The client ID is wrong: no app with the ID '99999999-8888-7777-6666-555555555555' "
            f"is registered in the tenant '{TENANT}' (AADSTS700016).",
        ),
        (
            {},
            "the secret's ID, not its value",
            "The client secret is wrong: copy the secret's Value (not its Secret ID) again "
            "(AADSTS7000215).",
        ),
    ],
)
def test_entra_refusals_are_one_clear_sentence(
    m365_smtp: XoauthServer,
    entra: Entra,
    token_cache: TokenCache,
    changes: dict[str, object],
    secret: str,
    expected: str,
) -> None:
    error = failure(m365(m365_smtp, entra, token_cache, secret=secret, **changes))
    assert error.step == "token"
    assert str(error) == expected
    assert m365_smtp.attempts == []


def test_missing_admin_consent(
    m365_smtp: XoauthServer, entra: Entra, token_cache: TokenCache
) -> None:
    entra.consented = False
    error = failure(m365(m365_smtp, entra, token_cache))
    assert error.step == "token"
    assert str(error).startswith("The app has no admin consent")
    assert str(error).endswith("(AADSTS65001).")


def test_smtp_auth_switched_off_for_the_mailbox(
    m365_smtp: XoauthServer, entra: Entra, token_cache: TokenCache
) -> None:
    m365_smtp.smtp_auth_enabled = False
    error = failure(m365(m365_smtp, entra, token_cache))
    assert error.step == "authenticate"
    text = str(error)
    assert text.startswith(f"SMTP AUTH is switched off for the mailbox {MAILBOX}")
    assert "Set-CASMailbox -SmtpClientAuthenticationDisabled $false" in text
    assert "Microsoft Graph" in text
    assert "5.7.139" in text
    assert m365_smtp.smtp.received == []


def test_token_refused_by_exchange(
    m365_smtp: XoauthServer, entra: Entra, token_cache: TokenCache
) -> None:
    """A token Exchange does not accept (e.g. no service principal in Exchange): 535 5.7.3;
    the token is forgotten so the next try asks for a new one."""
    m365_smtp.check = lambda token, user: False
    delivery = m365(m365_smtp, entra, token_cache)
    error = failure(delivery)
    assert error.step == "authenticate"
    text = str(error)
    assert text.startswith(f"Microsoft 365 refused the token for {MAILBOX}")
    assert "New-ServicePrincipal" in text and "Add-MailboxPermission" in text
    assert "SMTP.SendAsApp" in text
    assert "535 5.7.3 Authentication unsuccessful" in text
    failure(delivery)
    assert len(entra.token_requests) == 2


def test_missing_secret_in_the_keyring(
    m365_smtp: XoauthServer, entra: Entra, token_cache: TokenCache
) -> None:
    error = failure(m365(m365_smtp, entra, token_cache, secret=None))
    assert error.step == "settings"
    assert str(error).startswith("No client secret is stored in this computer's keyring")
    assert entra.token_requests == []


def test_token_endpoint_with_an_untrusted_certificate(
    m365_smtp: XoauthServer, entra: Entra, token_cache: TokenCache
) -> None:
    """MSAL's HTTPS checks certificates with the same context as every other connection."""
    error = failure(m365(m365_smtp, entra, token_cache, trusting=False))
    assert error.step == "token"
    assert str(error).startswith("The certificate of Microsoft Entra ID 127.0.0.1 is not trusted")
    assert entra.stand_in.requests == []


def test_token_endpoint_not_listening(
    m365_smtp: XoauthServer, closed_port: int, token_cache: TokenCache, entra: Entra
) -> None:
    endpoints = replace(
        endpoints_for(entra=entra), microsoft_authority=f"https://127.0.0.1:{closed_port}"
    )
    error = failure(m365(m365_smtp, entra, token_cache, endpoints=endpoints))
    assert error.step == "token"
    assert str(error) == (
        f"Could not connect to Microsoft Entra ID https://127.0.0.1:{closed_port}: connection "
        "refused. No token could be fetched."
    )


def test_default_server_is_exchange_online() -> None:
    settings = DeliverySettings(
        method="m365", smtp_from=MAILBOX, m365_tenant_id=TENANT, m365_client_id=CLIENT_ID
    )
    delivery = delivery_for(settings, MemoryStore(), Path("unused"))
    assert isinstance(delivery, SmtpDelivery)
    assert (delivery.host, delivery.port, delivery.security) == (
        "smtp.office365.com",
        587,
        "starttls",
    )


# ----- Google Workspace ------------------------------------------------------------------------


def google(
    server: XoauthServer,
    tokens: GoogleTokenService,
    cache: TokenCache,
    key_json: str,
    sender: str = MAILBOX,
) -> SmtpDelivery:
    settings = DeliverySettings(
        method="google",
        smtp_host=server.smtp.host,
        smtp_port=server.smtp.port,
        smtp_from=sender,
        google_client_email=SERVICE_ACCOUNT,
    )
    secrets = MemoryStore()
    secrets.set(google_key(SERVICE_ACCOUNT), key_json)
    delivery = delivery_for(
        settings,
        secrets,
        Path("unused"),
        ssl_context=server.smtp.client_context,
        timeout=5,
        endpoints=endpoints_for(google=tokens),
        tokens=cache,
    )
    assert isinstance(delivery, SmtpDelivery)
    return delivery


def test_google_service_account_acts_as_the_from_mailbox(
    gmail_smtp: XoauthServer,
    google_tokens: GoogleTokenService,
    token_cache: TokenCache,
    service_account_key: KeyPair,
) -> None:
    delivery = google(
        gmail_smtp, google_tokens, token_cache, service_account_json(service_account_key)
    )
    assert "Google Workspace" in delivery.label
    delivery.send(code_message())
    delivery.send(code_message())

    [claims] = google_tokens.assertions  # the second send used the cached token
    assert claims["iss"] == SERVICE_ACCOUNT
    assert claims["sub"] == MAILBOX
    assert claims["scope"] == GOOGLE_SCOPE
    assert claims["aud"] == GOOGLE_TOKEN_AUDIENCE
    assert [user for user, _ in gmail_smtp.attempts] == [MAILBOX, MAILBOX]
    assert len(gmail_smtp.smtp.received) == 2


def test_google_delegation_not_granted(
    gmail_smtp: XoauthServer,
    google_tokens: GoogleTokenService,
    token_cache: TokenCache,
    service_account_key: KeyPair,
) -> None:
    google_tokens.delegation = False
    delivery = google(
        gmail_smtp, google_tokens, token_cache, service_account_json(service_account_key)
    )
    error = failure(delivery)
    assert error.step == "token"
    text = str(error)
    assert text.startswith(
        f"Google refused the service account {SERVICE_ACCOUNT}: domain-wide delegation is not "
        "granted."
    )
    assert "https://mail.google.com/" in text
    assert text.endswith("(unauthorized_client).")
    assert gmail_smtp.attempts == []


def test_google_unknown_mailbox(
    gmail_smtp: XoauthServer,
    google_tokens: GoogleTokenService,
    token_cache: TokenCache,
    service_account_key: KeyPair,
) -> None:
    delivery = google(
        gmail_smtp,
        google_tokens,
        token_cache,
        service_account_json(service_account_key),
        sender="nobody@workshop.example",
    )
    error = failure(delivery)
    assert error.step == "token"
    assert str(error).startswith("Google does not know the mailbox nobody@workshop.example")


def test_google_deleted_key(
    gmail_smtp: XoauthServer, google_tokens: GoogleTokenService, token_cache: TokenCache
) -> None:
    old_key = make_key_pair("a deleted key")
    error = failure(google(gmail_smtp, google_tokens, token_cache, service_account_json(old_key)))
    assert error.step == "token"
    assert "Invalid JWT Signature" in str(error)
    assert old_key.private_pem.splitlines()[1] not in str(error)


def test_google_refuses_the_token_on_smtp(
    gmail_smtp: XoauthServer,
    google_tokens: GoogleTokenService,
    token_cache: TokenCache,
    service_account_key: KeyPair,
) -> None:
    """Gmail answers a bad token with a 334 JSON report, then 535 5.7.8 once the client ends
    the exchange."""
    gmail_smtp.check = lambda token, user: False
    delivery = google(
        gmail_smtp, google_tokens, token_cache, service_account_json(service_account_key)
    )
    error = failure(delivery)
    assert error.step == "authenticate"
    assert str(error).startswith(f"Google refused the token for {MAILBOX}")
    assert "535 5.7.8" in str(error)


@pytest.mark.parametrize(
    ("key_json", "expected"),
    [
        ("not json", "is not a JSON key file"),
        ('{"type": "authorized_user"}', "is not a service account key"),
        ('{"type": "service_account", "client_email": "a@b.example"}', "has no private_key"),
    ],
)
def test_unusable_service_account_keys(
    gmail_smtp: XoauthServer,
    google_tokens: GoogleTokenService,
    token_cache: TokenCache,
    key_json: str,
    expected: str,
) -> None:
    error = failure(google(gmail_smtp, google_tokens, token_cache, key_json))
    assert error.step == "settings"
    assert expected in str(error)
    assert google_tokens.stand_in.requests == []


# ----- a key the libraries cannot use: its text never reaches a message ---------------------------

KEY_TEXT = "TOPSECRETKEYMATERIAL0123456789abcdef"


def test_an_unusable_service_account_key_is_named_not_quoted(
    gmail_smtp: XoauthServer, google_tokens: GoogleTokenService, token_cache: TokenCache
) -> None:
    key = {
        "type": "service_account",
        "client_email": SERVICE_ACCOUNT,
        "client_id": "1",
        "private_key": {"pem": KEY_TEXT},  # not text: google-auth quotes it in its error
        "token_uri": "https://oauth2.example/token",
    }
    from google.oauth2 import service_account

    with pytest.raises(ValueError) as library:
        service_account.Credentials.from_service_account_info(key, scopes=[GOOGLE_SCOPE])  # type: ignore[no-untyped-call]
    assert KEY_TEXT in str(library.value)  # what pmdesk must not pass on

    error = failure(google(gmail_smtp, google_tokens, token_cache, json.dumps(key)))
    assert error.step == "token"
    assert KEY_TEXT not in str(error)
    assert str(error) == (
        "The service account's JSON key cannot be used (InvalidValue in its private_key): "
        "store the key file again."
    )
    assert google_tokens.stand_in.requests == []


def test_an_unusable_certificate_key_is_named_not_quoted(
    m365_smtp: XoauthServer,
    entra: Entra,
    token_cache: TokenCache,
    app_certificate: KeyPair,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pem = f"-----BEGIN PRIVATE KEY-----\n{KEY_TEXT}\n-----END PRIVATE KEY-----\n"
    error = failure(
        m365(
            m365_smtp,
            entra,
            token_cache,
            secret=pem,
            m365_auth="certificate",
            m365_thumbprint=app_certificate.thumbprint,
        )
    )
    assert KEY_TEXT not in str(error) and KEY_TEXT not in caplog.text
    assert error.step == "token"
    assert str(error) == (
        "The certificate private key (PEM) cannot be used (InvalidKeyError): store the PEM "
        "private key (-----BEGIN PRIVATE KEY-----) again."
    )
    assert entra.token_requests == []
