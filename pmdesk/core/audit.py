"""The audit trail: who did what to whom, from where, when (UTC). Never a password or code."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy.orm import Session

from pmdesk.core.clock import Clock
from pmdesk.core.context import Actor
from pmdesk.core.models import AuditEvent


class Event(StrEnum):
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_REFUSED = "login.refused"
    LOGIN_CODE_REQUIRED = "login.code_required"
    CODE_SENT = "code.sent"
    CODE_SEND_FAILED = "code.send_failed"
    CODE_FAILED = "code.failed"
    CODE_VOIDED = "code.voided"
    ACCOUNT_LOCKED = "account.locked"
    ACCOUNT_UNLOCKED = "account.unlocked"
    IP_TRUSTED = "ip.trusted"
    IP_REMOVED = "ip.removed"
    IP_EXPIRED = "ip.expired"
    TWO_FACTOR_ENABLED = "2fa.enabled"
    TWO_FACTOR_DISABLED = "2fa.disabled"
    SETTING_CHANGED = "setting.changed"
    PERMISSION_CHANGED = "permission.changed"
    GROUP_CREATED = "group.created"
    GROUP_RENAMED = "group.renamed"
    GROUP_DELETED = "group.deleted"
    PERSON_CREATED = "person.created"
    PERSON_UPDATED = "person.updated"
    PERSON_DELETED = "person.deleted"
    PASSWORD_CHANGED = "password.changed"
    MAIL_TEST_SENT = "mail.test_sent"
    SIGNED_OUT = "signed_out"


def record(
    session: Session,
    clock: Clock,
    actor: Actor,
    event: Event,
    *,
    subject: str = "",
    detail: str = "",
    address: str | None = None,
) -> AuditEvent:
    """Add one audit row in the caller's transaction (so it commits or rolls back with it)."""
    row = AuditEvent(
        occurred_at=clock.now(session),
        actor=actor.name[:255],
        event=event.value,
        subject=subject[:255],
        address=(address if address is not None else actor.address or "")[:45],
        workstation=actor.workstation[:255],
        detail=detail,
    )
    session.add(row)
    return row
