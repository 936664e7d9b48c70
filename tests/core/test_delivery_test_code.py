"""'Send test code' (System → Security and ``pmdesk mail test``): sent, audited, on every engine."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest
from sqlalchemy import select

from pmdesk.core import codes
from pmdesk.core.audit import Event
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.delivery.base import DeliveryError
from pmdesk.core.errors import PermissionDenied
from pmdesk.core.models import AuditEvent
from pmdesk.core.security import SecurityService
from pmdesk.secrets import smtp_key
from tests.helpers.databases import stage
from tests.helpers.hardened import RELAY_DELIVERS
from tests.helpers.smtp import SmtpServer
from tests.helpers.staff import actor, add_group, add_person


def audit_rows(ctx: CoreContext) -> list[AuditEvent]:
    with stage(ctx.db) as s:
        return list(
            s.execute(
                select(AuditEvent)
                .where(AuditEvent.event == Event.MAIL_TEST_SENT.value)
                .order_by(AuditEvent.id)
            ).scalars()
        )


@RELAY_DELIVERS
def test_outbox_test_message_is_written_and_audited(ctx: CoreContext) -> None:
    admin = actor(add_person(ctx.db, "root"), "root", address="10.1.2.3")
    sent = SecurityService(ctx).send_test_code(admin, " helpdesk@workshop.example ")

    assert sent.destination == "helpdesk@workshop.example"
    assert sent.file is not None and sent.file.parent == ctx.outbox_default
    mail = email.message_from_bytes(sent.file.read_bytes(), policy=email.policy.default)
    assert mail["Subject"] == "pmdesk security code (test)"
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    assert "THIS IS A TEST" in text
    assert "10.1.2.3" in text
    assert "signs nobody in" in text and "valid for" not in text

    [row] = audit_rows(ctx)
    assert row.actor == "root"
    assert row.subject == "helpdesk@workshop.example"
    assert row.detail.startswith("Outbox folder (for trying pmdesk out; nothing is sent)")
    assert row.address == "10.1.2.3"


@RELAY_DELIVERS
def test_the_test_code_comes_from_the_code_generator(
    ctx: CoreContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codes, "new_code", lambda: "004271")
    sent = SecurityService(ctx).send_test_code(Actor.command_line(), "helpdesk@workshop.example")
    assert sent.file is not None
    mail = email.message_from_bytes(sent.file.read_bytes(), policy=email.policy.default)
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None and "004271" in body.get_content()


@RELAY_DELIVERS
def test_smtp_test_message_with_the_keyring_password(
    ctx: CoreContext, smtp_auth_server: SmtpServer
) -> None:
    SecurityService(ctx).update_delivery(
        Actor.command_line(), smtp_auth_server.settings("starttls", username="mailer")
    )
    ctx.secrets.set(smtp_key(smtp_auth_server.host, "mailer"), smtp_auth_server.password)

    sent = SecurityService(ctx).send_test_code(
        Actor.command_line(),
        "anna@workshop.example",
        ssl_context=smtp_auth_server.client_context,
    )

    assert sent.file is None
    assert sent.label == f"E-mail via 127.0.0.1:{smtp_auth_server.port} (STARTTLS)"
    [mail] = smtp_auth_server.received
    assert mail.rcpt_tos == ["anna@workshop.example"]
    assert "THIS IS A TEST" in mail.text
    assert len(mail.code) == 6
    [row] = audit_rows(ctx)
    assert mail.code not in row.detail + row.subject


@RELAY_DELIVERS
def test_failed_test_is_not_audited_as_sent(ctx: CoreContext, closed_port: int) -> None:
    server = SmtpServer(host="127.0.0.1", port=closed_port)
    SecurityService(ctx).update_delivery(Actor.command_line(), server.settings("starttls"))
    with pytest.raises(DeliveryError, match="connection refused"):
        SecurityService(ctx).send_test_code(
            Actor.command_line(), "anna@workshop.example", timeout=2
        )
    assert audit_rows(ctx) == []


@RELAY_DELIVERS
def test_bad_address(ctx: CoreContext) -> None:
    with pytest.raises(DeliveryError, match="'anna@' is not a valid e-mail address"):
        SecurityService(ctx).send_test_code(Actor.command_line(), "anna@")
    assert not Path(ctx.outbox_default).exists()


def test_needs_the_right_to_change_security_settings(ctx: CoreContext) -> None:
    viewers = add_group(ctx.db, "Viewers", {"system.security": "r"})
    viewer = actor(add_person(ctx.db, "viewer", group_id=viewers), "viewer")
    with pytest.raises(PermissionDenied):
        SecurityService(ctx).send_test_code(viewer, "viewer@example.com")
    assert audit_rows(ctx) == []
    assert not Path(ctx.outbox_default).exists()
