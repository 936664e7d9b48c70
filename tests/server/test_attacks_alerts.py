"""The attack suite, trust alerts (issue 16 §4) on a hardened PostgreSQL: raw SQL as the
workstation role, presenting a real session's token.

A trust outside the office networks always queues its alerts, whoever writes the row; the
workstation can neither read, change nor delete a queued alert, nor switch the trigger off; the
helpdesk mailbox is one e-mail address, changed only with System → Security Edit. The owner
sets the stage and reads back what changed; each refusal has its control.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.helpers.databases import HardenedDatabase, hardened_or_skip
from tests.server.test_attacks_rules import attempt, owner_sql, refusal
from tests.server.test_attacks_rules import office as office  # the fixture, reused

HELPDESK = "helpdesk@workshop.example"


@pytest.fixture(scope="module")
def hardened() -> Iterator[HardenedDatabase]:
    with hardened_or_skip() as made:
        yield made


@pytest.fixture
def alerts(hardened: HardenedDatabase, office: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The office of test_attacks_rules, a helpdesk mailbox, and a Head office network."""
    owner_sql(hardened, "UPDATE pmdesk.security_settings SET helpdesk_mailbox = %s", HELPDESK)
    owner_sql(
        hardened,
        "INSERT INTO pmdesk.office_networks (name, name_key, ranges, created_at) "
        "VALUES ('Head office', 'head office', '10.1.0.0/16', pmdesk.now())",
    )
    yield office
    owner_sql(hardened, "DELETE FROM pmdesk.code_queue")
    owner_sql(hardened, "DELETE FROM pmdesk.office_networks")
    owner_sql(hardened, "UPDATE pmdesk.security_settings SET helpdesk_mailbox = ''")


def _queued(hardened: HardenedDatabase) -> list[tuple[Any, ...]]:
    return owner_sql(
        hardened,
        "SELECT kind, state, destination, requested_from, reference FROM pmdesk.code_queue "
        "ORDER BY id",
    )


def _trust(anne: int, address: str) -> str:
    return (
        "INSERT INTO pmdesk.trusted_ips (person_id, address, created_at) "
        f"VALUES ({anne}, '{address}', now())"
    )


def test_a_trust_outside_the_office_networks_always_queues_its_alerts(
    hardened: HardenedDatabase, alerts: dict[str, Any]
) -> None:
    boss, anne = alerts["tokens"]["boss"], alerts["ids"]["anne"]

    assert attempt(hardened, boss, _trust(anne, "10.1.4.4")) == [1]  # inside: no alert
    assert _queued(hardened) == []

    assert attempt(hardened, boss, _trust(anne, "192.0.2.7")) == [1]
    [(reference,)] = owner_sql(
        hardened, "SELECT id FROM pmdesk.trusted_ips WHERE address = '192.0.2.7'"
    )
    assert _queued(hardened) == [
        ("alert", "queued", "anne@insypro.com", "192.0.2.7", reference),
        ("alert", "queued", HELPDESK, "192.0.2.7", reference),
    ]


def test_the_workstation_cannot_read_change_or_delete_a_queued_alert(
    hardened: HardenedDatabase, alerts: dict[str, Any]
) -> None:
    boss, anne = alerts["tokens"]["boss"], alerts["ids"]["anne"]
    attempt(hardened, boss, _trust(anne, "192.0.2.8"))
    before = _queued(hardened)
    assert len(before) == 2

    for statement in (
        "SELECT * FROM pmdesk.code_queue",
        "DELETE FROM pmdesk.code_queue WHERE kind = 'alert'",
        "UPDATE pmdesk.code_queue SET state = 'dropped' WHERE kind = 'alert'",
        "UPDATE pmdesk.code_queue SET destination = 'attacker@evil.example'",
        "ALTER TABLE pmdesk.trusted_ips DISABLE TRIGGER pmdesk_trust_alert",
        "DROP TRIGGER pmdesk_trust_alert ON pmdesk.trusted_ips",
        "SELECT pmdesk.office_network_of('192.0.2.8')",
    ):
        failed = refusal(hardened, boss, statement)
        assert failed.sqlstate in {"42501", "42883"}, (statement, failed)  # no right / no such
    assert _queued(hardened) == before

    # Removing the trust and trusting the address again queues the alerts again.
    assert attempt(hardened, boss, "DELETE FROM pmdesk.trusted_ips") == [1]
    attempt(hardened, boss, _trust(anne, "192.0.2.8"))
    assert len(_queued(hardened)) == 4


def test_the_helpdesk_mailbox_is_one_address_set_with_security_edit(
    hardened: HardenedDatabase, alerts: dict[str, Any]
) -> None:
    boss, clerk = alerts["tokens"]["boss"], alerts["tokens"]["anne"]
    change = "UPDATE pmdesk.security_settings SET helpdesk_mailbox = '{}'"

    for bad in ("a@example.com, thief@evil.example", "not an address", "x@y.z\nBcc: t@e.x"):
        failed = refusal(hardened, boss, change.format(bad))
        assert failed.sqlstate == "PMD05", (bad, failed)
    assert refusal(hardened, clerk, change.format("thief@evil.example")).sqlstate == "PMD01"
    assert owner_sql(hardened, "SELECT helpdesk_mailbox FROM pmdesk.security_settings") == [
        (HELPDESK,)
    ]

    # The control: one address, bare or with a name, by someone with Security Edit.
    assert attempt(hardened, boss, change.format("IT Helpdesk <it@workshop.example>")) == [1]
    assert owner_sql(hardened, "SELECT helpdesk_mailbox FROM pmdesk.security_settings") == [
        ("IT Helpdesk <it@workshop.example>",)
    ]
