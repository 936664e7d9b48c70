"""System → Security: two-step authentication on/off, its settings, and the connection status.

Every change is one transaction with its audit row, and is refused when the settings row changed
since the administrator read it (optimistic locking on ``security_settings.version``).
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from datetime import datetime
from email.utils import formataddr, getaddresses, parseaddr
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy import URL, select, text
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from pmdesk.core import audit, codes, lockout
from pmdesk.core.addresses import address_list_text, parse_address_list
from pmdesk.core.audit import Event
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.delivery import health
from pmdesk.core.delivery.base import (
    DEFAULT_PHONE_REGION,
    METHODS,
    MICROSOFT_METHODS,
    OAUTH_METHODS,
    PUBLIC_ENDPOINTS,
    SMS_PROVIDER_METHODS,
    SMTP_METHODS,
    CodeMessage,
    DeliveryError,
    DeliverySettings,
    Endpoints,
    is_sms,
)
from pmdesk.core.delivery.factory import delivery_for, smtp_host
from pmdesk.core.delivery.health import DeliveryHealth
from pmdesk.core.delivery.oauth import TOKENS, TokenCache
from pmdesk.core.delivery.outbox import OutboxDelivery, folder_problem
from pmdesk.core.delivery.sms import DEFAULT_TIMEOUT
from pmdesk.core.delivery.sms_providers import (
    ALPHANUMERIC_SENDER_RE,
    TWILIO_SERVICE_RE,
    TWILIO_SID_RE,
)
from pmdesk.core.errors import ConflictError, PmdeskError, ValidationError, message_of
from pmdesk.core.i18n import translate
from pmdesk.core.models import Person, SecuritySettings
from pmdesk.core.modules import SYSTEM_SECURITY, Action
from pmdesk.core.office_networks import POLICY_CHOICES, TRUST_POLICIES, TrustImpact, impact
from pmdesk.core.permissions import require
from pmdesk.core.reads_along import read_along
from pmdesk.core.server import relay_status
from pmdesk.core.server.relay_status import RelayReport
from pmdesk.core.server.roles import SCHEMA
from pmdesk.core.settings_row import SETTINGS_ID, read_with_right, settings_row
from pmdesk.core.validation import (
    FieldInvalid,
    clean_email,
    clean_phone,
    clean_text,
    first_valid_phone,
)
from pmdesk.secrets import MemoryStore

TRUST_DAYS_RANGE = (1, 90)
DEFAULT_TRUST_DAYS = 30  # without a settings row (a database not set up yet)
CODE_TTL_MINUTES_RANGE = (1, 10)
# How long a command-line session lasts: at least an hour, at most a week.
SESSION_HOURS_RANGE = (1, 168)
SMTP_SECURITY = ("starttls", "tls", "none")
MICROSOFT_AUTH = ("secret", "certificate")
_GUID_RE = re.compile(r"\A[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\Z")
_THUMBPRINT_RE = re.compile(r"\A[0-9A-F]{40}\Z")
_VONAGE_KEY_RE = re.compile(r"\A[0-9A-Za-z]{6,32}\Z")
_HOST_RE = re.compile(
    r"\A(?=.{1,253}\Z)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?\Z"
)


@dataclass(frozen=True)
class SecuritySettingsView:
    two_factor_enabled: bool
    trust_days: int
    code_ttl_minutes: int
    delivery: DeliverySettings
    version: int
    updated_at: datetime | None
    # Proxy or pooler addresses and networks never trusted ("10.0.0.5, 10.1.0.0/24").
    never_trusted_addresses: str = ""
    # How long a command-line session lasts (pmdesk login).
    session_hours: int = 8
    # Where an address may be trusted (office_networks.TRUST_POLICIES).
    trust_policy: str = "anywhere"
    # The lockout (lockout.py): failures from one address before a lock there, and how long
    # the first and the longest lock last.
    lock_after_failures: int = lockout.MAX_FAILURES
    first_lock_minutes: int = 1
    max_lock_minutes: int = 15
    # Who besides the person receives a trust alert (trust_alerts.py); empty: nobody.
    helpdesk_mailbox: str = ""


@dataclass(frozen=True)
class ShutOutPerson:
    """Someone who can sign in today but could not receive a code with 2FA on."""

    person_id: int
    login: str
    name: str
    reason: str


# How a link is protected, for the Security screen's status lines:
#   "none"       no link at all: nothing leaves this computer (embedded SQLite, outbox folder);
#   "encrypted"  TLS (STARTTLS, TLS, HTTPS, the database's SSL);
#   "local"      not encrypted, but only to a server on this computer (loopback, local socket):
#                nothing crosses the network, so nothing is wrong;
#   "exposed"    not encrypted across the network: the only state that is a problem.
Link = Literal["none", "encrypted", "local", "exposed"]


@dataclass(frozen=True)
class ConnectionStatus:
    database_encrypted: bool | None  # None: embedded SQLite, no network link
    mail_encrypted: bool | None  # None: the outbox folder, no network link
    mail_label: str
    workstation_address: str | None
    database_link: Link = "none"
    mail_link: Link = "none"
    # On a hardened database (level 3) codes are sent by the relay, not by this workstation.
    relay: RelayReport | None = None


@dataclass(frozen=True)
class DeliveryHealthReport:
    """What the Security screen and ``pmdesk mail status`` show about recent deliveries."""

    method: str  # the configured method
    outcomes: list[DeliveryHealth]  # every method that has sent, newest first
    trouble: DeliveryHealth | None  # the configured method's, when its recent sends failed

    @property
    def warning(self) -> str | None:
        return health.warning(self.trouble) if self.trouble is not None else None


@dataclass(frozen=True)
class TestSent:
    """Where a test message went."""

    destination: str
    label: str
    file: Path | None = None  # the .eml written, for the outbox
    # On a hardened database: handed to the relay, which sends it and audits mail.test_sent.
    queued: bool = False


class ShutOutWarning(PmdeskError):
    """Turning 2FA on would shut these people out; confirm with ``accept_shut_out=True``."""

    def __init__(self, people: list[ShutOutPerson]) -> None:
        self.people = list(people)
        n = len(self.people)
        names = ", ".join(p.login for p in self.people[:5]) + (", …" if n > 5 else "")
        if n == 1:
            message = translate(
                "security",
                "1 person could not receive a security code and would be shut out ({names}). "
                "Give them a usable address first, or confirm to turn two-step authentication "
                "on anyway.",
            )
        else:
            message = translate(
                "security",
                "{count} people could not receive a security code and would be shut out "
                "({names}). Give them a usable address first, or confirm to turn two-step "
                "authentication on anyway.",
            )
        super().__init__(message.format(count=n, names=names))


# ----- helpers usable inside another service's transaction ----------------------------------


def load_settings(session: Session) -> SecuritySettingsView:
    """The current settings, without a permission check (for the login flow)."""
    row = settings_row(session)
    if row is None:
        return SecuritySettingsView(False, DEFAULT_TRUST_DAYS, 10, DeliverySettings(), 0, None)
    return _view(row)


def delivery_settings(row: SecuritySettings) -> DeliverySettings:
    method = row.delivery_method if row.delivery_method in METHODS else "outbox"
    security = row.smtp_security if row.smtp_security in SMTP_SECURITY else "starttls"
    auth = row.m365_auth if row.m365_auth in MICROSOFT_AUTH else "secret"
    return DeliverySettings(
        method=method,
        outbox_folder=row.outbox_folder,
        smtp_host=row.smtp_host,
        smtp_port=row.smtp_port,
        smtp_security=security,  # type: ignore[arg-type]
        smtp_username=row.smtp_username,
        smtp_from=row.smtp_from,
        sms_url=row.sms_url,
        m365_tenant_id=row.m365_tenant_id or "",
        m365_client_id=row.m365_client_id or "",
        m365_auth=auth,  # type: ignore[arg-type]
        m365_thumbprint=row.m365_thumbprint or "",
        google_client_email=row.google_client_email or "",
        sms_account=row.sms_account or "",
        sms_sender=row.sms_sender or "",
        phone_region=row.phone_region or DEFAULT_PHONE_REGION,
    )


def delivery_label(delivery: DeliverySettings, outbox_default: str | os.PathLike[str] = "") -> str:
    """Where codes go, in the delivery method's own words (one wording everywhere)."""
    try:
        # Secrets are fetched only when sending, so an empty store describes it just as well.
        return delivery_for(delivery, MemoryStore(), Path(outbox_default or ".")).label
    except DeliveryError as exc:
        return translate("security", "Not usable yet: {problem}").format(problem=message_of(exc))


def delivery_encrypted(delivery: DeliverySettings) -> bool | None:
    """Whether codes travel encrypted, as the Delivery itself answers: None when nothing leaves
    this machine (outbox). Settings pmdesk refuses to send with (plain SMTP to another host, a
    missing server) protect nothing: False."""
    try:
        return delivery_for(delivery, MemoryStore(), Path(".")).encrypted
    except DeliveryError:
        return False


def delivery_link(delivery: DeliverySettings) -> Link:
    """How codes travel: unencrypted mail or SMS is allowed only to this computer (local)."""
    encrypted = delivery_encrypted(delivery)
    if encrypted is None:
        return "none"
    if encrypted:
        return "encrypted"
    host = smtp_host(delivery) if delivery.method != "sms" else urlsplit(delivery.sms_url).hostname
    return "local" if _is_loopback(host or "") else "exposed"


def database_link(encrypted: bool | None, url: URL) -> Link:
    """How the database link is protected; an unencrypted one to a server on this computer
    (loopback address or local socket, e.g. ``postgresql:///pmdesk``) is local, not exposed."""
    if encrypted is None:
        return "none"
    if encrypted:
        return "encrypted"
    socket = url.query.get("host") or url.query.get("unix_socket")
    if isinstance(socket, str) and socket.startswith("/"):
        return "local"
    host = url.host or ""
    return "local" if not host or host.startswith("/") or _is_loopback(host) else "exposed"


def find_shut_out(
    session: Session, method: str, region: str = DEFAULT_PHONE_REGION
) -> list[ShutOutPerson]:
    """People with a login and a password who could not receive a code by ``method`` (phone
    numbers without a country code read as ones of ``region``)."""
    rows = session.execute(
        select(
            Person.id,
            Person.login,
            Person.first_name,
            Person.last_name,
            Person.email,
            Person.phone,
            Person.mobile,
        )
        .where(Person.login_key.is_not(None), Person.password_hash.is_not(None))
        .order_by(Person.login_key, Person.id)
        .execution_options(yield_per=2000)
    )
    found: list[ShutOutPerson] = []
    for person_id, login, first, last, email, phone, mobile in rows:
        reason = _why_unreachable(method, email or "", phone or "", mobile or "", region)
        if reason:
            name = " ".join(p for p in (first, last) if p)
            found.append(ShutOutPerson(person_id, login or "", name, reason))
    return found


def _why_unreachable(
    method: str, email: str, phone: str, mobile: str, region: str = DEFAULT_PHONE_REGION
) -> str | None:
    if is_sms(method):
        if first_valid_phone(mobile, phone, region=region):
            return None
        if mobile or phone:
            return translate("security", "no valid mobile or phone number")
        return translate("security", "no phone number")
    if not email.strip():
        return translate("security", "no e-mail address")
    try:
        clean_email(email, required=True)
    except FieldInvalid:
        return translate("security", "the e-mail address is not valid")
    return None


def _view(row: SecuritySettings) -> SecuritySettingsView:
    return SecuritySettingsView(
        two_factor_enabled=bool(row.two_factor_enabled),
        trust_days=row.trust_days,
        code_ttl_minutes=row.code_ttl_minutes,
        delivery=delivery_settings(row),
        version=row.version,
        updated_at=row.updated_at,
        never_trusted_addresses=row.never_trusted_addresses or "",
        session_hours=row.session_hours,
        trust_policy=row.trust_policy,
        lock_after_failures=row.lock_after_failures,
        first_lock_minutes=row.first_lock_minutes,
        max_lock_minutes=row.max_lock_minutes,
        helpdesk_mailbox=row.helpdesk_mailbox or "",
    )


def _is_loopback(host: str) -> bool:
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


NEVER_TRUSTED_MAX_LENGTH = 1000
#: The helpdesk mailbox's column (a longer text is refused with a message, never cut).
HELPDESK_MAILBOX_MAX_LENGTH = 254


def clean_never_trusted(value: str) -> str:
    """The never-trusted list in its canonical form ("10.0.0.5, 10.1.0.0/24"), or FieldInvalid
    naming the first entry that is not an IP address or a CIDR network."""
    if not isinstance(value, str):
        raise FieldInvalid(
            translate("security", "List the never-trusted addresses as text, such as 10.0.0.5.")
        )
    try:
        networks = parse_address_list(value)
    except ValueError as exc:
        raise FieldInvalid(
            translate("security", "Never trust: {problem}").format(problem=message_of(exc))
        ) from exc
    text = address_list_text(networks)
    if len(text) > NEVER_TRUSTED_MAX_LENGTH:
        raise FieldInvalid(
            translate(
                "security",
                "Never trust: the list can have at most {count} characters; "
                "use networks (10.1.0.0/24) instead of single addresses.",
            ).format(count=NEVER_TRUSTED_MAX_LENGTH)
        )
    return text


_SMTP_PORT = translate("security", "The SMTP port")
_PORTS = translate("security", "ports")
_TRUST_FOR = translate("security", "Trust an address for")
_DAYS = translate("security", "days")
_MINUTES = translate("security", "minutes")


def _range(value: object, label: str, bounds: tuple[int, int], unit: str) -> int:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FieldInvalid(
            translate(
                "security", "{label} must be a whole number of {unit} from {low} to {high}."
            ).format(label=label, unit=unit, low=low, high=high)
        )
    return value


def validate_delivery(delivery: DeliverySettings) -> DeliverySettings:
    """The settings cleaned, or ValidationError naming each bad field (the field names of
    DeliverySettings). Fields the chosen method does not use are checked for form only."""
    errors: dict[str, str] = {}
    clean: dict[str, object] = {}

    def check(name: str, fn: object) -> None:
        try:
            clean[name] = fn() if callable(fn) else fn
        except FieldInvalid as exc:
            errors[name] = message_of(exc)

    method = delivery.method
    if method not in METHODS:
        errors["method"] = translate(
            "security",
            "Choose how codes are delivered: outbox folder, e-mail (SMTP, Microsoft 365, "
            "Google Workspace, Microsoft Graph) or text message (SMS gateway, Twilio, Vonage, "
            "CM.com).",
        )
    oauth_mail = method in OAUTH_METHODS
    microsoft = method in MICROSOFT_METHODS
    check("outbox_folder", lambda: _clean_folder(delivery.outbox_folder))
    check("smtp_host", lambda: _clean_host(delivery.smtp_host, required=method == "smtp"))
    check("smtp_port", lambda: _range(delivery.smtp_port, _SMTP_PORT, (1, 65535), _PORTS))
    if delivery.smtp_security not in SMTP_SECURITY:
        errors["smtp_security"] = translate(
            "security", "Choose STARTTLS or TLS for the mail server."
        )
    elif (
        method in SMTP_METHODS
        and delivery.smtp_security == "none"
        and "smtp_host" not in errors
        and not _is_loopback(smtp_host(delivery))
    ):
        errors["smtp_security"] = translate(
            "security",
            "Mail without encryption is only allowed to a relay on this machine (localhost); "
            "choose STARTTLS or TLS.",
        )
    check(
        "smtp_username",
        lambda: clean_text(
            delivery.smtp_username,
            label=translate("security", "The SMTP user name"),
            max_length=255,
        ),
    )
    check(
        "smtp_from",
        lambda: _clean_from(delivery.smtp_from, required=method == "smtp" or oauth_mail),
    )
    check("sms_url", lambda: _clean_url(delivery.sms_url, required=method == "sms"))
    check("m365_tenant_id", lambda: _clean_tenant(delivery.m365_tenant_id, required=microsoft))
    check(
        "m365_client_id",
        lambda: _clean_guid(
            delivery.m365_client_id,
            translate("security", "The application (client) ID"),
            required=microsoft,
        ),
    )
    if delivery.m365_auth not in MICROSOFT_AUTH:
        errors["m365_auth"] = translate(
            "security", "Choose a client secret or a certificate for the app."
        )
    check(
        "m365_thumbprint",
        lambda: _clean_thumbprint(
            delivery.m365_thumbprint, required=microsoft and delivery.m365_auth == "certificate"
        ),
    )
    check(
        "google_client_email",
        lambda: _clean_service_account(delivery.google_client_email, required=method == "google"),
    )
    check("phone_region", lambda: clean_region(delivery.phone_region))
    region = str(clean.get("phone_region") or DEFAULT_PHONE_REGION)
    check("sms_account", lambda: _clean_sms_account(delivery.sms_account, method))
    check("sms_sender", lambda: _clean_sms_sender(delivery.sms_sender, method, region))
    if errors:
        raise ValidationError(errors)
    return replace(
        delivery,
        outbox_folder=str(clean["outbox_folder"]),
        smtp_host=str(clean["smtp_host"]),
        smtp_username=str(clean["smtp_username"]),
        smtp_from=str(clean["smtp_from"]),
        sms_url=str(clean["sms_url"]),
        m365_tenant_id=str(clean["m365_tenant_id"]),
        m365_client_id=str(clean["m365_client_id"]),
        m365_thumbprint=str(clean["m365_thumbprint"]),
        google_client_email=str(clean["google_client_email"]),
        phone_region=region,
        sms_account=str(clean["sms_account"]),
        sms_sender=str(clean["sms_sender"]),
    )


def clean_region(value: str) -> str:
    """An ISO 3166 region code libphonenumber knows ("BE", "NL"), upper-case."""
    region = value.strip().upper()
    if not region:
        return DEFAULT_PHONE_REGION
    import phonenumbers

    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise FieldInvalid(
            translate(
                "security", "The phone region '{region}' is not a country code such as BE or NL."
            ).format(region=value.strip()[:10])
        )
    return region


def _clean_guid(value: str, label: str, *, required: bool) -> str:
    text = value.strip()
    if not text:
        if required:
            raise FieldInvalid(translate("security", "Enter the application (client) ID."))
        return ""
    if not _GUID_RE.match(text):
        raise FieldInvalid(
            translate(
                "security",
                "{label} is a GUID such as 00000000-0000-0000-0000-000000000000 (Entra admin "
                "center → App registrations → your app → Overview).",
            ).format(label=label)
        )
    return text.lower()


def _clean_tenant(value: str, *, required: bool) -> str:
    """The directory (tenant) ID, a GUID, or one of the tenant's domain names."""
    text = value.strip()
    if not text:
        if required:
            raise FieldInvalid(translate("security", "Enter the directory (tenant) ID."))
        return ""
    if _GUID_RE.match(text):
        return text.lower()
    if "." in text and _HOST_RE.match(text):
        return text.lower()
    raise FieldInvalid(
        translate(
            "security",
            "The directory (tenant) ID is a GUID (Entra admin center → Overview → Tenant ID) or "
            "a domain of the tenant such as contoso.onmicrosoft.com.",
        )
    )


def _clean_thumbprint(value: str, *, required: bool) -> str:
    text = "".join(ch for ch in value.strip() if ch not in " :").upper()
    if not text:
        if required:
            raise FieldInvalid(translate("security", "Enter the certificate's thumbprint."))
        return ""
    if not _THUMBPRINT_RE.match(text):
        raise FieldInvalid(
            translate(
                "security",
                "The certificate thumbprint is 40 hexadecimal characters (Entra admin center → "
                "App registrations → your app → Certificates & secrets → Thumbprint).",
            )
        )
    return text


def _clean_service_account(value: str, *, required: bool) -> str:
    text = value.strip()
    if not text:
        if required:
            raise FieldInvalid(
                translate(
                    "security", "Store the service account's JSON key (it names the account)."
                )
            )
        return ""
    try:
        address = clean_email(text, required=True)
    except FieldInvalid as exc:
        raise FieldInvalid(
            translate("security", "The service account: {problem}").format(problem=message_of(exc))
        ) from exc
    return address


def _clean_sms_account(value: str, method: str) -> str:
    text = value.strip()
    if method == "twilio":
        if not text:
            raise FieldInvalid(
                translate(
                    "security", "Enter the Twilio Account SID (Twilio Console → Account Info)."
                )
            )
        if not TWILIO_SID_RE.match(text):
            raise FieldInvalid(
                translate(
                    "security",
                    "The Twilio Account SID is AC followed by 32 hexadecimal characters.",
                )
            )
    elif method == "vonage":
        if not text:
            raise FieldInvalid(
                translate(
                    "security", "Enter the Vonage API key (Vonage API Dashboard → API settings)."
                )
            )
        if not _VONAGE_KEY_RE.match(text):
            raise FieldInvalid(
                translate("security", "The Vonage API key is a short code of letters and digits.")
            )
    return clean_text(text, label=translate("security", "The SMS account"), max_length=64)


def _clean_sms_sender(value: str, method: str, region: str) -> str:
    """A number (stored as E.164), an alphanumeric sender ID, or (Twilio) a Messaging
    Service SID."""
    text = value.strip()
    if not text:
        if method in SMS_PROVIDER_METHODS:
            raise FieldInvalid(
                translate(
                    "security",
                    "Enter the sender of text messages: a number such as +32470123456 or a "
                    "sender name of up to 11 letters and digits.",
                )
            )
        return ""
    if method == "twilio" and TWILIO_SERVICE_RE.match(text):
        return text
    if ALPHANUMERIC_SENDER_RE.match(text):
        return text
    return clean_phone(text, label=translate("security", "The sender"), region=region)


def _clean_folder(value: str) -> str:
    """Empty means the default outbox of each workstation."""
    folder = clean_text(value, label=translate("security", "The outbox folder"), max_length=500)
    if folder and not os.path.isabs(os.path.expanduser(folder)):
        raise FieldInvalid(
            translate(
                "security", "The outbox folder must be a full path, such as C:\\pmdesk\\outbox."
            )
        )
    return folder


def _clean_host(value: str, *, required: bool) -> str:
    host = value.strip()
    if not host:
        if required:
            raise FieldInvalid(translate("security", "Enter the mail server (SMTP host)."))
        return ""
    bare = host.strip("[]")
    try:
        return str(ipaddress.ip_address(bare))
    except ValueError:
        pass
    if not _HOST_RE.match(host):
        raise FieldInvalid(
            translate("security", "'{host}' is not a valid server name.").format(host=host[:60])
        )
    return host.lower()


def _clean_from(value: str, *, required: bool) -> str:
    """A bare address or ``Display Name <address>``, as the SMTP delivery accepts it."""
    if not value.strip() and required:
        raise FieldInvalid(translate("security", "Enter the sender address (From) for code mails."))
    return clean_mailbox(
        value, translate("security", "The sender address"), translate("security", "The sender name")
    )


def clean_helpdesk_mailbox(value: str) -> str:
    """The helpdesk mailbox that receives trust alerts: empty, or one e-mail address (bare or
    ``Helpdesk <address>``), checked as the From field is."""
    return clean_mailbox(
        value,
        translate("security", "The helpdesk mailbox"),
        translate("security", "The helpdesk name"),
    )


def clean_mailbox(value: str, label: str, name_label: str) -> str:
    """One mailbox, a bare address or ``Display Name <address>``, in its canonical form; empty
    stays empty. ``label`` names the field in the messages ("The sender address")."""
    text = value.strip()
    if not text:
        return ""
    if any(ch in text for ch in "\r\n\x00"):
        raise FieldInvalid(
            translate("security", "{label} must be on one line.").format(label=label)
        )
    if len(getaddresses([text])) > 1:
        raise FieldInvalid(
            translate("security", "{label}: enter one e-mail address only.").format(label=label)
        )
    name, address = parseaddr(text)
    if "<" in text and not address:
        raise FieldInvalid(
            translate("security", "{label}: '{address}' is not a valid e-mail address.").format(
                label=label, address=text[:40]
            )
        )
    try:
        address = clean_email(address or text, required=True)
    except FieldInvalid as exc:
        raise FieldInvalid(
            translate("security", "{label}: {problem}").format(label=label, problem=message_of(exc))
        ) from exc
    name = clean_text(name, label=name_label, max_length=100) if name else ""
    result = formataddr((name, address)) if name else address
    if len(result) > 254:
        raise FieldInvalid(
            translate("security", "{label} can have at most {count} characters.").format(
                label=label, count=254
            )
        )
    return result


def _clean_url(value: str, *, required: bool) -> str:
    url = value.strip()
    if not url:
        if required:
            raise FieldInvalid(translate("security", "Enter the SMS gateway URL (https://…)."))
        return ""
    if len(url) > 500 or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise FieldInvalid(
            translate("security", "The SMS gateway URL must be one line of at most 500 characters.")
        )
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port
    except ValueError as exc:
        raise FieldInvalid(
            translate("security", "The SMS gateway URL is not a valid URL.")
        ) from exc
    if not host:
        raise FieldInvalid(
            translate("security", "The SMS gateway URL needs a server name (https://host/…).")
        )
    if parts.username is not None or parts.password is not None:
        raise FieldInvalid(
            translate(
                "security",
                "Do not put a user name or password in the SMS gateway URL: the password "
                "belongs in the keyring.",
            )
        )
    scheme = parts.scheme.lower()
    if scheme == "http" and not _is_loopback(host):
        raise FieldInvalid(
            translate(
                "security", "The SMS gateway must use https:// (http:// only to this machine)."
            )
        )
    if scheme not in {"https", "http"}:
        raise FieldInvalid(translate("security", "The SMS gateway URL must start with https://."))
    return url


# DeliverySettings field -> security_settings column: the same name, but for the method.
_DELIVERY_COLUMNS = {
    f.name: "delivery_method" if f.name == "method" else f.name for f in fields(DeliverySettings)
}


# ----- the service --------------------------------------------------------------------------


class SecurityService:
    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx

    def get(self, actor: Actor) -> SecuritySettingsView:
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.READ)
            return load_settings(s)

    def readiness(self, actor: Actor) -> list[ShutOutPerson]:
        """Who would be shut out if two-step authentication were on (with today's delivery)."""
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.READ)
            delivery = load_settings(s).delivery
            return find_shut_out(s, delivery.method, delivery.phone_region)

    def connection_status(self, actor: Actor) -> ConnectionStatus:
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.READ)
            return self._connection_status(s, load_settings(s).delivery)

    def settings_and_status(self, actor: Actor) -> tuple[SecuritySettingsView, ConnectionStatus]:
        """``get`` and ``connection_status`` in one unit of work (the screen's first read):
        the right is checked and the settings read once."""
        db = self._ctx.db
        encrypted, address = db.connection_encrypted_column(), db.client_address_column()
        extra = [c for c in (encrypted, address) if c is not None]
        with db.session() as s:
            if db.server_codes:  # the relay's heartbeat goes with them (one round trip)
                read_along(s, relay_status.status_query())
            # The right, the settings and the link in one statement.
            values = read_with_right(s, actor, SYSTEM_SECURITY, Action.READ, extra)
            if values is not None and encrypted is not None and address is not None:
                db.remember_connection_encrypted(s, values[0])
                db.remember_client_address(s, values[1])
            settings = load_settings(s)
            return settings, self._connection_status(s, settings.delivery)

    def _connection_status(self, s: Session, delivery: DeliverySettings) -> ConnectionStatus:
        encrypted = self._ctx.db.connection_encrypted(s)
        return ConnectionStatus(
            database_encrypted=encrypted,
            mail_encrypted=delivery_encrypted(delivery),
            mail_label=delivery_label(delivery, self._ctx.outbox_default),
            workstation_address=self._ctx.db.client_address(s),
            database_link=database_link(encrypted, self._ctx.db.url),
            mail_link=delivery_link(delivery),
            relay=relay_status.read(s) if self._ctx.db.server_codes else None,
        )

    def delivery_health(self, actor: Actor) -> DeliveryHealthReport:
        """The last delivery outcome of each method, and whether the configured method's
        recent sends have failed (System → Security Read)."""
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.READ)
            method = load_settings(s).delivery.method
            outcomes = health.outcomes(s)
        trouble = next((h for h in outcomes if h.method == method and h.failing), None)
        return DeliveryHealthReport(method=method, outcomes=outcomes, trouble=trouble)

    def impact_of_trust_days(self, actor: Actor, days: int) -> TrustImpact:
        """What a trust period of ``days`` would stop trusting today (Security Read): a
        shorter period ends the trust of addresses trusted longer ago than that."""
        try:
            days = _range(days, _TRUST_FOR, TRUST_DAYS_RANGE, _DAYS)
        except FieldInvalid as exc:
            raise ValidationError({"trust_days": message_of(exc)}) from exc
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.READ)
            return impact(s, self._ctx.clock.now(s), trust_days=days)

    def send_test_code(
        self,
        actor: Actor,
        address: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        endpoints: Endpoints = PUBLIC_ENDPOINTS,
        tokens: TokenCache = TOKENS,
    ) -> TestSent:
        """Send a test code message to ``address`` (an e-mail, or a phone number for SMS) with
        the configured method, and audit it (System → Security Edit). Blocking: not on the GUI
        thread.

        The code in it is random and valid nowhere; the message says it is a test. A failure
        is a DeliveryError whose ``step`` says where (``failure_text`` puts it in words); the
        outcome is kept in the delivery health either way. ``ssl_context``, ``endpoints`` and
        ``tokens`` are for tests.

        On a hardened database (level 3 and later) the relay sends it instead, to the signed-in
        person's own address, with no code (``_queue_test_code``): ``TestSent.queued``.
        """
        ctx = self._ctx
        if ctx.db.server_codes:
            return self._queue_test_code(actor)
        with ctx.db.session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.EDIT)
            view = load_settings(s)
            requested_from = actor.address or ctx.db.client_address(s)
        delivery = delivery_for(
            view.delivery,
            ctx.secrets,
            ctx.outbox_default,
            ssl_context=ssl_context,
            timeout=timeout,
            endpoints=endpoints,
            tokens=tokens,
        )
        message = CodeMessage(
            person_name="",
            email=address,
            phone=address,
            code=codes.new_code(),
            valid_minutes=view.code_ttl_minutes,
            requested_from=requested_from,
            workstation=actor.workstation,
            test=True,
            language=ctx.language,  # a typed address: the workstation's language
        )
        destination = delivery.destination(message)
        if destination is None:
            if is_sms(view.delivery.method):
                wrong = translate("security", "'{address}' is not a valid phone number.")
            else:
                wrong = translate("security", "'{address}' is not a valid e-mail address.")
            raise DeliveryError(wrong.format(address=address.strip()))
        file: Path | None = None
        try:
            if isinstance(delivery, OutboxDelivery):
                file = delivery.write(message)
            else:
                delivery.send(message)
        except DeliveryError as exc:
            with ctx.db.write_session() as s:
                health.record(s, ctx.clock.now(s), view.delivery.method, exc)
            raise
        with ctx.db.write_session() as s:
            health.record(s, ctx.clock.now(s), view.delivery.method, None)
            audit.record(
                s,
                ctx.clock,
                actor,
                Event.MAIL_TEST_SENT,
                subject=destination,
                detail=delivery.label,
            )
        return TestSent(destination=destination, label=delivery.label, file=file)

    def _queue_test_code(self, actor: Actor) -> TestSent:
        """On a hardened database codes leave only through the relay, which holds the delivery
        secrets: ``pmdesk.send_test_code()`` queues a test message, without a code, to the
        signed-in person's own address or number (the server does not send to a typed one)."""
        with self._ctx.db.write_session() as s:
            require(s, actor, SYSTEM_SECURITY, Action.EDIT)
            view = load_settings(s)
            answer = s.execute(text(f"SELECT {SCHEMA}.send_test_code()")).scalar_one()
        how = delivery_label(view.delivery, self._ctx.outbox_default)
        return TestSent(
            destination=str(answer["destination"]),
            label=translate(
                "security",
                "queued to the relay, which sends it: {how}; the Log shows mail.test_sent "
                "once it has gone",
            ).format(how=how),
            queued=True,
        )

    def set_two_factor(
        self,
        actor: Actor,
        enabled: bool,
        expected_version: int,
        *,
        accept_shut_out: bool = False,
    ) -> SecuritySettingsView:
        """Turn two-step authentication on or off (System → Security Edit).

        Turning it on while someone could not receive a code raises ShutOutWarning listing
        them, unless ``accept_shut_out``.
        """
        with self._writing(actor, expected_version) as (s, row):
            if bool(row.two_factor_enabled) == enabled:
                return _view(row)
            detail = ""
            if enabled:
                delivery = delivery_settings(row)
                shut_out = find_shut_out(s, delivery.method, delivery.phone_region)
                if shut_out and not accept_shut_out:
                    raise ShutOutWarning(shut_out)
                if shut_out:
                    detail = (
                        f"accepted that {len(shut_out)} cannot receive a code: "
                        + ", ".join(p.login for p in shut_out[:20])
                        + (", …" if len(shut_out) > 20 else "")
                    )
            now = self._ctx.clock.now(s)  # before changing the row: a query autoflushes
            row.two_factor_enabled = enabled
            row.updated_at = now
            s.flush()
            event = Event.TWO_FACTOR_ENABLED if enabled else Event.TWO_FACTOR_DISABLED
            audit.record(
                s, self._ctx.clock, actor, event, subject="two-step authentication", detail=detail
            )
            return _view(row)

    def update(
        self,
        actor: Actor,
        expected_version: int,
        *,
        trust_days: int | None = None,
        code_ttl_minutes: int | None = None,
        never_trusted_addresses: str | None = None,
        session_hours: int | None = None,
        trust_policy: str | None = None,
        lock_after_failures: int | None = None,
        first_lock_minutes: int | None = None,
        max_lock_minutes: int | None = None,
        helpdesk_mailbox: str | None = None,
    ) -> SecuritySettingsView:
        """Change how long an address stays trusted, how long a code is valid, which addresses
        (proxies, connection poolers) are never trusted, how long a command-line session
        lasts, where an address may be trusted (the trust policy), the lockout's numbers and
        the helpdesk mailbox that receives trust alerts."""
        errors = _lockout_errors(lock_after_failures, first_lock_minutes, max_lock_minutes)
        mailbox: str | None = None
        if helpdesk_mailbox is not None:
            try:
                mailbox = clean_helpdesk_mailbox(helpdesk_mailbox)
            except FieldInvalid as exc:
                errors["helpdesk_mailbox"] = message_of(exc)
        if trust_policy is not None and trust_policy not in TRUST_POLICIES:
            errors["trust_policy"] = POLICY_CHOICES
        never_trusted: str | None = None
        if never_trusted_addresses is not None:
            try:
                never_trusted = clean_never_trusted(never_trusted_addresses)
            except FieldInvalid as exc:
                errors["never_trusted_addresses"] = message_of(exc)
        if trust_days is not None:
            try:
                _range(trust_days, _TRUST_FOR, TRUST_DAYS_RANGE, _DAYS)
            except FieldInvalid as exc:
                errors["trust_days"] = message_of(exc)
        if code_ttl_minutes is not None:
            try:
                _range(
                    code_ttl_minutes,
                    translate("security", "A code is valid for"),
                    CODE_TTL_MINUTES_RANGE,
                    _MINUTES,
                )
            except FieldInvalid as exc:
                errors["code_ttl_minutes"] = message_of(exc)
        if session_hours is not None:
            try:
                _range(
                    session_hours,
                    translate("security", "The length of a command-line session"),
                    SESSION_HOURS_RANGE,
                    translate("security", "hours"),
                )
            except FieldInvalid as exc:
                errors["session_hours"] = message_of(exc)
        if errors:
            raise ValidationError(errors)
        with self._writing(actor, expected_version) as (s, row):
            now = self._ctx.clock.now(s)
            changes = _lockout_changes(
                row, lock_after_failures, first_lock_minutes, max_lock_minutes
            )
            if session_hours is not None and session_hours != row.session_hours:
                changes.append(f"session_hours {row.session_hours} → {session_hours}")
                row.session_hours = session_hours
            if trust_days is not None and trust_days != row.trust_days:
                changes.append(f"trust_days {row.trust_days} → {trust_days}")
                row.trust_days = trust_days
            if code_ttl_minutes is not None and code_ttl_minutes != row.code_ttl_minutes:
                changes.append(f"code_ttl_minutes {row.code_ttl_minutes} → {code_ttl_minutes}")
                row.code_ttl_minutes = code_ttl_minutes
            if never_trusted is not None and never_trusted != (row.never_trusted_addresses or ""):
                changes.append(
                    f"never_trusted_addresses '{row.never_trusted_addresses or ''}' → "
                    f"'{never_trusted}'"
                )
                row.never_trusted_addresses = never_trusted
            if trust_policy is not None and trust_policy != row.trust_policy:
                changes.append(f"trust_policy {row.trust_policy} → {trust_policy}")
                row.trust_policy = trust_policy
            if mailbox is not None and mailbox != (row.helpdesk_mailbox or ""):
                changes.append(f"helpdesk_mailbox '{row.helpdesk_mailbox or ''}' → '{mailbox}'")
                row.helpdesk_mailbox = mailbox
            if changes:
                row.updated_at = now
                s.flush()
                audit.record(
                    s,
                    self._ctx.clock,
                    actor,
                    Event.SETTING_CHANGED,
                    subject="security settings",
                    detail=", ".join(changes),
                )
            return _view(row)

    def update_delivery(
        self,
        actor: Actor,
        delivery: DeliverySettings,
        expected_version: int | None = None,
    ) -> SecuritySettingsView:
        """Change how codes are delivered; ``expected_version`` None skips the conflict check."""
        clean = validate_delivery(delivery)
        with self._writing(actor, expected_version) as (s, row):
            now = self._ctx.clock.now(s)
            before = delivery_settings(row)
            _check_outbox_folder(before, clean)
            changed = [
                f.name
                for f in fields(DeliverySettings)
                if getattr(before, f.name) != getattr(clean, f.name)
            ]
            if changed:
                for name in changed:
                    setattr(row, _DELIVERY_COLUMNS[name], getattr(clean, name))
                row.updated_at = now
                s.flush()
                audit.record(
                    s,
                    self._ctx.clock,
                    actor,
                    Event.SETTING_CHANGED,
                    subject="code delivery",
                    # Names only: values such as the server or user name stay out of the log.
                    detail="changed: " + ", ".join(changed),
                )
            return _view(row)

    # ----- internals -------------------------------------------------------------------------

    @contextmanager
    def _writing(
        self, actor: Actor, expected_version: int | None
    ) -> Iterator[tuple[Session, SecuritySettings]]:
        """A write transaction on the settings row, refused when it changed since it was read."""
        try:
            with self._ctx.db.write_session() as s:
                require(s, actor, SYSTEM_SECURITY, Action.EDIT)
                row = s.get(
                    SecuritySettings, SETTINGS_ID, with_for_update=not self._ctx.db.is_sqlite
                )
                if row is None:
                    row = SecuritySettings(id=SETTINGS_ID)
                    s.add(row)
                    s.flush()
                elif expected_version is not None and row.version != expected_version:
                    raise ConflictError(_CONFLICT, current=_view(row))
                yield s, row
        except StaleDataError as exc:
            raise ConflictError(_CONFLICT) from exc


def _lockout_errors(
    lock_after: int | None, first: int | None, longest: int | None
) -> dict[str, str]:
    """What is wrong with the lockout's numbers as given (the longest lock is checked against
    the first again with the stored value, in ``_lockout_changes``)."""
    errors: dict[str, str] = {}
    checks = (
        (
            "lock_after_failures",
            lock_after,
            translate("security", "Failures before a lock"),
            lockout.LOCK_AFTER_RANGE,
        ),
        (
            "first_lock_minutes",
            first,
            translate("security", "The first lock"),
            lockout.FIRST_LOCK_MINUTES_RANGE,
        ),
    )
    for name, value, label, bounds in checks:
        if value is not None:
            unit = translate("security", "failures") if name == "lock_after_failures" else _MINUTES
            try:
                _range(value, label, bounds, unit)
            except FieldInvalid as exc:
                errors[name] = message_of(exc)
    if longest is not None:
        low = first if isinstance(first, int) and "first_lock_minutes" not in errors else 1
        try:
            _range(
                longest,
                translate("security", "The longest lock"),
                (low, lockout.MAX_LOCK_MINUTES_LIMIT),
                _MINUTES,
            )
        except FieldInvalid as exc:
            errors["max_lock_minutes"] = message_of(exc)
    return errors


def _lockout_changes(
    row: SecuritySettings, lock_after: int | None, first: int | None, longest: int | None
) -> list[str]:
    """Apply the lockout's numbers to the row; the audit's words for what changed."""
    new_first = row.first_lock_minutes if first is None else first
    new_longest = row.max_lock_minutes if longest is None else longest
    if new_longest < new_first:
        raise ValidationError(
            {
                "max_lock_minutes" if longest is not None else "first_lock_minutes": translate(
                    "security",
                    "The longest lock ({longest} min) cannot be shorter than the first "
                    "({first} min).",
                ).format(longest=new_longest, first=new_first)
            }
        )
    changes: list[str] = []
    for name, value in (
        ("lock_after_failures", lock_after),
        ("first_lock_minutes", first),
        ("max_lock_minutes", longest),
    ):
        if value is not None and value != getattr(row, name):
            changes.append(f"{name} {getattr(row, name)} → {value}")
            setattr(row, name, value)
    return changes


def _check_outbox_folder(before: DeliverySettings, after: DeliverySettings) -> None:
    """A newly chosen outbox folder must be one codes can be written to (made if missing)."""
    if after.method != "outbox" or not after.outbox_folder:
        return
    if before.method == after.method and before.outbox_folder == after.outbox_folder:
        return
    problem = folder_problem(Path(after.outbox_folder).expanduser())
    if problem is not None:
        raise ValidationError({"outbox_folder": problem})


_CONFLICT = translate(
    "security",
    "The security settings were changed on another workstation since you opened them. "
    "Reload to see the current values, then make your change again.",
)
