"""From delivery settings to the Delivery that sends codes.

The caller reads the settings (``pmdesk.core.security``) and passes them in: this module does
not read the database. ``delivery_for`` builds every method; ``secret_key`` and
``secret_label`` say which keyring entry a method needs and what to call it.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

from pmdesk.core.delivery.base import (
    METHODS,
    MICROSOFT_METHODS,
    PUBLIC_ENDPOINTS,
    SMS_ACCOUNT_METHODS,
    SMS_PROVIDER_METHODS,
    SMTP_METHODS,
    Delivery,
    DeliveryError,
    DeliverySettings,
    Endpoints,
    StoredSecret,
    read_secret,
)
from pmdesk.core.delivery.graph import GraphDelivery
from pmdesk.core.delivery.oauth import (
    GRAPH_SCOPE,
    SMTP_SCOPE,
    TOKENS,
    GoogleTokens,
    MicrosoftApp,
    MicrosoftTokens,
    TokenCache,
    TokenSource,
)
from pmdesk.core.delivery.outbox import OutboxDelivery
from pmdesk.core.delivery.sms import DEFAULT_TIMEOUT, SmsDelivery, check_sms_url
from pmdesk.core.delivery.sms_providers import CmSms, ProviderSms, TwilioSms, VonageSms
from pmdesk.core.delivery.smtp import SmtpDelivery, check_smtp_settings, mailbox_of
from pmdesk.core.errors import message_of
from pmdesk.core.i18n import translate
from pmdesk.secrets import (
    SecretStore,
    google_key,
    m365_key,
    sms_key,
    sms_provider_key,
    smtp_key,
)

# The SMTP servers of the OAuth methods when the settings name none.
PROVIDER_SMTP: dict[str, tuple[str, str]] = {
    "m365": ("smtp.office365.com", "Microsoft 365"),
    "google": ("smtp.gmail.com", "Google Workspace"),
}
# The text-message providers' classes.
PROVIDER_SMS: dict[str, type[ProviderSms]] = {"twilio": TwilioSms, "vonage": VonageSms, "cm": CmSms}


def smtp_host(settings: DeliverySettings) -> str:
    """The SMTP server: the one set, or the provider's for m365 and google."""
    host = settings.smtp_host.strip()
    if not host and settings.method in PROVIDER_SMTP:
        return PROVIDER_SMTP[settings.method][0]
    return host


def check_settings(settings: DeliverySettings) -> None:
    """Raise DeliveryError (step "settings", a sentence for the user) when these settings
    cannot work. Secrets are not checked here: they live in each workstation's keyring.
    (``pmdesk.core.security.validate_delivery`` checks every field and names it.)"""
    try:
        _check(settings)
    except DeliveryError as exc:
        raise DeliveryError(message_of(exc), step="settings") from None


def _check(settings: DeliverySettings) -> None:
    method = settings.method
    if method not in METHODS:
        raise DeliveryError(
            translate("delivery", "Unknown delivery method '{method}'.").format(method=method)
        )
    if method in SMTP_METHODS:
        check_smtp_settings(
            smtp_host(settings), settings.smtp_port, settings.smtp_security, settings.smtp_from
        )
    if method in MICROSOFT_METHODS:
        if not settings.m365_tenant_id.strip():
            raise DeliveryError(translate("delivery", "Enter the Microsoft Entra tenant ID."))
        if not settings.m365_client_id.strip():
            raise DeliveryError(translate("delivery", "Enter the app's client ID."))
        if settings.m365_auth == "certificate" and not settings.m365_thumbprint.strip():
            raise DeliveryError(translate("delivery", "Enter the certificate's thumbprint."))
    if method == "graph" and not settings.smtp_from.strip():
        raise DeliveryError(
            translate("delivery", "Enter the From address (the mailbox that sends the codes).")
        )
    if method == "google" and not settings.google_client_email.strip():
        raise DeliveryError(translate("delivery", "Store the service account's JSON key first."))
    if method == "sms":
        check_sms_url(settings.sms_url)
    if method in SMS_ACCOUNT_METHODS and not settings.sms_account.strip():
        raise DeliveryError(
            translate("delivery", "Enter the Account SID.")
            if method == "twilio"
            else translate("delivery", "Enter the API key.")
        )
    if method in SMS_PROVIDER_METHODS and not settings.sms_sender.strip():
        raise DeliveryError(
            translate("delivery", "Enter the sender of text messages (a number or a sender name).")
        )


def secret_key(settings: DeliverySettings) -> str | None:
    """The keyring entry holding the secret this method needs, or None (outbox, SMTP without
    a login, incomplete settings)."""
    d = settings
    if d.method == "smtp" and d.smtp_username.strip():
        return smtp_key(d.smtp_host.strip(), d.smtp_username.strip())
    if d.method in MICROSOFT_METHODS and d.m365_tenant_id.strip() and d.m365_client_id.strip():
        return m365_key(d.m365_tenant_id.strip(), d.m365_client_id.strip(), d.m365_auth)
    if d.method == "google" and d.google_client_email.strip():
        return google_key(d.google_client_email.strip())
    if d.method == "sms" and d.sms_url.strip():
        return sms_key(d.sms_url.strip())
    if d.method in SMS_ACCOUNT_METHODS and d.sms_account.strip():
        return sms_provider_key(d.method, d.sms_account.strip())
    if d.method == "cm":
        return sms_provider_key("cm", "")
    return None


_SECRET_LABELS = {
    "smtp": "password",
    "sms": "gateway token",
    "google": "service account JSON key",
    "twilio": "Auth Token",
    "vonage": "API secret",
    "cm": "product token",
}


def secret_label(settings: DeliverySettings) -> str:
    """What the secret is called: 'client secret', 'Auth Token', …"""
    if settings.method in MICROSOFT_METHODS:
        return (
            "certificate private key (PEM)"
            if settings.m365_auth == "certificate"
            else ("client secret")
        )
    return _SECRET_LABELS.get(settings.method, "secret")


def _secret_in_messages(settings: DeliverySettings) -> str:
    """The secret as a failed send names it: ``secret_label`` with what it belongs to
    ("password for the mail account 'mailer' on mail.example", "Twilio Auth Token"). For
    settings ``check_settings`` accepted."""
    d = settings
    label = secret_label(d)
    if d.method == "smtp":
        return f"{label} for the mail account '{d.smtp_username.strip()}' on {d.smtp_host.strip()}"
    if d.method == "sms":
        parts = check_sms_url(d.sms_url)
        return f"token for the SMS gateway {parts.scheme}://{parts.netloc}"
    if d.method in PROVIDER_SMS:
        return f"{PROVIDER_SMS[d.method].provider} {label}"
    return label


def outbox_folder(settings: DeliverySettings, outbox_default: Path) -> Path:
    folder = settings.outbox_folder.strip()
    return Path(folder).expanduser() if folder else outbox_default


def delivery_for(
    settings: DeliverySettings,
    secrets: SecretStore,
    outbox_default: Path,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    endpoints: Endpoints = PUBLIC_ENDPOINTS,
    tokens: TokenCache = TOKENS,
) -> Delivery:
    """The Delivery these settings describe, or DeliveryError when they cannot work.

    ``ssl_context`` is for tests that trust their own certificate authority; production
    passes None and every connection uses ``ssl.create_default_context()`` (the system's
    trusted authorities, hostname checks on). ``endpoints`` (the providers' addresses) and
    ``tokens`` (the in-memory token cache) are for tests too.

    Secrets are read from ``secrets`` only when sending, so building a Delivery for its label
    needs none.
    """
    check_settings(settings)
    d = settings
    key = secret_key(d)
    label = _secret_in_messages(d)
    lazy_tokens = _LazyTokens(
        lambda: _token_source(d, secrets, endpoints, tokens, ssl_context, timeout)
    )
    if d.method in SMTP_METHODS:
        oauth = d.method in PROVIDER_SMTP
        return SmtpDelivery(
            host=smtp_host(d),
            port=d.smtp_port,
            security=d.smtp_security,
            sender=d.smtp_from,
            username="" if oauth else d.smtp_username,
            password=None if oauth or key is None else StoredSecret(secrets, key, label, d.method),
            ssl_context=ssl_context,
            timeout=timeout,
            oauth=lazy_tokens if oauth else None,
            provider=PROVIDER_SMTP[d.method][1] if oauth else "",
        )
    if d.method == "graph":
        return GraphDelivery(
            sender=d.smtp_from,
            tokens=lazy_tokens,
            graph_url=endpoints.graph,
            ssl_context=ssl_context,
            timeout=timeout,
        )
    if d.method == "sms" or d.method in PROVIDER_SMS:
        assert key is not None  # check_settings made sure
        secret = StoredSecret(secrets, key, label, d.method, one_line=True)
        if d.method == "sms":
            return SmsDelivery(
                url=d.sms_url,
                token=secret,
                ssl_context=ssl_context,
                timeout=timeout,
                region=d.phone_region,
            )
        url = {"twilio": endpoints.twilio, "vonage": endpoints.vonage, "cm": endpoints.cm}
        return PROVIDER_SMS[d.method](
            secret=secret,
            sender=d.sms_sender,
            account=d.sms_account,
            api_url=url[d.method],
            region=d.phone_region,
            ssl_context=ssl_context,
            timeout=timeout,
        )
    return OutboxDelivery(outbox_folder(d, outbox_default), sender=d.smtp_from)


class _LazyTokens:
    """A token source made on first use, so that a Delivery built for its label reads no
    secret."""

    def __init__(self, make: Callable[[], TokenSource]) -> None:
        self._make = make
        self._source: TokenSource | None = None

    def _get(self) -> TokenSource:
        if self._source is None:
            self._source = self._make()
        return self._source

    def token(self) -> str:
        return self._get().token()

    def forget(self) -> None:
        if self._source is not None:
            self._source.forget()


def _token_source(
    d: DeliverySettings,
    secrets: SecretStore,
    endpoints: Endpoints,
    tokens: TokenCache,
    ssl_context: ssl.SSLContext | None,
    timeout: float,
) -> MicrosoftTokens | GoogleTokens:
    key = secret_key(d)
    assert key is not None  # check_settings made sure
    secret = read_secret(secrets, key, secret_label(d), d.method)
    if d.method == "google":
        return GoogleTokens(
            secret,
            subject=mailbox_of(d.smtp_from),
            token_uri=endpoints.google_token,
            ssl_context=ssl_context,
            timeout=timeout,
            cache=tokens,
        )
    app = MicrosoftApp(
        tenant_id=d.m365_tenant_id.strip(),
        client_id=d.m365_client_id.strip(),
        credential=secret,
        thumbprint=d.m365_thumbprint.strip() if d.m365_auth == "certificate" else "",
    )
    return MicrosoftTokens(
        app,
        GRAPH_SCOPE if d.method == "graph" else SMTP_SCOPE,
        authority_host=endpoints.microsoft_authority,
        ssl_context=ssl_context,
        timeout=timeout,
        cache=tokens,
    )
