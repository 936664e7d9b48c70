"""pmdesk network list | add | remove and pmdesk security trust-policy, as real processes signed
in as an administrator (tests/helpers/cli.sign_in_as), on each engine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from pmdesk.core.audit import Event
from pmdesk.core.db import Database
from pmdesk.core.models import OfficeNetwork, SecuritySettings
from tests.helpers.cli import audit_of as events
from tests.helpers.cli import pmdesk_on as pmdesk
from tests.helpers.cli import sign_in_admin, sign_in_as
from tests.helpers.databases import stage
from tests.helpers.office_networks import no_office_networks as no_office_networks
from tests.helpers.staff import add_group, add_person
from tests.helpers.trusted_ips import trust_addresses

DAY = timedelta(days=1)


pytestmark = pytest.mark.usefixtures("no_office_networks")


def _policy(db: Database) -> str:
    with stage(db) as s:
        return str(s.execute(select(SecuritySettings.trust_policy)).scalar_one())


def test_networks_are_added_listed_and_removed(db: Database) -> None:
    sign_in_admin(db)
    code, out, err = pmdesk(db, "network", "list")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["No office networks.", "Trust policy: anywhere"]

    code, out, err = pmdesk(db, "network", "add", "Head office", "10.1.0.0/16", "2001:db8:1::/48")
    assert code == 0, err
    assert out.strip() == "Added the office network Head office: 10.1.0.0/16, 2001:db8:1::/48."
    code, out, err = pmdesk(db, "network", "list")
    header, row, policy = out.splitlines()
    assert header.split() == ["Name", "Ranges"]
    assert "Head office" in row and "10.1.0.0/16, 2001:db8:1::/48" in row
    assert policy == "Trust policy: anywhere"

    code, out, err = pmdesk(db, "network", "remove", "HEAD OFFICE")
    assert code == 0, err
    assert "Removed the office network HEAD OFFICE" in out
    assert [e.subject for e in events(db, Event.NETWORK_ADDED)] == ["office network Head office"]
    assert [e.subject for e in events(db, Event.NETWORK_REMOVED)] == ["office network Head office"]


def test_bad_ranges_and_unknown_names_get_one_clear_line(db: Database) -> None:
    sign_in_admin(db)
    code, out, err = pmdesk(db, "network", "add", "Lab", "10.1.2.3/16")
    assert code == 1 and out == ""
    assert err.startswith("pmdesk: ") and "did you mean 10.1.0.0/16?" in err
    assert err.count("\n") == 1
    code, out, err = pmdesk(db, "network", "remove", "Nowhere")
    assert code == 1
    assert "There is no office network named 'Nowhere'." in err
    assert events(db, Event.NETWORK_ADDED) == []


def test_the_trust_policy_with_a_dry_run_first(db: Database) -> None:
    sign_in_admin(db)
    alice = add_person(db, "alice")
    trust_addresses(db, [(alice, "192.0.2.44", DAY), (alice, "10.1.0.7", DAY)])
    assert pmdesk(db, "network", "add", "Head office", "10.1.0.0/16")[0] == 0

    code, out, err = pmdesk(db, "security", "trust-policy", "office-networks", "--dry-run")
    assert code == 0, err
    assert out.splitlines() == [
        "Trust policy anywhere → office-networks: 1 address stops being trusted, "
        "1 person affected.",
        "Nothing was changed (--dry-run).",
    ]
    assert _policy(db) == "anywhere"

    code, out, err = pmdesk(db, "security", "trust-policy", "office-networks")
    assert code == 0, err
    assert out.startswith("The trust policy is now office-networks: 1 address stops")
    assert _policy(db) == "office-networks"
    (changed,) = events(db, Event.SETTING_CHANGED)
    assert changed.detail == "trust_policy anywhere → office-networks"
    code, out, err = pmdesk(db, "security", "status")
    assert "Trust policy:             office-networks" in out

    code, out, err = pmdesk(db, "ip", "list")
    rows = {line.split()[1]: line for line in out.splitlines()[1:-1]}
    assert "Head office" in rows["10.1.0.7"]
    assert "Outside office networks" in rows["192.0.2.44"]

    code, out, err = pmdesk(db, "network", "remove", "Head office", "--dry-run")
    assert code == 0, err
    assert "1 address stops being trusted, 1 person affected" in out
    assert pmdesk(db, "network", "list")[1].count("Head office") == 1

    code, out, err = pmdesk(db, "security", "trust-policy", "sometimes")
    assert code == 2 and "invalid choice: 'sometimes'" in err


def test_a_clerk_cannot_add_a_network_or_change_the_policy(db: Database) -> None:
    clerks = add_group(db, "Clerks", {"maintenance": "re"})
    add_person(db, "clerk", group_id=clerks)
    sign_in_as(db, "clerk")
    code, _, err = pmdesk(db, "network", "add", "Home", "0.0.0.0/0")
    assert code == 1 and "may not change System → Security" in err
    code, _, err = pmdesk(db, "security", "trust-policy", "never")
    assert code == 1 and "may not" in err
    code, _, err = pmdesk(db, "network", "list")
    assert code == 1 and "may not see System → Security" in err
    with stage(db) as s:
        assert s.execute(select(OfficeNetwork)).first() is None
    assert _policy(db) == "anywhere"
    assert events(db, Event.NETWORK_ADDED) == []


def test_a_shorter_trust_period_says_what_it_ends_first(db: Database) -> None:
    """Issue 16 §7: the trust period too is previewed (``--dry-run``) and the change says what
    it ended; a longer period ends nothing."""
    sign_in_admin(db)
    alice, bob = add_person(db, "alice"), add_person(db, "bob")
    trust_addresses(
        db,
        [(alice, "192.0.2.44", 20 * DAY), (bob, "192.0.2.45", 12 * DAY), (bob, "10.1.0.7", DAY)],
    )

    code, out, err = pmdesk(db, "security", "set", "--trust-days", "10", "--dry-run")
    assert code == 0, err
    assert out.splitlines() == [
        "Trust period 30 → 10 days: 2 addresses stop being trusted, 2 people affected.",
        "Nothing was changed (--dry-run).",
    ]
    assert events(db, Event.SETTING_CHANGED) == []

    code, out, err = pmdesk(db, "security", "set", "--trust-days", "15")
    assert code == 0, err
    assert "With the shorter trust period, 1 address stops being trusted, 1 person affected." in out
    code, out, err = pmdesk(db, "security", "set", "--trust-days", "60", "--dry-run")
    assert out.splitlines() == [
        "No trusted address is affected.",
        "Nothing was changed (--dry-run).",
    ]
    code, out, err = pmdesk(db, "security", "set", "--trust-days", "0", "--dry-run")
    assert code == 1 and "from 1 to 90" in err
