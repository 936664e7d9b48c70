"""The "Needs review" list (issue 16 §2): which trusted rows it shows and why, its count across
pages, and Undo of a removal (only one's own, within the window, exactly as the rows were)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from pmdesk.core.audit import Event
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.errors import PermissionDenied
from pmdesk.core.models import AuditEvent, TrustedIp
from pmdesk.core.office_networks import OUTSIDE, OfficeNetworkService
from pmdesk.core.trusted_ip_review import NEVER_USED, PUBLIC, is_public, shared_by
from pmdesk.core.trusted_ips import UNDO_WINDOW, TrustedIpService
from tests.helpers.databases import stage
from tests.helpers.staff import actor, add_group, add_person
from tests.helpers.trusted_ips import trust_addresses

DAY = timedelta(days=1)
HOME = "81.2.69.160"  # a public address (not a documentation range: those are not global)


def used(ctx: CoreContext, ids: list[int], after: timedelta | None) -> None:
    """Record a sign-in ``after`` the trust was made (None: never used)."""
    with stage(ctx.db) as s:
        for row in s.execute(select(TrustedIp).where(TrustedIp.id.in_(ids))).scalars():
            row.last_used_at = None if after is None else row.created_at + after


def rows_of(ctx: CoreContext, *ids: int) -> list[tuple[object, ...]]:
    with stage(ctx.db) as s:
        found = s.execute(
            select(
                TrustedIp.id,
                TrustedIp.person_id,
                TrustedIp.address,
                TrustedIp.created_at,
                TrustedIp.last_used_at,
                TrustedIp.trusted_by,
                TrustedIp.trusted_on,
            ).where(TrustedIp.id.in_(ids) if ids else True)
        ).all()
        return sorted(tuple(r) for r in found)  # type: ignore[misc]


def log_of(ctx: CoreContext, event: Event) -> list[tuple[str, str]]:
    with stage(ctx.db) as s:
        found = s.execute(
            select(AuditEvent.subject, AuditEvent.detail)
            .where(AuditEvent.event == event.value)
            .order_by(AuditEvent.id)
        ).all()
        return [(str(a), str(b)) for a, b in found]


@pytest.fixture
def office(ctx: CoreContext) -> dict[str, int]:
    """An administrator, two colleagues and a Head office network 10.1.0.0/16."""
    boss = add_person(ctx.db, "boss")
    OfficeNetworkService(ctx).add(actor(boss), "Head office", ["10.1.0.0/16"])
    return {"boss": boss, "ann": add_person(ctx.db, "ann"), "ben": add_person(ctx.db, "ben")}


def test_the_review_list_shows_only_rows_needing_review_each_with_its_reasons(
    ctx: CoreContext, office: dict[str, int]
) -> None:
    boss, ann, ben = office["boss"], office["ann"], office["ben"]
    ids = trust_addresses(
        ctx.db,
        [
            (ann, "10.1.0.5", 3 * DAY),  # office, used: fine
            (ben, "10.1.0.5", 2 * DAY),  # office, shared by two: fine inside the office
            (ann, "192.168.7.20", 3 * DAY),  # a home network, private
            (ann, HOME, 3 * DAY),  # public home address, shared with ben
            (ben, HOME, 4 * DAY),
            (boss, "10.1.2.3", 5 * DAY),  # office but never used since trusted
            (boss, "10.1.2.4", timedelta(hours=2)),  # never used yet, but made today
        ],
        ctx.clock,
    )
    used(ctx, ids[:5], timedelta(hours=1))
    used(ctx, ids[5:], None)
    service = TrustedIpService(ctx)
    page = service.page(actor(boss), review=True)
    reasons = {(r.login, r.address): r.reasons for r in page.rows}
    assert reasons == {
        ("ann", "192.168.7.20"): (OUTSIDE,),
        ("ann", HOME): (OUTSIDE, PUBLIC, shared_by(2)),
        ("ben", HOME): (OUTSIDE, PUBLIC, shared_by(2)),
        ("boss", "10.1.2.3"): (NEVER_USED,),
    }
    assert page.total == 4 and page.describe() == "Viewing items 1-4 of 4"
    assert service.review_count(actor(boss)) == 4
    # The whole list is unchanged, and the text filter narrows the review list as the list.
    assert service.page(actor(boss)).total == 7
    assert [r.address for r in service.page(actor(boss), review=True, filter_text="ben").rows] == [
        HOME
    ]


def test_the_count_and_pages_agree_across_pages(ctx: CoreContext, office: dict[str, int]) -> None:
    ann = office["ann"]
    people = [add_person(ctx.db, f"p{i}") for i in range(12)]
    rows = [(p, f"10.1.3.{i}", (i + 2) * DAY) for i, p in enumerate(people)]  # fine
    rows += [(p, f"172.16.0.{i}", (i + 2) * DAY + DAY / 2) for i, p in enumerate(people)]
    ids = trust_addresses(ctx.db, rows, ctx.clock)
    used(ctx, ids, timedelta(minutes=5))
    service = TrustedIpService(ctx)
    seen: list[str] = []
    page = service.page(actor(ann), review=True, page_size=5)
    while True:
        assert page.total == 12
        seen += [r.address for r in page.rows]
        assert all(r.reasons == (OUTSIDE,) for r in page.rows)
        if page.next is None:
            break
        page = service.page(
            actor(ann), review=True, page_size=5, cursor=page.next, known_total=(12, True)
        )
    assert sorted(seen) == sorted(f"172.16.0.{i}" for i in range(12))
    last = service.page(actor(ann), review=True, page_size=5, page=3)
    assert (last.first_index, last.last_index) == (11, 12)


def test_a_clerk_without_security_read_sees_no_review_list(
    ctx: CoreContext, office: dict[str, int]
) -> None:
    clerks = add_group(ctx.db, "Clerks", {"maintenance": "r"})
    clerk = add_person(ctx.db, "clerk", group_id=clerks)
    trust_addresses(ctx.db, [(office["ann"], HOME, 3 * DAY)], ctx.clock)
    service = TrustedIpService(ctx)
    with pytest.raises(PermissionDenied):
        service.review_count(actor(clerk))
    with pytest.raises(PermissionDenied):
        service.page(actor(clerk), review=True)
    assert service.review_count(actor(office["boss"])) == 1  # the control


def test_undo_puts_back_exactly_the_removed_rows_and_is_audited(
    ctx: CoreContext, clock: ShiftedClock, office: dict[str, int]
) -> None:
    boss, ann, ben = office["boss"], office["ann"], office["ben"]
    ids = trust_addresses(
        ctx.db, [(ann, HOME, 3 * DAY), (ben, "192.168.1.4", 2 * DAY), (ann, "10.1.0.9", DAY)]
    )
    used(ctx, ids[:1], timedelta(hours=5))
    with stage(ctx.db) as s:  # who trusted it, and where: what a sign-in's reason names
        s.execute(
            update(TrustedIp)
            .where(TrustedIp.id == ids[0])
            .values(trusted_by="ann", trusted_on="WS-07")
        )
    before = rows_of(ctx)
    service = TrustedIpService(ctx)
    assert service.remove(actor(boss), ids[:2]) == 2
    assert rows_of(ctx) == before[2:]
    clock.advance(timedelta(seconds=30))
    assert service.restore(actor(boss), ids[:2]) == 2
    assert rows_of(ctx) == before, "same ids, people, addresses, times, who and where"
    restored = log_of(ctx, Event.IP_RESTORED)
    assert [subject for subject, _ in restored] == ["ann", "ben"]
    assert restored[0][1].startswith(f"address {HOME}, trusted since ")
    assert restored[0][1].endswith(f"(#{ids[0]})")
    assert len(log_of(ctx, Event.IP_REMOVED)) == 2, "the removal stays in the log"
    # Undone once: a second Undo puts nothing back.
    assert service.restore(actor(boss), ids[:2]) == 0
    assert rows_of(ctx) == before


def test_undo_ends_after_the_window(
    ctx: CoreContext, clock: ShiftedClock, office: dict[str, int]
) -> None:
    boss, ann = office["boss"], office["ann"]
    ids = trust_addresses(ctx.db, [(ann, HOME, 3 * DAY), (ann, "192.168.1.4", 3 * DAY)])
    service = TrustedIpService(ctx)
    service.remove(actor(boss), ids[:1])
    clock.advance(UNDO_WINDOW + timedelta(seconds=1))
    assert service.restore(actor(boss), ids[:1]) == 0
    assert rows_of(ctx, ids[0]) == []
    # The control: a removal just made can be undone.
    service.remove(actor(boss), ids[1:])
    assert service.restore(actor(boss), ids[1:]) == 1
    assert len(log_of(ctx, Event.IP_RESTORED)) == 1


def test_only_the_person_who_removed_with_security_edit_can_undo(
    ctx: CoreContext, office: dict[str, int]
) -> None:
    boss, ann = office["boss"], office["ann"]
    deleters = add_group(ctx.db, "Deleters", {"system.security": "rd"})
    helper = add_person(ctx.db, "helper", group_id=deleters)
    other_admin = add_person(ctx.db, "other")
    ids = trust_addresses(ctx.db, [(ann, HOME, 3 * DAY), (helper, "192.168.1.4", 3 * DAY)])
    service = TrustedIpService(ctx)
    service.remove(actor(boss), ids[:1])
    # Someone else, even an administrator, cannot put back what the boss removed.
    assert service.restore(actor(other_admin), ids[:1]) == 0
    # Removing needs Delete, putting back Edit: a helper with Delete only cannot.
    service.remove(actor(helper), ids[1:])
    with pytest.raises(PermissionDenied):
        service.restore(actor(helper), ids[1:])
    assert rows_of(ctx) == []
    assert log_of(ctx, Event.IP_RESTORED) == []
    assert service.restore(actor(boss), ids) == 1  # the control: the boss's own row
    assert [r[0] for r in rows_of(ctx)] == ids[:1]


def test_undo_never_overwrites_a_trust_made_again_meanwhile(
    ctx: CoreContext, office: dict[str, int]
) -> None:
    boss, ann = office["boss"], office["ann"]
    (old,) = trust_addresses(ctx.db, [(ann, "10.1.0.7", 20 * DAY)])
    service = TrustedIpService(ctx)
    service.remove(actor(boss), [old])
    (again,) = trust_addresses(ctx.db, [(ann, "10.1.0.7", timedelta(0))])
    kept = rows_of(ctx)
    assert service.restore(actor(boss), [old]) == 0
    assert rows_of(ctx) == kept and kept[0][0] == again


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("81.2.69.160", True),
        ("2a00:1450:4001:80b::200e", True),
        ("10.1.2.3", False),
        ("172.16.5.4", False),
        ("192.168.0.7", False),
        ("100.64.3.2", False),  # shared CGNAT space
        ("127.0.0.1", False),
        ("169.254.1.1", False),
        ("fd12:3456::1", False),  # unique-local
        ("fe80::1", False),
    ],
)
def test_public_means_globally_reachable(address: str, public: bool) -> None:
    assert is_public(address) is public
