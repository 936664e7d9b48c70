"""From delivery settings to the Delivery that sends codes.

The caller reads the settings (``pmdesk.core.security``) and passes them in: this module does
not read the database.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from pmdesk.core.delivery.base import Delivery, DeliveryError, DeliverySettings
from pmdesk.core.delivery.outbox import OutboxDelivery
from pmdesk.core.delivery.sms import DEFAULT_TIMEOUT, SmsDelivery, check_sms_url
from pmdesk.core.delivery.smtp import SmtpDelivery, check_smtp_settings
from pmdesk.secrets import SecretStore


def check_settings(settings: DeliverySettings) -> None:
    """Raise DeliveryError (a sentence for the user) when these settings cannot work.

    Secrets are not checked here: they live in each workstation's keyring.
    """
    if settings.method == "smtp":
        check_smtp_settings(
            settings.smtp_host, settings.smtp_port, settings.smtp_security, settings.smtp_from
        )
    elif settings.method == "sms":
        check_sms_url(settings.sms_url)
    elif settings.method != "outbox":
        raise DeliveryError(f"Unknown delivery method '{settings.method}'.")


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
) -> Delivery:
    """The Delivery these settings describe, or DeliveryError when they cannot work.

    ``ssl_context`` is for tests that trust their own certificate authority; production
    passes None and every connection uses ``ssl.create_default_context()`` (the system's
    trusted authorities, hostname checks on).
    """
    check_settings(settings)
    if settings.method == "smtp":
        return SmtpDelivery(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            sender=settings.smtp_from,
            username=settings.smtp_username,
            secrets=secrets,
            ssl_context=ssl_context,
            timeout=timeout,
        )
    if settings.method == "sms":
        return SmsDelivery(
            url=settings.sms_url, secrets=secrets, ssl_context=ssl_context, timeout=timeout
        )
    return OutboxDelivery(outbox_folder(settings, outbox_default), sender=settings.smtp_from)
