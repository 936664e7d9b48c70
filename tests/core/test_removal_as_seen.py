"""Removing trusted addresses as the Security list shows them (one round trip on a server,
``removal_as_seen``): the same outcome as the long way, and no way around its rules for an
insider who passes rows that are not as the list showed them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from pmdesk.core.audit import Event
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import PermissionDenied
from pmdesk.core.models import AuditEvent, Person, TrustedIpRemoval
from pmdesk.core.trusted_ip_row import TrustedIpRow
from pmdesk.core.trusted_ips import TrustedIpService
from tests.helpers.databases import stage
from tests.helpers.staff import actor, add_group, add_person
from tests.helpers.trusted_ips import trust_addresses

DAY = timedelta(days=1)


def shown(ctx: CoreContext, who: Actor) -> dict[str, TrustedIpRow]:
    """The Security list as ``who`` sees it, by address."""
    return {r.address: r for r in TrustedIpService(ctx).page(who, page_size=100).rows}


def log(ctx: CoreContext) -> list[tuple[str, str, str, str]]:
    with stage(ctx.db) as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.event == Event.IP_REMOVED.value)).all()
        return [(r.actor, r.subject, r.detail, r.address) for r in rows]


def kept_for_undo(ctx: CoreContext) -> list[tuple[int, int, str, int | None]]:
    with stage(ctx.db) as s:
        rows = s.scalars(select(TrustedIpRemoval).order_by(TrustedIpRemoval.trusted_ip_id)).all()
        return [(r.trusted_ip_id, r.person_id, r.address, r.removed_by) for r in rows]


def test_rows_as_shown_go_as_the_long_way_takes_them(ctx: CoreContext) -> None:
    """The same log rows, the same Undo, whichever way a removal goes."""
    admin = actor(add_person(ctx.db, "root"), "root")
    frank = add_person(ctx.db, "frank", first_name="Frank")
    trust_addresses(
        ctx.db,
        [(frank, f"10.8.0.{i}", i * DAY) for i in range(1, 5)]
        + [(admin.person_id or 0, "10.8.1.1", DAY)],
    )
    service = TrustedIpService(ctx)
    rows = shown(ctx, admin)
    short = [rows["10.8.0.1"], rows["10.8.0.2"], rows["10.8.1.1"]]  # someone else's and own
    long = [rows["10.8.0.3"], rows["10.8.0.4"]]

    assert service.remove(admin, [r.id for r in short], short) == 3
    assert service.remove(admin, [r.id for r in long]) == 2

    entries = log(ctx)
    assert [subject for _actor, subject, _detail, _address in entries] == [
        "frank",
        "frank",
        "root",
        "frank",
        "frank",
    ]
    for row, (who, _subject, detail, address) in zip([*short, *long], entries, strict=True):
        assert who == "root" and address == admin.address
        assert detail == (
            f"address {row.address}, trusted since "
            f"{row.created_at.strftime('%Y-%m-%d %H:%M:%S UTC')} (#{row.id})"
        )
    assert kept_for_undo(ctx) == sorted(
        (r.id, r.person_id, r.address, admin.person_id) for r in [*short, *long]
    )
    assert service.page(admin).total == 0
    assert service.restore(admin, [r.id for r in short]) == 3  # Undo
    assert sorted(shown(ctx, admin)) == ["10.8.0.1", "10.8.0.2", "10.8.1.1"]


def test_a_clerk_without_the_right_removes_nothing_whatever_rows_they_pass(
    ctx: CoreContext,
) -> None:
    readers = add_group(ctx.db, "Readers", {"system.security": "r"})
    reader = actor(add_person(ctx.db, "reader", group_id=readers), "reader")
    frank = add_person(ctx.db, "frank", group_id=readers)
    trust_addresses(ctx.db, [(frank, "10.8.0.1", DAY)])
    row = shown(ctx, reader)["10.8.0.1"]

    with pytest.raises(PermissionDenied, match="System → Security"):
        TrustedIpService(ctx).remove(reader, [row.id], [row])

    assert list(shown(ctx, reader)) == ["10.8.0.1"]
    assert log(ctx) == [] and kept_for_undo(ctx) == []


def test_no_one_removes_the_addresses_of_a_group_with_more_rights_by_passing_rows(
    ctx: CoreContext,
) -> None:
    """A helpdesk user with Security Delete but fewer rights than the Administrators: refused
    as the long way refuses, nothing removed; also when the rows passed claim that the
    address is the helpdesk user's own (an insider calling the core with a forged row)."""
    desk = add_group(ctx.db, "Desk", {"system.security": "red"})
    helpdesk = actor(add_person(ctx.db, "helpdesk", group_id=desk), "helpdesk")
    boss = add_person(ctx.db, "boss")  # Administrators: every right
    trust_addresses(ctx.db, [(boss, "10.8.0.1", DAY)])
    row = shown(ctx, helpdesk)["10.8.0.1"]
    service = TrustedIpService(ctx)

    with pytest.raises(PermissionDenied, match="rights your own group lacks"):
        service.remove(helpdesk, [row.id], [row])
    forged = replace(row, person_id=helpdesk.person_id or 0, login="helpdesk")
    with pytest.raises(PermissionDenied, match="rights your own group lacks"):
        service.remove(helpdesk, [row.id], [forged])

    assert list(shown(ctx, helpdesk)) == ["10.8.0.1"]
    assert log(ctx) == [] and kept_for_undo(ctx) == []


def test_rows_changed_since_they_were_shown_go_the_long_way(ctx: CoreContext) -> None:
    """Another workstation removed one of the rows, and the owner of another got a new login,
    while the list was on screen: what is still there is removed, and logged as it is now."""
    admin = actor(add_person(ctx.db, "root"), "root")
    frank = add_person(ctx.db, "frank")
    gina = add_person(ctx.db, "gina")
    trust_addresses(ctx.db, [(frank, "10.8.0.1", DAY), (gina, "10.8.0.2", DAY)])
    rows = shown(ctx, admin)
    service = TrustedIpService(ctx)
    other_workstation = actor(add_person(ctx.db, "other"), "other")
    assert service.remove(other_workstation, [rows["10.8.0.1"].id]) == 1
    with stage(ctx.db) as s:
        s.execute(
            update(Person).where(Person.id == gina).values(login="gina.b", login_key="gina.b")
        )

    wanted = [rows["10.8.0.1"], rows["10.8.0.2"]]
    assert service.remove(admin, [r.id for r in wanted], wanted) == 1

    assert [(who, subject) for who, subject, _d, _a in log(ctx)] == [
        ("other", "frank"),
        ("root", "gina.b"),
    ]
    assert service.page(admin).total == 0
