"""The one small interface every delivery method implements, and the settings that pick one.

Methods (``DeliverySettings.method``, the ``security_settings.delivery_method`` column):

- ``outbox``: .eml files in a folder, for trying pmdesk out (nothing is sent);
- ``smtp``: e-mail over SMTP with a user name and password (or none, to a local relay);
- ``m365``: e-mail over SMTP to Microsoft 365, signed in with OAuth 2.0 (SASL XOAUTH2), the
  token from Microsoft Entra ID's client-credentials flow (client secret or certificate);
- ``google``: e-mail over SMTP to Google Workspace with XOAUTH2, the token from a service
  account with domain-wide delegation that acts as the From mailbox;
- ``graph``: e-mail through Microsoft Graph ``sendMail`` (no SMTP at all), same Entra app;
- ``sms``: a text message through pmdesk's own JSON gateway (``{"to", "message"}``, bearer);
- ``twilio``, ``vonage``, ``cm``: a text message through that provider's documented API.

Every failure is a ``DeliveryError`` whose text is one sentence for the user and whose
``step`` says where it failed: ``settings`` (incomplete settings, a secret missing from the
keyring), ``token`` (getting an OAuth token), ``connect``, ``authenticate`` or ``send``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from pmdesk.core.errors import PmdeskError, message_of
from pmdesk.core.i18n import ENGLISH, translate
from pmdesk.secrets import SecretStore, SecretStoreError

Method = Literal["outbox", "smtp", "m365", "google", "graph", "sms", "twilio", "vonage", "cm"]
METHODS: tuple[Method, ...] = (
    "outbox",
    "smtp",
    "m365",
    "google",
    "graph",
    "sms",
    "twilio",
    "vonage",
    "cm",
)
# The methods that send a text message (to a phone number) rather than an e-mail.
SMS_METHODS: frozenset[str] = frozenset({"sms", "twilio", "vonage", "cm"})
# The text-message providers with a documented API of their own (not pmdesk's gateway) …
SMS_PROVIDER_METHODS: frozenset[str] = frozenset({"twilio", "vonage", "cm"})
# … and those of them that need an account (Account SID, API key) besides the secret.
SMS_ACCOUNT_METHODS: frozenset[str] = frozenset({"twilio", "vonage"})
# The methods that send e-mail over SMTP (plain login or XOAUTH2).
SMTP_METHODS: frozenset[str] = frozenset({"smtp", "m365", "google"})
# The methods that send e-mail from a mailbox of their own (the From address).
MAIL_METHODS: frozenset[str] = frozenset({"smtp", "m365", "google", "graph"})
# The e-mail methods that sign in with an OAuth 2.0 token.
OAUTH_METHODS: frozenset[str] = frozenset({"m365", "google", "graph"})
# The methods whose token comes from a Microsoft Entra app registration.
MICROSOFT_METHODS: frozenset[str] = frozenset({"m365", "graph"})
SmtpSecurity = Literal["starttls", "tls", "none"]
MicrosoftAuth = Literal["secret", "certificate"]
Step = Literal["settings", "token", "connect", "authenticate", "send"]
STEPS: tuple[Step, ...] = ("settings", "token", "connect", "authenticate", "send")
#: Not a delivery step: a message with nowhere to go (no valid number for the office's region),
#: which the relay finds before sending and which says nothing about the method's health.
NO_DESTINATION = "destination"
# Where phone numbers written without a country code are taken to be (ISO 3166-1 alpha-2).
DEFAULT_PHONE_REGION = "BE"


def is_sms(method: str) -> bool:
    """True when ``method`` sends codes by text message (to a phone number)."""
    return method in SMS_METHODS


@dataclass(frozen=True)
class DeliverySettings:
    """How codes are delivered: a copy of the security settings row, field for column, with
    no secret in it (those are in each workstation's keyring). Fields a method does not use
    are kept, so switching back and forth loses nothing.
    """

    method: Method = "outbox"
    outbox_folder: str = ""
    # smtp, m365, google: the SMTP server (m365 and google default to their provider's).
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: SmtpSecurity = "starttls"
    smtp_username: str = ""
    # The From address; for m365, google and graph also the mailbox that sends.
    smtp_from: str = ""
    sms_url: str = ""
    # m365 and graph: the Entra app registration.
    m365_tenant_id: str = ""
    m365_client_id: str = ""
    m365_auth: MicrosoftAuth = "secret"
    m365_thumbprint: str = ""  # the certificate's SHA-1 thumbprint (hex), for "certificate"
    # google: the service account (its JSON key is in the keyring under this address).
    google_client_email: str = ""
    # twilio: the Account SID; vonage: the API key. cm needs none (its product token is secret).
    sms_account: str = ""
    # The sender of text messages: a number (+32…), an alphanumeric sender ID (up to 11
    # characters) or, for twilio, a Messaging Service SID (MG…).
    sms_sender: str = ""
    # Where numbers without a country code are taken to be, for every SMS method.
    phone_region: str = DEFAULT_PHONE_REGION


@dataclass(frozen=True)
class Endpoints:
    """The providers' public addresses. Tests point them at local stand-ins; they are not a
    user setting (a mistyped one would send secrets elsewhere)."""

    microsoft_authority: str = "https://login.microsoftonline.com"
    graph: str = "https://graph.microsoft.com"
    google_token: str = "https://oauth2.googleapis.com/token"
    twilio: str = "https://api.twilio.com"
    vonage: str = "https://rest.nexmo.com"
    cm: str = "https://gw.messaging.cm.com"


PUBLIC_ENDPOINTS = Endpoints()


@dataclass(frozen=True)
class TrustAlert:
    """What a trust alert says (``pmdesk.core.trust_alerts``): an address outside every office
    network was trusted for ``login``. ``trusted_at`` is naive UTC, as the database keeps it;
    ``reference`` the trusted address's row id, which the helpdesk looks up."""

    login: str
    address: str
    trusted_at: datetime
    workstation: str
    reference: int


#: Why a trust alert did not go out: codes go by text message (alerts by e-mail only) …
ALERT_BY_EMAIL_ONLY = (
    "Trust alerts are sent by e-mail only, and codes are delivered by text message here: "
    "no alert was sent."
)
#: … or there was nobody to send it to.
ALERT_NOBODY = "Nobody to alert: the person has no e-mail address and no helpdesk mailbox is set."


@dataclass(frozen=True)
class CodeMessage:
    """Everything a security-code message says. Never logged: it holds the code.

    With ``alert`` set it is a trust alert instead (no code; ``email`` is the recipient, the
    person or the helpdesk mailbox), sent by the e-mail methods and the outbox only."""

    person_name: str
    email: str
    phone: str
    code: str
    valid_minutes: int
    requested_from: str | None
    workstation: str
    test: bool = False
    alert: TrustAlert | None = None
    #: The recipient's language (docs/i18n.md): the person's Personnel language, else the
    #: workstation's; the words of the message follow it (``pmdesk.core.delivery.message``).
    language: str = ENGLISH


class DeliveryError(PmdeskError):
    """The code could not be delivered; the message says why, without secrets.

    ``step`` is where it failed (see ``STEPS``), or None when that is not known.
    """

    def __init__(self, message: str, *, step: Step | None = None) -> None:
        super().__init__(message)
        self.step: Step | None = step


STEP_NAMES: dict[str, str] = {
    "settings": translate("delivery", "settings"),
    "token": translate("delivery", "getting a token"),
    "connect": translate("delivery", "connecting"),
    "authenticate": translate("delivery", "signing in"),
    "send": translate("delivery", "sending"),
}


def failure_text(error: DeliveryError) -> str:
    """The error with the step that failed in front: 'Failed at: signing in. The mail …'."""
    said = message_of(error)
    if error.step is None:
        return said
    return translate("delivery", "Failed at: {step} ({key}). {error}").format(
        step=STEP_NAMES[error.step], key=error.step, error=said
    )


class Delivery(Protocol):
    @property
    def label(self) -> str:
        """Where codes go, for the Security screen: 'E-mail via smtp.example.com (STARTTLS)'."""
        ...

    @property
    def encrypted(self) -> bool | None:
        """Whether the link to the mail/SMS server is encrypted (None: no network involved)."""
        ...

    def destination(self, message: CodeMessage) -> str | None:
        """The address or number this message will go to, or None when this person has none."""
        ...

    def send(self, message: CodeMessage) -> None:
        """Deliver the message or raise DeliveryError. Blocking: never call on the GUI thread."""
        ...


def is_loopback_host(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1): no network is crossed.

    Names are not resolved: a DNS answer could point anywhere.
    """
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def without_code(text: str, message: CodeMessage) -> str:
    """``text`` with the code blanked out, for error messages built from a server's answer."""
    return text.replace(message.code, "******") if message.code else text


@runtime_checkable
class NamesMissingSecrets(Protocol):
    """A secret store that words a missing secret itself (the relay's: it has no System →
    Security to point to)."""

    def missing(self, key: str, label: str, method: str) -> str: ...


def read_secret(
    secrets: SecretStore, key: str, label: str, method: str, *, one_line: bool = False
) -> str:
    """The secret stored under ``key``, or DeliveryError (step "settings") naming it by
    ``label`` ("Twilio Auth Token", "client secret") and saying how to store it for ``method``.
    ``one_line``: a secret that goes into an HTTP header or form may not hold a line break."""
    try:
        value = secrets.get(key)
    except SecretStoreError as exc:
        raise DeliveryError(f"The {label} cannot be read: {exc}", step="settings") from None
    if not value:
        raise DeliveryError(missing_secret(secrets, key, label, method), step="settings")
    if one_line and any(ch in value for ch in "\r\n"):
        raise DeliveryError(f"The {label} in the keyring contains a line break.", step="settings")
    return value


@dataclass(frozen=True)
class StoredSecret:
    """One keyring entry a Delivery needs, read only when a message is sent."""

    secrets: SecretStore
    key: str
    label: str  # how messages name it: "Twilio Auth Token", "client secret"
    method: str
    one_line: bool = False

    def read(self) -> str:
        return read_secret(self.secrets, self.key, self.label, self.method, one_line=self.one_line)


def missing_secret(secrets: SecretStore, key: str, label: str, method: str) -> str:
    """The sentence for a secret that is not stored."""
    if isinstance(secrets, NamesMissingSecrets):
        return secrets.missing(key, label, method)
    return (
        f"No {label} is stored in this computer's keyring. Enter it in System → Security, "
        f"or run: pmdesk mail configure --method {method} ..."
    )


def redo(error: DeliveryError, text: str) -> DeliveryError:
    """A copy of ``error`` with another text and the same step."""
    return DeliveryError(text, step=error.step)
