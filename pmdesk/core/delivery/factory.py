"""From the stored settings to the Delivery that sends codes."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from pmdesk.core import codes
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.delivery.base import CodeMessage, Delivery, DeliveryError, DeliverySettings
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


@dataclass(frozen=True)
class TestSent:
    """Where a test message went."""

    destination: str
    label: str
    file: Path | None = None  # the .eml written, for the outbox


def send_test_code(
    ctx: CoreContext,
    actor: Actor,
    address: str,
    *,
    ssl_context: ssl.SSLContext | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> TestSent:
    """Send a test code message to ``address`` (an e-mail, or a phone number for SMS) with the
    configured method, and audit it (System → Security Edit). Blocking: not on the GUI thread.

    The code in it is random and valid nowhere; the message says it is a test.
    """
    from pmdesk.core import audit
    from pmdesk.core.audit import Event
    from pmdesk.core.modules import SYSTEM_SECURITY, Action
    from pmdesk.core.permissions import require
    from pmdesk.core.security import load_settings

    with ctx.db.session() as s:
        require(s, actor, SYSTEM_SECURITY, Action.EDIT)
        view = load_settings(s)
        requested_from = actor.address or ctx.db.client_address(s)
    delivery = delivery_for(
        view.delivery, ctx.secrets, ctx.outbox_default, ssl_context=ssl_context, timeout=timeout
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
    )
    destination = delivery.destination(message)
    if destination is None:
        what = "phone number" if view.delivery.method == "sms" else "e-mail address"
        raise DeliveryError(f"'{address.strip()}' is not a valid {what}.")
    file: Path | None = None
    if isinstance(delivery, OutboxDelivery):
        file = delivery.write(message)
    else:
        delivery.send(message)
    with ctx.db.session() as s:
        audit.record(
            s, ctx.clock, actor, Event.MAIL_TEST_SENT, subject=destination, detail=delivery.label
        )
    return TestSent(destination=destination, label=delivery.label, file=file)
