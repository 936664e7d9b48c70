"""The mail server is down, hangs, or shows a certificate nobody trusts, just as someone signs
in: the login says so in one clear sentence, the attempt stays usable (a new code can be sent at
once, once the server is back), and the failed sends never count towards the account lockout.
Real aiosmtpd servers on loopback; the hanging one accepts TCP and never answers.
"""

from __future__ import annotations

import ssl

import pytest
from sqlalchemy import select

from pmdesk.core.audit import Event
from pmdesk.core.auth import CodeNeeded, LoginService, SignedIn
from pmdesk.core.context import CoreContext
from pmdesk.core.delivery.base import Delivery, DeliverySettings
from pmdesk.core.delivery.factory import delivery_for
from pmdesk.core.models import AuditEvent, LoginChallenge
from tests.helpers.cli import database_arg, run_pmdesk
from tests.helpers.login import add_user, cheap_passwords, person, set_security
from tests.helpers.smtp import LOOPBACK, SENDER, SmtpServer

PASSWORD = "Alice-Password-1"
TIMEOUT = 0.3


def smtp_login(ctx: CoreContext, client_context: ssl.SSLContext) -> LoginService:
    def factory(settings: DeliverySettings) -> Delivery:
        return delivery_for(
            settings, ctx.secrets, ctx.outbox_default, ssl_context=client_context, timeout=TIMEOUT
        )

    return LoginService(ctx, delivery_factory=factory, passwords=cheap_passwords())


def use_server(ctx: CoreContext, port: int, security: str = "starttls") -> None:
    set_security(
        ctx,
        two_factor_enabled=True,
        delivery_method="smtp",
        smtp_host=LOOPBACK,
        smtp_port=port,
        smtp_security=security,
        smtp_from=SENDER,
    )


@pytest.fixture
def alice(sqlite_ctx: CoreContext) -> int:
    return add_user(sqlite_ctx, "alice", PASSWORD, email="alice@workshop.example")


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("down", "Could not connect to the mail server 127.0.0.1:"),
        ("hanging", f"did not answer within {TIMEOUT:g} seconds"),
        ("untrusted certificate", "not trusted"),
    ],
)
def test_a_mail_server_fault_is_one_clear_message_and_the_attempt_survives(
    sqlite_ctx: CoreContext,
    alice: int,
    fault: str,
    expected: str,
    closed_port: int,
    smtp_hanging_server: SmtpServer,
    smtp_self_signed_server: SmtpServer,
    smtp_starttls_server: SmtpServer,
    test_client_context: ssl.SSLContext,
) -> None:
    ctx = sqlite_ctx
    port = {
        "down": closed_port,
        "hanging": smtp_hanging_server.port,
        "untrusted certificate": smtp_self_signed_server.port,
    }[fault]
    use_server(ctx, port)
    login = smtp_login(ctx, test_client_context)

    # Ten tries while the server is broken (people retry): as many as would lock the account
    # if they counted as failures. Never a lock, never a crash.
    for _ in range(10):
        needed = login.begin("alice", PASSWORD)
        assert isinstance(needed, CodeNeeded)
        assert needed.delivery_error is not None
        assert expected in needed.delivery_error, needed.delivery_error
        assert "\n" not in needed.delivery_error and "Traceback" not in needed.delivery_error
        assert needed.resend_after <= needed.expires_at  # a new code may be asked for at once
    assert person(ctx, alice).failed_logins == 0
    assert person(ctx, alice).locked_until is None
    assert smtp_self_signed_server.received == [], "nothing went to an untrusted server"
    with ctx.db.session() as s:
        challenge = s.get(LoginChallenge, needed.challenge_id)
        assert challenge is not None
        assert (challenge.attempts, challenge.voided, challenge.used_at) == (0, False, None)
        assert challenge.last_sent_at is None, "nothing went out: resending is allowed now"
        failed = s.execute(
            select(AuditEvent.detail).where(AuditEvent.event == Event.CODE_SEND_FAILED.value)
        ).scalars()
        assert all(expected in detail for detail in failed)

    # The server is back (or fixed): "Send a new code" on the same attempt, and sign in.
    use_server(ctx, smtp_starttls_server.port)
    renewed = login.resend(needed.challenge_id)
    assert isinstance(renewed, CodeNeeded), renewed
    assert renewed.delivery_error is None
    code = smtp_starttls_server.received[-1].code
    assert isinstance(login.verify(needed.challenge_id, code, False), SignedIn)


@pytest.mark.slow
def test_the_command_line_shows_the_mail_fault(
    sqlite_ctx: CoreContext, alice: int, closed_port: int
) -> None:
    use_server(sqlite_ctx, closed_port)
    url = database_arg(sqlite_ctx.db)
    result = run_pmdesk(
        "--database", url, "login", "alice", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    expected = f"could not be sent: Could not connect to the mail server 127.0.0.1:{closed_port}"
    assert expected in result.stderr
    assert result.stderr.strip().endswith("pmdesk: No security code entered.")
