"""Trust alerts on a hardened PostgreSQL (issue 16 §4): the server queues them in the
transaction that trusts the address (the trigger of ``alerts_sql``), the relay sends them at
most once, with a real SMTP server, and the Log says how it went.

The workstation's side of it (it cannot suppress an alert) is tests/server/test_attacks_alerts.py;
the client's own alerts on the other engines tests/core/test_trust_alerts.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pmdesk.core.delivery.base import ALERT_BY_EMAIL_ONLY
from pmdesk.core.relay import Relay
from pmdesk.secrets import MemoryStore
from tests.helpers.databases import HardenedDatabase
from tests.helpers.pg import sql
from tests.helpers.relay import audit_rows, relay_fixtures, relay_url, use_smtp
from tests.helpers.smtp import SmtpServer

hardened, anne = relay_fixtures()
HELPDESK = "helpdesk@workshop.example"


@pytest.fixture
def helpdesk(hardened: HardenedDatabase) -> Iterator[str]:
    sql(
        hardened.owner_url,
        "UPDATE pmdesk.security_settings SET helpdesk_mailbox = %s",
        f"Helpdesk <{HELPDESK}>",
    )
    yield HELPDESK
    sql(hardened.owner_url, "UPDATE pmdesk.security_settings SET helpdesk_mailbox = ''")
    sql(hardened.owner_url, "DELETE FROM pmdesk.office_networks")


def _trust_at_sign_in(hardened: HardenedDatabase, person: int, address: str) -> int:
    """What check_code does once the code matched and "Trust this IP" was ticked (its caller
    checked the address may be trusted): the test's loopback address never may."""
    sql(
        hardened.owner_url,
        "SELECT pmdesk.trust_address_internal(p, %s, 'ws-home-7', pmdesk.now()) "
        "FROM pmdesk.personnel p WHERE p.id = %s",
        address,
        person,
    )
    [(row_id,)] = sql(
        hardened.owner_url, "SELECT id FROM pmdesk.trusted_ips WHERE address = %s", address
    )
    return int(row_id)


def _relay_once(hardened: HardenedDatabase, tmp_path: Path) -> None:
    relay = Relay(relay_url(hardened), secrets=MemoryStore(), outbox_default=tmp_path / "outbox")
    assert relay.run(once=True) == 0


def _states(hardened: HardenedDatabase) -> list[tuple[str, str]]:
    return [
        (str(kind), str(state))
        for kind, state in sql(
            hardened.owner_url, "SELECT kind, state FROM pmdesk.code_queue ORDER BY id"
        )
    ]


def test_the_relay_mails_the_alert_to_the_person_and_the_helpdesk_once(
    hardened: HardenedDatabase,
    anne: int,
    helpdesk: str,
    smtp_plain_server: SmtpServer,
    tmp_path: Path,
) -> None:
    use_smtp(hardened, smtp_plain_server.host, smtp_plain_server.port)
    reference = _trust_at_sign_in(hardened, anne, "198.51.100.23")

    _relay_once(hardened, tmp_path)
    _relay_once(hardened, tmp_path)  # never twice

    mails = smtp_plain_server.received
    assert sorted(m.rcpt_tos[0] for m in mails) == sorted(["anne@example.com", helpdesk])
    for mail in mails:
        assert mail.message["Subject"] == "pmdesk: new trusted address for anne"
        assert "Address:      198.51.100.23" in mail.text
        assert "Workstation:  ws-home-7" in mail.text
        assert f"Not you? Call the helpdesk (reference #{reference})." in mail.text
    assert _states(hardened) == [("alert", "sent"), ("alert", "sent")]
    assert [(actor, detail) for actor, _, _, _, detail in audit_rows(hardened, "alert.sent")] == [
        ("anne", f"to a***@example.com (reference #{reference})"),
        ("anne", f"to h***@workshop.example (reference #{reference})"),
    ]


def test_inside_an_office_network_the_server_queues_nothing(
    hardened: HardenedDatabase, anne: int, helpdesk: str
) -> None:
    sql(
        hardened.owner_url,
        "INSERT INTO pmdesk.office_networks (name, name_key, ranges, created_at) "
        "VALUES ('Head office', 'head office', '198.51.100.0/24', pmdesk.now())",
    )
    _trust_at_sign_in(hardened, anne, "198.51.100.23")
    assert _states(hardened) == []


def test_a_mail_server_that_is_down_leaves_alert_failed_in_the_log(
    hardened: HardenedDatabase,
    anne: int,
    helpdesk: str,
    closed_port: int,
    tmp_path: Path,
) -> None:
    use_smtp(hardened, "127.0.0.1", closed_port)
    reference = _trust_at_sign_in(hardened, anne, "198.51.100.24")

    _relay_once(hardened, tmp_path)

    assert _states(hardened) == [("alert", "failed"), ("alert", "failed")]
    failed = [detail for *_, detail in audit_rows(hardened, "alert.failed")]
    assert len(failed) == 2
    assert all(f"(reference #{reference}): " in detail for detail in failed)
    assert audit_rows(hardened, "code.send_failed") == []


def test_with_codes_by_text_message_the_relay_logs_that_no_alert_went_out(
    hardened: HardenedDatabase, anne: int, helpdesk: str, tmp_path: Path
) -> None:
    sql(
        hardened.owner_url,
        "UPDATE pmdesk.security_settings SET delivery_method = 'sms', "
        "sms_url = 'https://sms.example.com/send'",
    )
    _trust_at_sign_in(hardened, anne, "198.51.100.25")

    _relay_once(hardened, tmp_path)

    assert _states(hardened) == [("alert", "failed"), ("alert", "failed")]
    failed = [detail for *_, detail in audit_rows(hardened, "alert.failed")]
    assert len(failed) == 2 and all(d.endswith(ALERT_BY_EMAIL_ONLY) for d in failed)
    assert sql(hardened.owner_url, "SELECT count(*) FROM pmdesk.delivery_outcomes") == [(0,)]
