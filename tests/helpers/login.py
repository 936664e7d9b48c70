"""People with real (cheap) argon2 passwords, security settings, and a collecting Delivery.

``CollectingDelivery`` is a complete implementation of the Delivery protocol that keeps the
messages in memory instead of mailing them: the login flow's unit tests read codes from it.
The end-to-end tests use the real aiosmtpd server instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import select

from pmdesk.core.afterwards import Afterwards, right_away
from pmdesk.core.auth import LoginService
from pmdesk.core.context import CoreContext
from pmdesk.core.delivery.base import CodeMessage, DeliveryError, DeliverySettings
from pmdesk.core.models import AuditEvent, Person, SecuritySettings
from pmdesk.core.passwords import Passwords
from pmdesk.core.types import search_text
from pmdesk.core.validation import FieldInvalid, clean_email, clean_phone, login_key
from tests.helpers.databases import stage

WORKSTATION = "ws-test-01"


def cheap_passwords() -> Passwords:
    """argon2id with tiny parameters: the same code paths, milliseconds instead of 50+ ms."""
    return Passwords(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@dataclass
class CollectingDelivery:
    """Keeps every message sent; ``fail_with`` makes the next sends fail like a mail server."""

    method: str = "outbox"
    fail_with: str | None = None
    sent: list[CodeMessage] = field(default_factory=list)
    failed: list[CodeMessage] = field(default_factory=list)
    attempts: int = 0
    # Trust alerts (pmdesk.core.trust_alerts) go here, not among the codes.
    alerts: list[CodeMessage] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "in-memory test delivery"

    @property
    def encrypted(self) -> bool | None:
        return None

    def destination(self, message: CodeMessage) -> str | None:
        try:
            if self.method == "sms":
                return clean_phone(message.phone) or None
            return clean_email(message.email) or None
        except FieldInvalid:
            return None

    def send(self, message: CodeMessage) -> None:
        if message.alert is not None:
            self.alerts.append(message)
            return
        self.attempts += 1
        if self.fail_with is not None:
            self.failed.append(message)
            raise DeliveryError(self.fail_with.replace("{code}", message.code))
        self.sent.append(message)

    @property
    def last_code(self) -> str:
        assert self.sent, "no code was sent"
        return self.sent[-1].code

    def factory(self, settings: DeliverySettings) -> CollectingDelivery:
        self.method = settings.method
        return self


def add_user(
    ctx: CoreContext,
    login: str,
    password: str,
    *,
    email: str | None = None,
    mobile: str = "",
    phone: str = "",
    first_name: str = "",
    last_name: str = "",
    passwords: Passwords | None = None,
) -> int:
    hasher = passwords or cheap_passwords()
    with stage(ctx.db) as s:
        now = ctx.clock.now(s)
        person = Person(
            login=login,
            login_key=login_key(login),
            password_hash=hasher.hash(password),
            group_id=1,
            email=f"{login}@insypro.com" if email is None else email,
            mobile=mobile,
            phone=phone,
            first_name=first_name,
            last_name=last_name or login.capitalize(),
            first_name_key=search_text(first_name),
            last_name_key=search_text(last_name or login.capitalize()),
            email_key=search_text(f"{login}@insypro.com" if email is None else email),
            created_at=now,
            updated_at=now,
        )
        s.add(person)
        s.flush()
        return person.id


def set_security(ctx: CoreContext, **values: Any) -> None:
    """Change the settings row directly (the Security screen's service is tested elsewhere)."""
    with stage(ctx.db) as s:
        row = s.execute(select(SecuritySettings).order_by(SecuritySettings.id)).scalars().first()
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)


def enable_two_factor(ctx: CoreContext, **values: Any) -> None:
    set_security(ctx, two_factor_enabled=True, **values)


def mail_server_down(ctx: CoreContext, port: int) -> None:
    """Codes by plain SMTP to ``port`` on loopback, where no mail server listens (the
    ``closed_port`` fixture): every send fails at connecting."""
    set_security(
        ctx,
        delivery_method="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_from="security@workshop.example",
    )


def service(
    ctx: CoreContext,
    delivery: CollectingDelivery,
    *,
    workstation: str = WORKSTATION,
    afterwards: Afterwards = right_away,
) -> LoginService:
    return LoginService(
        ctx,
        delivery_factory=delivery.factory,
        passwords=cheap_passwords(),
        workstation=workstation,
        afterwards=afterwards,
    )


def audit_events(ctx: CoreContext) -> list[AuditEvent]:
    with stage(ctx.db) as s:
        return list(s.execute(select(AuditEvent).order_by(AuditEvent.id)).scalars())


def person(ctx: CoreContext, person_id: int) -> Person:
    with stage(ctx.db) as s:
        found = s.get(Person, person_id)
        assert found is not None
        return found


# An address the server could see from a workstation on the office network.
ROUTABLE_ADDRESS = "192.0.2.44"


def seen_from_routable_address(monkeypatch: Any, ctx: CoreContext) -> None:
    """The test servers are reached over loopback, which a shared database never trusts
    (trusted_ips.why_not_trustable): for tests of trust itself, make PostgreSQL and MariaDB seem
    to see an office address instead. SQLite already reports the machine's own address."""
    if not ctx.db.is_sqlite:
        monkeypatch.setattr(ctx.db, "client_address", lambda session: ROUTABLE_ADDRESS)
