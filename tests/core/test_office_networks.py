"""Office networks and the trust policy: validation, rights, audit, where trust is refused, the
network each trusted address lies in, and how many trusted addresses a change stops."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from pmdesk.core.audit import Event
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import NotFound, PermissionDenied, ValidationError
from pmdesk.core.models import AuditEvent, SecuritySettings
from pmdesk.core.office_networks import (
    NEVER_REFUSAL,
    OUTSIDE,
    OUTSIDE_REFUSAL,
    OfficeNetworkService,
    TrustDecision,
)
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.core.security import SecurityService
from pmdesk.core.trusted_ips import TrustedIpService, trust
from tests.helpers.databases import stage
from tests.helpers.office_networks import no_office_networks as no_office_networks
from tests.helpers.staff import actor, add_group, add_person
from tests.helpers.trusted_ips import trust_addresses

pytestmark = pytest.mark.usefixtures("no_office_networks")


def _audit(ctx: CoreContext, event: Event) -> list[AuditEvent]:
    with stage(ctx.db) as s:
        found = s.execute(select(AuditEvent).where(AuditEvent.event == event.value))
        return list(found.scalars())


def _admin(ctx: CoreContext) -> Actor:
    return actor(add_person(ctx.db, "admin"), "admin")


def _set_policy(ctx: CoreContext, admin: Actor, policy: str) -> None:
    service = SecurityService(ctx)
    service.update(admin, service.get(admin).version, trust_policy=policy)


def test_networks_are_added_listed_and_removed_with_an_audit_row_each(ctx: CoreContext) -> None:
    admin = _admin(ctx)
    service = OfficeNetworkService(ctx)
    service.add(admin, "Head office", ["10.1.0.0/16", "2001:db8:1::/48"])
    service.add(admin, "VPN", [" 10.8.0.0/24 "])
    listed = service.list(admin)
    assert [(n.name, n.ranges) for n in listed] == [
        ("Head office", ("10.1.0.0/16", "2001:db8:1::/48")),
        ("VPN", ("10.8.0.0/24",)),
    ]
    service.remove(admin, "vpn")  # names ignore case
    assert [n.name for n in service.list(admin)] == ["Head office"]
    (added, _) = _audit(ctx, Event.NETWORK_ADDED)
    assert added.subject == "office network Head office"
    assert added.detail == "10.1.0.0/16, 2001:db8:1::/48"
    (removed,) = _audit(ctx, Event.NETWORK_REMOVED)
    assert (removed.subject, removed.detail) == ("office network VPN", "10.8.0.0/24")
    with pytest.raises(NotFound, match="no office network named 'VPN'"):
        service.remove(admin, "VPN")


@pytest.mark.parametrize(
    ("name", "ranges", "field", "message"),
    [
        ("", ["10.1.0.0/16"], "name", "Name is required"),
        ("x" * 81, ["10.1.0.0/16"], "name", "at most 80 characters"),
        ("Lab", ["10.1.2.3/16"], "ranges", r"host bits set: did you mean 10\.1\.0\.0/16\?"),
        ("Lab", ["2001:db8::1/32"], "ranges", r"did you mean 2001:db8::/32\?"),
        ("Lab", ["office"], "ranges", "'office' is not an IP address or a network"),
        ("Lab", ["10.1.0.0/16", "10.1.0.0/16"], "ranges", "listed twice"),
        ("Lab", [], "ranges", "at least one range"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message_and_nothing_stored(
    ctx: CoreContext, name: str, ranges: list[str], field: str, message: str
) -> None:
    admin = _admin(ctx)
    service = OfficeNetworkService(ctx)
    with pytest.raises(ValidationError) as refused:
        service.add(admin, name, ranges)
    assert re.search(message, refused.value.errors[field])
    assert service.list(admin) == []
    assert _audit(ctx, Event.NETWORK_ADDED) == []


def test_a_name_is_unique_ignoring_case(ctx: CoreContext) -> None:
    admin = _admin(ctx)
    service = OfficeNetworkService(ctx)
    service.add(admin, "Head office", ["10.1.0.0/16"])
    with pytest.raises(ValidationError, match="exists"):
        service.add(admin, "HEAD OFFICE", ["10.2.0.0/16"])
    assert [n.ranges for n in service.list(admin)] == [("10.1.0.0/16",)]


def test_listing_needs_security_read_and_changing_security_edit(ctx: CoreContext) -> None:
    admin = _admin(ctx)
    OfficeNetworkService(ctx).add(admin, "Head office", ["10.1.0.0/16"])
    reader_group = add_group(ctx.db, "Readers", {"system.security": "r"})
    reader = actor(add_person(ctx.db, "reader", group_id=reader_group), "reader")
    clerk = actor(add_person(ctx.db, "clerk", group_id=add_group(ctx.db, "Clerks")), "clerk")
    service = OfficeNetworkService(ctx)
    assert [n.name for n in service.list(reader)] == ["Head office"]
    with pytest.raises(PermissionDenied):
        service.list(clerk)
    with pytest.raises(PermissionDenied):
        service.add(reader, "VPN", ["10.8.0.0/24"])
    with pytest.raises(PermissionDenied):
        service.remove(reader, "Head office")
    with pytest.raises(PermissionDenied):
        SecurityService(ctx).update(
            reader, SecurityService(ctx).get(reader).version, trust_policy="anywhere"
        )
    assert [n.name for n in service.list(admin)] == ["Head office"]
    assert len(_audit(ctx, Event.NETWORK_ADDED)) == 1
    assert _audit(ctx, Event.NETWORK_REMOVED) == []


def test_the_policy_decides_where_trust_is_allowed(ctx: CoreContext) -> None:
    admin = _admin(ctx)
    service = OfficeNetworkService(ctx)
    service.add(admin, "Head office", ["10.1.0.0/16", "2001:db8:1::/48"])
    # The tests' seed keeps today's behaviour: anywhere.
    assert service.may_trust("192.0.2.7") == TrustDecision(True, None, None)
    assert service.may_trust("10.1.4.5") == TrustDecision(True, None, "Head office")
    _set_policy(ctx, admin, "office-networks")
    assert service.may_trust("10.1.4.5") == TrustDecision(True, None, "Head office")
    assert service.may_trust("2001:db8:1::9") == TrustDecision(True, None, "Head office")
    assert service.may_trust("192.0.2.7") == TrustDecision(False, OUTSIDE_REFUSAL, None)
    _set_policy(ctx, admin, "never")
    assert service.may_trust("10.1.4.5") == TrustDecision(False, NEVER_REFUSAL, None)
    changed = [e.detail for e in _audit(ctx, Event.SETTING_CHANGED)]
    assert changed == [
        "trust_policy anywhere → office-networks",
        "trust_policy office-networks → never",
    ]


def test_an_unknown_policy_is_refused(ctx: CoreContext) -> None:
    admin = _admin(ctx)
    with pytest.raises(ValidationError, match="one of: anywhere, office-networks, never"):
        _set_policy(ctx, admin, "sometimes")
    assert SecurityService(ctx).get(admin).trust_policy == "anywhere"


def test_trust_outside_the_office_networks_is_refused_and_an_old_one_stops_counting(
    ctx: CoreContext,
) -> None:
    admin = _admin(ctx)
    alice = add_person(ctx.db, "alice")
    OfficeNetworkService(ctx).add(admin, "Head office", ["10.1.0.0/16"])
    ips = TrustedIpService(ctx)
    home = ips.trust_by_admin(admin, alice, "192.0.2.7")  # allowed: the policy is anywhere
    assert home.network_name == OUTSIDE
    _set_policy(ctx, admin, "office-networks")
    with pytest.raises(ValidationError, match="outside the office networks"):
        ips.trust_by_admin(admin, alice, "198.51.100.4")
    with ctx.db.write_session() as s:  # the login's "Trust this IP"
        assert trust(s, ctx.clock, Actor.system("login"), alice, "198.51.100.4") is None
    refused = _audit(ctx, Event.IP_NOT_TRUSTED)
    assert [r.detail for r in refused] == [f"address 198.51.100.4: {OUTSIDE_REFUSAL}"]
    office = ips.trust_by_admin(admin, alice, "10.1.0.20")
    assert office.network_name == "Head office"
    rows = {r.address: r.network_name for r in ips.for_person(admin, alice)}
    assert rows == {"192.0.2.7": OUTSIDE, "10.1.0.20": "Head office"}
    page = {r.address: r.network_name for r in ips.page(admin).rows}
    assert page == rows


def test_the_impact_of_a_change_counts_addresses_and_people(ctx: CoreContext) -> None:
    admin = _admin(ctx)
    alice, bob = add_person(ctx.db, "alice"), add_person(ctx.db, "bob")
    ips = TrustedIpService(ctx)
    for person, address in ((alice, "192.0.2.7"), (alice, "10.1.0.5"), (bob, "10.8.0.9")):
        ips.trust_by_admin(admin, person, address)
    service = OfficeNetworkService(ctx)
    service.add(admin, "Head office", ["10.1.0.0/16"])
    service.add(admin, "VPN", ["10.8.0.0/24"])
    assert service.impact_of_policy(admin, "office-networks").describe() == (
        "1 address stops being trusted, 1 person affected"
    )
    assert service.impact_of_policy(admin, "never").describe() == (
        "3 addresses stop being trusted, 2 people affected"
    )
    assert service.impact_of_policy(admin, "anywhere").addresses == 0
    _set_policy(ctx, admin, "office-networks")
    assert service.impact_of_removing(admin, "VPN").describe() == (
        "1 address stops being trusted, 1 person affected"
    )
    # Nothing changed by asking.
    assert [n.name for n in service.list(admin)] == ["Head office", "VPN"]


def test_the_impact_of_a_shorter_trust_period_counts_only_trust_valid_today(
    ctx: CoreContext, clock: ShiftedClock
) -> None:
    """Issue 16 §7: a shorter period ends the trust of addresses trusted longer ago than it;
    an address the policy already refuses is not counted (it is not trusted today either)."""
    admin = _admin(ctx)
    alice, bob = add_person(ctx.db, "alice"), add_person(ctx.db, "bob")
    trust_addresses(
        ctx.db,
        [
            (alice, "10.1.0.5", timedelta(days=20)),
            (alice, "10.1.0.6", timedelta(days=12)),
            (bob, "192.0.2.7", timedelta(days=20)),  # outside the office: refused already
            (bob, "10.1.0.7", timedelta(days=2)),
        ],
        clock,
    )
    OfficeNetworkService(ctx).add(admin, "Head office", ["10.1.0.0/16"])
    _set_policy(ctx, admin, "office-networks")
    service = SecurityService(ctx)
    assert service.impact_of_trust_days(admin, 10).describe() == (
        "2 addresses stop being trusted, 1 person affected"
    )
    assert service.impact_of_trust_days(admin, 15).addresses == 1
    assert service.impact_of_trust_days(admin, 60).addresses == 0
    with pytest.raises(ValidationError) as refused:
        service.impact_of_trust_days(admin, 0)
    assert "from 1 to 90" in refused.value.errors["trust_days"]
    clerk = actor(add_person(ctx.db, "clerk", group_id=add_group(ctx.db, "Desk")), "clerk")
    with pytest.raises(PermissionDenied):
        service.impact_of_trust_days(clerk, 10)


def test_first_run_makes_a_new_database_office_networks_only(ctx: CoreContext) -> None:
    """A new database (its first administrator made) starts with office-networks; the
    migration leaves an existing one at anywhere."""
    with stage(ctx.db) as s:
        assert s.execute(select(SecuritySettings.trust_policy)).scalar_one() == "anywhere"
    form = PersonForm(
        last_name="First",
        group_id=1,
        login="first",
        password="correct horse",
        password_confirm="correct horse",
    )
    PersonnelService(ctx).create_first_administrator(Actor.system("first run"), form)
    with stage(ctx.db) as s:
        assert s.execute(select(SecuritySettings.trust_policy)).scalar_one() == "office-networks"
