"""Trust alerts in client mode (issue 16 §4), on every engine, with a real SMTP server: a trust
outside the office networks mails the person and the helpdesk mailbox; inside, nothing; a mail
server that is down never stops the sign-in, and the Log says the alert was not sent.

On a hardened PostgreSQL the server queues the alerts and the relay sends them:
tests/core/test_trust_alerts_server.py."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pmdesk.core.afterwards import OneWorker
from pmdesk.core.audit import Event
from pmdesk.core.auth import LoginService
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.login_results import CodeNeeded, SignedIn
from pmdesk.core.models import OfficeNetwork, TrustedIp
from pmdesk.core.trust_alerts import BY_EMAIL_ONLY
from pmdesk.core.trusted_ips import TrustedIpService
from tests.helpers.databases import stage
from tests.helpers.hardened import SIGN_IN_TRUST
from tests.helpers.login import (
    ROUTABLE_ADDRESS,
    WORKSTATION,
    CollectingDelivery,
    add_user,
    audit_events,
    cheap_passwords,
    enable_two_factor,
    service,
    set_security,
)
from tests.helpers.smtp import SENDER, SmtpServer
from tests.helpers.staff import actor

PASSWORD = "Spring-Tide-42"
HELPDESK = "helpdesk@workshop.example"

pytestmark = SIGN_IN_TRUST


@pytest.fixture
def routable(monkeypatch: pytest.MonkeyPatch, ctx: CoreContext) -> str:
    """Every engine sees the workstation at one routable address (loopback is never trusted
    on a shared database; SQLite's own address is this machine's)."""
    monkeypatch.setattr(ctx.db, "client_address", lambda session: ROUTABLE_ADDRESS)
    return ROUTABLE_ADDRESS


def _smtp(ctx: CoreContext, server: SmtpServer, **extra: Any) -> None:
    enable_two_factor(
        ctx,
        delivery_method="smtp",
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_security="none",
        smtp_username="",
        smtp_from=SENDER,
        helpdesk_mailbox=f"Helpdesk <{HELPDESK}>",
        **extra,
    )


def _sign_in_trusting(ctx: CoreContext, server: SmtpServer, *, port: int | None = None) -> Any:
    login = LoginService(ctx, passwords=cheap_passwords(), workstation=WORKSTATION)
    needed = login.begin("anne", PASSWORD)
    assert isinstance(needed, CodeNeeded), needed
    code = server.received[-1].code
    if port is not None:  # the mail server goes away between the code and the sign-in
        set_security(ctx, smtp_port=port)
    return login.verify(needed.challenge_id, code, trust_this_ip=True)


def _trusted_ids(ctx: CoreContext) -> list[int]:
    with stage(ctx.db) as s:
        return list(s.execute(select(TrustedIp.id)).scalars())


def _events(ctx: CoreContext, event: Event) -> list[str]:
    return [e.detail for e in audit_events(ctx) if e.event == event]


def test_a_trust_outside_the_office_networks_mails_the_person_and_the_helpdesk(
    ctx: CoreContext, clock: ShiftedClock, routable: str, smtp_plain_server: SmtpServer
) -> None:
    add_user(ctx, "anne", PASSWORD, first_name="Anne", last_name="Peeters")
    _smtp(ctx, smtp_plain_server)

    signed = _sign_in_trusting(ctx, smtp_plain_server)

    assert isinstance(signed, SignedIn), signed
    [reference] = _trusted_ids(ctx)
    alerts = smtp_plain_server.received[1:]
    assert sorted(mail.rcpt_tos[0] for mail in alerts) == sorted(["anne@insypro.com", HELPDESK])
    for mail in alerts:
        assert mail.message["Subject"] == "pmdesk: new trusted address for anne"
        text = mail.text
        assert f"Address:      {routable}" in text
        assert f"Workstation:  {WORKSTATION}" in text
        assert " UTC (" in text
        assert f"Not you? Call the helpdesk (reference #{reference})." in text
    sent = [e for e in audit_events(ctx) if e.event == Event.ALERT_SENT]
    assert {(e.actor, e.subject, e.address, e.workstation) for e in sent} == {
        ("anne", "anne", routable, WORKSTATION)  # as the relay writes them on a hardened database
    }
    assert sorted(_events(ctx, Event.ALERT_SENT)) == [
        f"to a***@insypro.com (reference #{reference})",
        f"to h***@workshop.example (reference #{reference})",
    ]

    # Signing in again while the trust is valid is no new trust: no new alert.
    clock.advance(timedelta(minutes=5))
    again = LoginService(ctx, passwords=cheap_passwords(), workstation=WORKSTATION)
    assert isinstance(again.begin("anne", PASSWORD), SignedIn)
    assert len(smtp_plain_server.received) == 3


def test_a_trust_inside_an_office_network_sends_no_alert(
    ctx: CoreContext, routable: str, smtp_plain_server: SmtpServer
) -> None:
    add_user(ctx, "anne", PASSWORD)
    _smtp(ctx, smtp_plain_server)
    with stage(ctx.db) as s:
        s.add(
            OfficeNetwork(
                name="Head office",
                name_key="head office",
                ranges="192.0.2.0/24",
                created_at=ctx.clock.now(s),
            )
        )

    signed = _sign_in_trusting(ctx, smtp_plain_server)

    assert isinstance(signed, SignedIn), signed
    assert len(_trusted_ids(ctx)) == 1  # trusted, as asked
    assert len(smtp_plain_server.received) == 1  # the code, and nothing else
    assert _events(ctx, Event.ALERT_SENT) == _events(ctx, Event.ALERT_FAILED) == []


def test_a_mail_server_that_is_down_never_stops_the_sign_in(
    ctx: CoreContext, routable: str, smtp_plain_server: SmtpServer, closed_port: int
) -> None:
    add_user(ctx, "anne", PASSWORD)
    _smtp(ctx, smtp_plain_server)

    signed = _sign_in_trusting(ctx, smtp_plain_server, port=closed_port)

    assert isinstance(signed, SignedIn), signed
    [reference] = _trusted_ids(ctx)
    failed = _events(ctx, Event.ALERT_FAILED)
    assert len(failed) == 2, failed
    assert all(f"(reference #{reference}): " in detail for detail in failed)
    assert _events(ctx, Event.ALERT_SENT) == []
    assert Event.LOGIN_SUCCEEDED in [e.event for e in audit_events(ctx)]


def test_ip_trust_by_an_administrator_writes_the_alert_to_the_outbox(
    ctx: CoreContext, tmp_path: Path
) -> None:
    boss = add_user(ctx, "boss", PASSWORD)
    anne = add_user(ctx, "anne", PASSWORD, email="anne@example.com")
    set_security(ctx, delivery_method="outbox", helpdesk_mailbox=HELPDESK)

    row = TrustedIpService(ctx).trust_by_admin(actor(boss, "boss"), anne, "198.51.100.7")

    files = sorted((tmp_path / "outbox").glob("*.eml"))
    assert len(files) == 2
    texts = [f.read_text() for f in files]
    assert all(f"reference #{row.id}" in t and "198.51.100.7" in t for t in texts)
    assert sorted(t.split("\nTo: ")[1].split("\n")[0] for t in texts) == sorted(
        ["Anne <anne@example.com>", HELPDESK]
    )
    assert len(_events(ctx, Event.ALERT_SENT)) == 2


def test_with_codes_by_text_message_the_log_says_no_alert_went_out(
    ctx: CoreContext, routable: str
) -> None:
    add_user(ctx, "anne", PASSWORD, mobile="+32470123456")
    enable_two_factor(ctx, delivery_method="sms", sms_url="https://sms.example.com/send")
    delivery = CollectingDelivery()
    login = service(ctx, delivery)
    needed = login.begin("anne", PASSWORD)
    assert isinstance(needed, CodeNeeded), needed

    signed = login.verify(needed.challenge_id, delivery.last_code, trust_this_ip=True)

    assert isinstance(signed, SignedIn), signed
    assert len(delivery.sent) == 1 and delivery.alerts == []  # the code only
    [failed] = _events(ctx, Event.ALERT_FAILED)
    assert failed.endswith(BY_EMAIL_ONLY)


def test_the_desktop_signs_in_without_waiting_for_the_trust_alert(
    ctx: CoreContext, routable: str, smtp_plain_server: SmtpServer
) -> None:
    """On the desktop the alert goes out on a thread of its own (OneWorker): the code step
    returns while the mail server is still slow to take it; at exit the alert is finished,
    sent and logged."""
    add_user(ctx, "anne", PASSWORD, first_name="Anne", last_name="Peeters")
    _smtp(ctx, smtp_plain_server)
    afterwards = OneWorker()
    login = LoginService(
        ctx, passwords=cheap_passwords(), workstation=WORKSTATION, afterwards=afterwards
    )
    needed = login.begin("anne", PASSWORD)
    assert isinstance(needed, CodeNeeded), needed
    code = smtp_plain_server.received[-1].code
    release = threading.Event()
    afterwards(lambda: release.wait(30))  # the mail server keeps the thread busy meanwhile

    signed = login.verify(needed.challenge_id, code, trust_this_ip=True)

    assert isinstance(signed, SignedIn), signed
    assert len(smtp_plain_server.received) == 1, "the alert waits behind the busy thread"
    assert _events(ctx, Event.ALERT_SENT) == []
    release.set()
    assert afterwards.finish(30)
    [reference] = _trusted_ids(ctx)
    assert sorted(_events(ctx, Event.ALERT_SENT)) == [
        f"to a***@insypro.com (reference #{reference})",
        f"to h***@workshop.example (reference #{reference})",
    ]
    assert len(smtp_plain_server.received) == 3
