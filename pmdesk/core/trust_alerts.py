"""Trust alerts (issue 16 §4): when an address outside every office network is trusted for
someone, that person, and the helpdesk mailbox set on System → Security, get an e-mail saying
so, with "Not you? Call the helpdesk (reference #id)".

Trust given inside an office network sends nothing (no alert spam); so does a trust that was
still valid (re-ticking "Trust this IP" starts no new period). The alert never blocks or fails
the sign-in or ``ip trust``: it is worked out inside their transaction (``alert_for``) and sent
after it committed (``send_alert``), which records ``alert.sent`` / ``alert.failed`` in
the audit trail and swallows every failure.

Each recipient reads it in a language: the person in their Personnel language, else the
workstation's that trusted the address (``CoreContext.language``); the helpdesk mailbox in the
workstation's language (English from the command line). On a hardened database the relay
sends them, and knows no workstation: both in the person's language, else English.

Alerts go by the e-mail methods and the outbox (which writes an .eml file, as for codes). With
a text-message method there is no mailbox to send from: the alert is recorded as
``alert.failed`` with that reason, so the Log shows the trust was not announced.

On a database hardened to level 3 the server queues the alerts itself, in the transaction that
trusts the address (``pmdesk.core.server.alerts_sql``), and the relay sends them: the
workstation sends nothing then, and cannot suppress them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr

from sqlalchemy.orm import Session

from pmdesk.core import audit
from pmdesk.core.audit import Event
from pmdesk.core.clock import Reading
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.delivery.base import (
    ALERT_BY_EMAIL_ONLY,
    ALERT_NOBODY,
    CodeMessage,
    Delivery,
    DeliverySettings,
    TrustAlert,
    is_sms,
)
from pmdesk.core.errors import PmdeskError
from pmdesk.core.i18n import ENGLISH
from pmdesk.core.models import Person, TrustedIp
from pmdesk.core.office_networks import load_networks, network_of
from pmdesk.core.people import display_name, language_of
from pmdesk.core.security import load_settings
from pmdesk.core.validation import FieldInvalid, clean_email, mask_email
from pmdesk.secrets import SecretStoreError

log = logging.getLogger(__name__)

DeliveryFactory = Callable[[DeliverySettings], Delivery]

#: Why no alert went out (the relay's rows say the same).
BY_EMAIL_ONLY = ALERT_BY_EMAIL_ONLY
NOBODY = ALERT_NOBODY


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str
    language: str = ENGLISH


@dataclass(frozen=True)
class PendingAlert:
    """An alert to send once the transaction that trusted the address has committed."""

    alert: TrustAlert
    recipients: tuple[Recipient, ...]
    subject: str  # the audit subject: the person's login
    delivery: DeliverySettings  # as read in that transaction: not read again to send
    # When the trust was made, on the database clock: the outcome's log rows tell their time
    # from it (plus what sending took), without reading the clock again.
    decided: Reading

    @property
    def actor(self) -> Actor:
        """Who the audit rows name, as the relay writes them on a hardened database: the
        person, at the address trusted, from the workstation of the trust."""
        return Actor(
            name=self.subject, address=self.alert.address, workstation=self.alert.workstation
        )


def recipients(
    person: Person, helpdesk_mailbox: str, language: str = ENGLISH
) -> tuple[Recipient, ...]:
    """The person's own e-mail address (when usable) and the helpdesk mailbox (when set), the
    same address once; the person's in their language, the mailbox's in ``language`` (the
    workstation's), as the person's too when they have none."""
    found: list[Recipient] = []
    try:
        own = clean_email(person.email or "")
    except FieldInvalid:
        own = ""
    if own:
        found.append(Recipient(display_name(person), own, language_of(person) or language))
    name, address = parseaddr(helpdesk_mailbox or "")
    if address and address.lower() not in {r.email.lower() for r in found}:
        found.append(Recipient(name, address, language))
    return tuple(found)


def alert_for(
    session: Session, person: Person, row: TrustedIp, workstation: str, language: str = ENGLISH
) -> PendingAlert | None:
    """The alert for a trust period that just started (inside the transaction that trusted
    it), or None when the address is inside an office network. ``language``: the
    workstation's (``recipients``)."""
    if network_of(row.address, load_networks(session)) is not None:
        return None
    settings = load_settings(session)
    login = person.login or display_name(person)
    return PendingAlert(
        alert=TrustAlert(
            login=login,
            address=row.address,
            trusted_at=row.created_at,
            workstation=workstation,
            reference=row.id,
        ),
        recipients=recipients(person, settings.helpdesk_mailbox, language),
        subject=login,
        delivery=settings.delivery,
        decided=Reading(row.created_at),
    )


def send_alert(
    ctx: CoreContext, pending: PendingAlert | None, delivery_factory: DeliveryFactory | None = None
) -> None:
    """Send a pending alert on the client (SQLite, MariaDB, PostgreSQL not hardened to level 3)
    and audit how it went; never raises. Blocking: call it on a worker thread (the login's),
    after the trust committed. On a hardened database the server queued it: nothing to do."""
    if pending is None or ctx.db.server_codes:
        return
    try:
        outcomes = _deliver(pending, delivery_factory or _default_delivery(ctx))
        ctx.db.write_transaction(lambda s: _record(ctx, s, pending, outcomes))
    except Exception as exc:  # an alert must never fail the sign-in
        log.error(
            "trust alert #%d not sent or not recorded: %s",
            pending.alert.reference,
            type(exc).__name__,
        )


def _default_delivery(ctx: CoreContext) -> DeliveryFactory:
    from pmdesk.core.delivery.factory import delivery_for

    return lambda settings: delivery_for(settings, ctx.secrets, ctx.outbox_default)


def _deliver(pending: PendingAlert, make_delivery: DeliveryFactory) -> list[tuple[str, str | None]]:
    """(masked recipient, error or None) for each recipient; ("", error) when nothing could be
    tried."""
    if not pending.recipients:
        return [("", NOBODY)]
    settings = pending.delivery
    if is_sms(settings.method):
        return [("", BY_EMAIL_ONLY)]
    try:
        delivery = make_delivery(settings)
    except Exception as exc:
        return [("", f"The alert could not be sent: {_why(exc)}")]
    outcomes: list[tuple[str, str | None]] = []
    for recipient in pending.recipients:
        message = CodeMessage(
            person_name=recipient.name,
            email=recipient.email,
            phone="",
            code="",
            valid_minutes=0,
            requested_from=pending.alert.address,
            workstation=pending.alert.workstation,
            alert=pending.alert,
            language=recipient.language,
        )
        error: str | None = None
        try:
            delivery.send(message)
        except Exception as exc:
            error = _why(exc)
        outcomes.append((mask_email(recipient.email), error))
    return outcomes


def _record(
    ctx: CoreContext, s: Session, pending: PendingAlert, outcomes: list[tuple[str, str | None]]
) -> None:
    reference = f"reference #{pending.alert.reference}"
    ctx.clock.carry(s, pending.decided.later())  # the log rows and the COMMIT: one round trip
    for where, error in outcomes:
        to = f"to {where} " if where else ""
        if error is None:
            event, detail = Event.ALERT_SENT, f"{to}({reference})"
            log.info("trust alert for %s sent %s(%s)", pending.subject, to, reference)
        else:
            event, detail = Event.ALERT_FAILED, f"{to}({reference}): {error}"
            log.warning("trust alert for %s not sent %s: %s", pending.subject, to, error)
        audit.record(
            s, ctx.clock, pending.actor, event, subject=pending.subject, detail=detail[:2000]
        )


def _why(exc: BaseException) -> str:
    if isinstance(exc, (PmdeskError, SecretStoreError)):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror or type(exc).__name__}."
    return f"{type(exc).__name__}."
