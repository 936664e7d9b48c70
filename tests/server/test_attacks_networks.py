"""The attack suite, office networks and the trust policy (issue 16 §1) on a hardened
PostgreSQL: raw SQL as the workstation role, presenting a real session's token.

A clerk cannot add an office network or loosen the policy; an administrator's own session
cannot trust an address outside the office networks by writing the row itself; the function
the sign-in's code step asks (``trust_refusal``, which check_code calls before trusting) says
what the client says. The owner sets the stage and reads back what changed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pmdesk.core.office_networks import NEVER_REFUSAL, OUTSIDE_REFUSAL
from tests.helpers.databases import HardenedDatabase, hardened_or_skip
from tests.helpers.pg import connect
from tests.server.test_attacks_rules import attempt, owner_sql, refusal
from tests.server.test_attacks_rules import office as office  # the fixture, reused


@pytest.fixture(scope="module")
def hardened() -> Iterator[HardenedDatabase]:
    with hardened_or_skip() as made:
        yield made


@pytest.fixture
def networks(hardened: HardenedDatabase, office: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The office of test_attacks_rules with a Head office network, the policy office-networks."""
    owner_sql(
        hardened,
        "INSERT INTO pmdesk.office_networks (name, name_key, ranges, created_at) "
        "VALUES ('Head office', 'head office', '10.1.0.0/16', pmdesk.now())",
    )
    owner_sql(hardened, "UPDATE pmdesk.security_settings SET trust_policy = 'office-networks'")
    yield office
    owner_sql(hardened, "DELETE FROM pmdesk.office_networks")
    owner_sql(hardened, "UPDATE pmdesk.security_settings SET trust_policy = 'anywhere'")


def _state(hardened: HardenedDatabase) -> dict[str, Any]:
    return {
        "networks": owner_sql(hardened, "SELECT id, name, ranges FROM pmdesk.office_networks"),
        "policy": owner_sql(hardened, "SELECT trust_policy, version FROM pmdesk.security_settings"),
        "trusted": owner_sql(hardened, "SELECT person_id, address FROM pmdesk.trusted_ips"),
    }


def test_a_clerk_cannot_add_change_or_remove_an_office_network(
    hardened: HardenedDatabase, networks: dict[str, Any]
) -> None:
    before = _state(hardened)
    clerk = networks["tokens"]["anne"]
    for statement in (
        "INSERT INTO pmdesk.office_networks (name, name_key, ranges, created_at) "
        "VALUES ('Home', 'home', '0.0.0.0/0', now())",
        "UPDATE pmdesk.office_networks SET ranges = '0.0.0.0/0'",
        "DELETE FROM pmdesk.office_networks",
    ):
        failed = refusal(hardened, clerk, statement)
        assert failed.sqlstate in {"PMD01", "42501"}, (statement, failed)
    assert _state(hardened) == before


def test_a_clerk_cannot_loosen_the_trust_policy(
    hardened: HardenedDatabase, networks: dict[str, Any]
) -> None:
    before = _state(hardened)
    failed = refusal(
        hardened,
        networks["tokens"]["anne"],
        "UPDATE pmdesk.security_settings SET trust_policy = 'anywhere'",
    )
    assert failed.sqlstate == "PMD01"
    assert _state(hardened) == before


def test_without_a_session_nothing_about_office_networks_is_read_or_written(
    hardened: HardenedDatabase, networks: dict[str, Any]
) -> None:
    before = _state(hardened)
    assert attempt(hardened, None, "SELECT * FROM pmdesk.office_networks") == [0]
    refusal(hardened, None, "DELETE FROM pmdesk.office_networks WHERE true")
    assert _state(hardened) == before


def test_an_administrator_cannot_trust_an_address_outside_the_office_networks_by_hand(
    hardened: HardenedDatabase, networks: dict[str, Any]
) -> None:
    boss, anne = networks["tokens"]["boss"], networks["ids"]["anne"]
    before = _state(hardened)
    insert = (
        "INSERT INTO pmdesk.trusted_ips (person_id, address, created_at) "
        f"VALUES ({anne}, '{{}}', now())"
    )
    failed = refusal(hardened, boss, insert.format("192.0.2.7"))
    assert failed.sqlstate == "PMD05"
    assert OUTSIDE_REFUSAL in str(failed)
    assert _state(hardened) == before
    # The control: inside the office network the same statement is accepted.
    assert attempt(hardened, boss, insert.format("10.1.0.5")) == [1]
    assert owner_sql(hardened, "SELECT address FROM pmdesk.trusted_ips") == [("10.1.0.5",)]


@pytest.mark.parametrize(
    ("policy", "address", "expected"),
    [
        ("office-networks", "192.0.2.7", OUTSIDE_REFUSAL),
        ("office-networks", "10.1.200.3", None),
        ("never", "10.1.200.3", NEVER_REFUSAL),
        ("anywhere", "192.0.2.7", None),
    ],
)
def test_the_code_steps_trust_check_says_what_the_client_says(
    hardened: HardenedDatabase,
    networks: dict[str, Any],
    policy: str,
    address: str,
    expected: str | None,
) -> None:
    """check_code trusts only when trust_refusal(the challenge's address) is NULL; a clerk's
    own session asks it as the workstation, with the same sentences as the client."""
    owner_sql(hardened, "UPDATE pmdesk.security_settings SET trust_policy = %s", policy)
    with connect(hardened.workstation_url) as conn:
        conn.execute(
            "SELECT set_config('pmdesk.session', %s, false)", (networks["tokens"]["anne"],)
        )
        (answer,) = conn.execute("SELECT pmdesk.trust_refusal(%s)", (address,)).fetchone() or (
            "no row",
        )
    assert answer == expected


def test_the_first_runs_policy_function_does_nothing_once_anyone_can_sign_in(
    hardened: HardenedDatabase, office: dict[str, Any]
) -> None:
    """``start_new_database`` sets office-networks only while nobody can sign in (the first
    run); with people who can, neither a session nor its absence makes it change anything."""
    owner_sql(hardened, "UPDATE pmdesk.security_settings SET trust_policy = 'anywhere'")
    before = _state(hardened)
    attempt(hardened, None, "SELECT pmdesk.start_new_database()")
    for token in office["tokens"].values():
        attempt(hardened, token, "SELECT pmdesk.start_new_database()")
    assert _state(hardened) == before
