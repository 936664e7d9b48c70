"""Trusted IP addresses: trust, expiry at the boundary, the sweep, paging, removal, rights."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from pmdesk.core.audit import Event
from pmdesk.core.clock import DatabaseClock, ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import PermissionDenied, ValidationError
from pmdesk.core.models import AuditEvent, LoginChallenge, TrustedIp
from pmdesk.core.security import load_settings
from pmdesk.core.trusted_ips import TrustedIpService, is_trusted, trust
from tests.helpers.databases import stage
from tests.helpers.hardened import SIGN_IN_TRUST, SWEPT_BY_RELAY
from tests.helpers.staff import actor, add_group, add_person

DAY = timedelta(days=1)


def audit_rows(ctx: CoreContext, event: Event) -> list[AuditEvent]:
    with stage(ctx.db) as s:
        return list(
            s.execute(
                select(AuditEvent).where(AuditEvent.event == event.value).order_by(AuditEvent.id)
            ).scalars()
        )


def db_now(ctx: CoreContext) -> datetime:
    with stage(ctx.db) as s:
        return DatabaseClock().now(s)


def add_trusted(ctx: CoreContext, rows: list[tuple[int, str, datetime]]) -> None:
    """Insert (person_id, address, created_at) rows directly, in bulk."""
    with stage(ctx.db) as s:
        s.execute(
            insert(TrustedIp),
            [{"person_id": p, "address": a, "created_at": c} for p, a, c in rows],
        )


def trusted_now(ctx: CoreContext, person_id: int, address: str | None) -> TrustedIp | None:
    with stage(ctx.db) as s:
        now = ctx.clock.now(s)
        return is_trusted(s, now, load_settings(s).trust_days, person_id, address)


@SIGN_IN_TRUST
def test_trust_holds_until_the_period_ends_on_the_database_clock(
    ctx: CoreContext, clock: ShiftedClock
) -> None:
    alice = add_person(ctx.db, "alice")
    with ctx.db.write_session() as s:
        made = trust(s, ctx.clock, Actor.system("login"), alice, "192.0.2.10")
        assert made is not None
    clock.advance(timedelta(days=30) - timedelta(seconds=1))
    assert trusted_now(ctx, alice, "192.0.2.10") is not None
    # The sweep at that moment leaves it alone.
    assert TrustedIpService(ctx).expire() == 0
    clock.advance(timedelta(seconds=2))
    assert trusted_now(ctx, alice, "192.0.2.10") is None, "expired trust must not count"
    # Even before any sweep: a late sweep never extends trust. Then the sweep removes it.
    assert TrustedIpService(ctx).expire() == 1
    (expired,) = audit_rows(ctx, Event.IP_EXPIRED)
    assert expired.subject == "alice"
    assert "address 192.0.2.10" in expired.detail
    assert expired.actor == "system (expiry sweep)"


def test_a_shorter_trust_period_applies_to_existing_trusts(
    ctx: CoreContext, clock: ShiftedClock
) -> None:
    bob = add_person(ctx.db, "bob")
    add_trusted(ctx, [(bob, "198.51.100.7", db_now(ctx) - 8 * DAY)])
    assert trusted_now(ctx, bob, "198.51.100.7") is not None
    from pmdesk.core.security import SecurityService

    service = SecurityService(ctx)
    service.update(Actor.command_line(), service.get(Actor.command_line()).version, trust_days=7)
    assert trusted_now(ctx, bob, "198.51.100.7") is None
    # The sweep reads the period in the statement that picks the rows: the new one.
    trusted = TrustedIpService(ctx)
    if not trusted.swept_by_relay:
        assert trusted.expire() == 1
        assert trusted_now(ctx, bob, "198.51.100.7") is None


@SIGN_IN_TRUST
def test_addresses_are_normalised_and_unknown_ones_never_trusted(ctx: CoreContext) -> None:
    carol = add_person(ctx.db, "carol")
    with ctx.db.write_session() as s:
        row = trust(s, ctx.clock, Actor.system("login"), carol, "::ffff:1.2.3.4")
        assert row is not None and row.address == "1.2.3.4"
        for unknown in (None, "", "unknown", "host.example.com", "0.0.0.0", "::"):
            assert trust(s, ctx.clock, Actor.system("login"), carol, unknown) is None
    assert trusted_now(ctx, carol, "1.2.3.4") is not None
    assert trusted_now(ctx, carol, "::ffff:1.2.3.4") is not None
    assert trusted_now(ctx, carol, "1.2.3.5") is None
    assert trusted_now(ctx, carol, None) is None
    # Trust is per person.
    dave = add_person(ctx.db, "dave")
    assert trusted_now(ctx, dave, "1.2.3.4") is None
    with ctx.db.session() as s:
        assert s.execute(select(func.count()).select_from(TrustedIp)).scalar_one() == 1
    assert len(audit_rows(ctx, Event.IP_TRUSTED)) == 1


@SIGN_IN_TRUST
def test_trusting_again_keeps_the_original_period(ctx: CoreContext, clock: ShiftedClock) -> None:
    erin = add_person(ctx.db, "erin")
    with ctx.db.write_session() as s:
        first = trust(s, ctx.clock, Actor.system("login"), erin, "203.0.113.5")
        assert first is not None
        first_id, created = first.id, first.created_at
    clock.advance(10 * DAY)
    with ctx.db.write_session() as s:
        again = trust(s, ctx.clock, Actor.system("login"), erin, "203.0.113.5")
        assert again is not None
        assert (again.id, again.created_at) == (first_id, created)
        assert again.last_used_at is not None and again.last_used_at > created
    assert len(audit_rows(ctx, Event.IP_TRUSTED)) == 1
    # Once the period is over (not swept yet), trusting again starts a new period.
    clock.advance(25 * DAY)
    with ctx.db.write_session() as s:
        renewed = trust(s, ctx.clock, Actor.system("login"), erin, "203.0.113.5")
        assert renewed is not None and renewed.created_at > created + 30 * DAY
    assert trusted_now(ctx, erin, "203.0.113.5") is not None
    assert len(audit_rows(ctx, Event.IP_TRUSTED)) == 2


@SWEPT_BY_RELAY
def test_expire_removes_in_chunks_and_audits_each_row_once(ctx: CoreContext) -> None:
    people = [add_person(ctx.db, f"user{i}") for i in range(3)]
    now = db_now(ctx)
    old = [
        (people[i % 3], f"10.0.0.{i}", now - 31 * DAY - i * timedelta(minutes=1)) for i in range(25)
    ]
    fresh = [(people[i % 3], f"10.1.0.{i}", now - 29 * DAY) for i in range(5)]
    add_trusted(ctx, old + fresh)
    with ctx.db.session() as s:
        s.add_all(
            [
                LoginChallenge(
                    id="stale",
                    person_id=people[0],
                    code_hash="x",
                    created_at=now - 3 * DAY,
                    expires_at=now - 2 * DAY,
                ),
                LoginChallenge(
                    id="used",
                    person_id=people[0],
                    code_hash="x",
                    created_at=now,
                    expires_at=now + DAY,
                    used_at=now,
                ),
                LoginChallenge(
                    id="pending",
                    person_id=people[1],
                    code_hash="x",
                    created_at=now,
                    expires_at=now + timedelta(minutes=10),
                ),
                LoginChallenge(
                    id="recently-expired",
                    person_id=people[1],
                    code_hash="x",
                    created_at=now - DAY / 2,
                    expires_at=now - DAY / 3,
                ),
            ]
        )

    assert TrustedIpService(ctx).expire(chunk_size=10) == 25
    with ctx.db.session() as s:
        left = sorted(s.execute(select(TrustedIp.address)).scalars())
        challenges = sorted(s.execute(select(LoginChallenge.id)).scalars())
    assert left == sorted(a for _, a, _ in fresh)
    assert challenges == ["pending", "recently-expired"]
    rows = audit_rows(ctx, Event.IP_EXPIRED)
    addresses = sorted(re.search(r"address (\S+),", r.detail).group(1) for r in rows)  # type: ignore[union-attr]
    assert addresses == sorted(a for _, a, _ in old)
    assert {r.subject for r in rows} == {"user0", "user1", "user2"}
    # Running it again finds nothing and logs nothing.
    assert TrustedIpService(ctx).expire(chunk_size=10) == 0
    assert len(audit_rows(ctx, Event.IP_EXPIRED)) == 25


@SWEPT_BY_RELAY
def test_two_workstations_sweeping_at_once_remove_and_log_each_row_once(
    ctx: CoreContext,
) -> None:
    people = [add_person(ctx.db, f"sweep{i}") for i in range(20)]
    now = db_now(ctx)
    expired = 2400
    add_trusted(
        ctx,
        [
            (
                people[i % 20],
                f"10.{i // 250}.{i % 250}.1",
                now - 40 * DAY + i * timedelta(seconds=1),
            )
            for i in range(expired)
        ],
    )
    service = TrustedIpService(ctx)
    start = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            start.wait()
            results.append(service.expire(chunk_size=100))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sum(results) == expired
    with ctx.db.session() as s:
        assert s.execute(select(func.count()).select_from(TrustedIp)).scalar_one() == 0
    rows = audit_rows(ctx, Event.IP_EXPIRED)
    assert len(rows) == expired
    assert len({r.detail for r in rows}) == expired, "each row logged exactly once"


def _grid(ctx: CoreContext, count: int) -> tuple[list[int], list[tuple[int, str, datetime]]]:
    """People, and ``count`` rows with some equal creation times (ties broken by id)."""
    people = [
        add_person(ctx.db, "anna.peeters", first_name="Anna", last_name="Peeters"),
        add_person(ctx.db, "bert.maes", first_name="Bert", last_name="Maes"),
        add_person(ctx.db, "ann.claes", first_name="Ann", last_name="Claes"),
    ]
    now = db_now(ctx)
    rows = [
        (people[i % 3], f"192.168.{i // 10}.{i % 10}", now - timedelta(hours=i // 2))
        for i in range(count)
    ]
    add_trusted(ctx, rows)
    return people, rows


def _expected(ctx: CoreContext, person: int | None = None) -> list[int]:
    with stage(ctx.db) as s:
        stmt = select(TrustedIp.id).order_by(TrustedIp.created_at.desc(), TrustedIp.id.desc())
        if person is not None:
            stmt = stmt.where(TrustedIp.person_id == person)
        return list(s.execute(stmt).scalars())


def test_paging_newest_first_with_previous_and_next(ctx: CoreContext) -> None:
    _grid(ctx, 45)
    expected = _expected(ctx)
    service = TrustedIpService(ctx)
    admin = Actor.command_line()

    first = service.page(admin, page_size=20)
    assert (first.first_index, first.last_index, first.total) == (1, 20, 45)
    assert [r.id for r in first.rows] == expected[:20]
    assert first.previous is None and first.next is not None
    assert first.rows[0].login == "bert.maes"  # same time as anna.peeters, higher id
    assert all(r.expires_at == r.created_at + 30 * DAY for r in first.rows)

    second = service.page(admin, page_size=20, cursor=first.next)
    assert (second.first_index, second.last_index) == (21, 40)
    assert [r.id for r in second.rows] == expected[20:40]
    third = service.page(admin, page_size=20, cursor=second.next)
    assert (third.first_index, third.last_index, third.next) == (41, 45, None)
    assert [r.id for r in third.rows] == expected[40:]
    back = service.page(admin, page_size=20, cursor=third.previous)
    assert [r.id for r in back.rows] == expected[20:40]
    assert (back.first_index, back.page) == (21, 2)
    top = service.page(admin, page_size=20, cursor=back.previous)
    assert [r.id for r in top.rows] == expected[:20] and top.previous is None

    by_number = service.page(admin, page=3, page_size=20)
    assert [r.id for r in by_number.rows] == expected[40:]
    assert service.page(admin, page=99, page_size=20).first_index == 41  # clamped to the last
    assert [r.id for r in service.page(admin, page=2, page_size=7).rows] == expected[7:14]
    # Deep pages come from the other end of the index: same rows.
    assert [r.id for r in service.page(admin, page=6, page_size=7).rows] == expected[35:42]


def test_paging_with_filters(ctx: CoreContext) -> None:
    people, rows = _grid(ctx, 45)
    service = TrustedIpService(ctx)
    admin = Actor.command_line()

    anna = service.page(admin, person_id=people[0], page_size=10)
    assert anna.total == 15
    assert [r.id for r in anna.rows] == _expected(ctx, people[0])[:10]
    assert {r.person_name for r in anna.rows} == {"Anna Peeters"}
    rest = service.page(admin, person_id=people[0], page_size=10, cursor=anna.next)
    assert [r.id for r in rest.rows] == _expected(ctx, people[0])[10:]
    assert (rest.first_index, rest.last_index, rest.next) == (11, 15, None)

    # Login, forename and lastname prefixes, case-insensitively.
    assert service.page(admin, filter_text="ANN").total == 30  # anna.peeters + ann.claes
    assert service.page(admin, filter_text="peet").total == 15
    assert service.page(admin, filter_text="bert.m").total == 15
    assert service.page(admin, filter_text="Claes").total == 15
    # Address prefixes; wildcards are taken literally.
    by_address = service.page(admin, filter_text="192.168.3.")
    assert sorted(r.address for r in by_address.rows) == sorted(
        a for _, a, _ in rows if a.startswith("192.168.3.")
    )
    assert service.page(admin, filter_text="192.168.4.4").total == 1
    assert service.page(admin, filter_text="::ffff:192.168.4.4").total == 1
    assert service.page(admin, filter_text="%").total == 0
    assert service.page(admin, filter_text="_nn").total == 0
    empty = service.page(admin, filter_text="nobody")
    assert (empty.total, empty.first_index, empty.last_index, empty.rows) == (0, 0, 0, [])
    assert service.page(admin, filter_text="ann", person_id=people[1]).total == 0


def test_removing_addresses_is_audited_per_row_and_needs_rights(ctx: CoreContext) -> None:
    helpdesk_group = add_group(ctx.db, "Helpdesk", {"maintenance": "re"})
    helpdesk = actor(add_person(ctx.db, "helpdesk", group_id=helpdesk_group), "helpdesk")
    readers_group = add_group(ctx.db, "Readers", {"system.security": "r"})
    reader = actor(add_person(ctx.db, "reader", group_id=readers_group), "reader")
    nobody_group = add_group(ctx.db, "Nobody")
    nobody = actor(add_person(ctx.db, "nobody", group_id=nobody_group), "nobody")
    admin = actor(add_person(ctx.db, "root"), "root")
    # Frank is in the helpdesk's own group: his addresses are within its rights (issue 12, 5b).
    frank = add_person(ctx.db, "frank", group_id=helpdesk_group)
    gina = add_person(ctx.db, "gina")
    now = db_now(ctx)
    add_trusted(
        ctx,
        [(frank, "10.9.0.1", now), (frank, "10.9.0.2", now - DAY), (gina, "10.9.0.3", now)],
    )
    service = TrustedIpService(ctx)
    ids = {r.address: r.id for r in service.page(admin).rows}

    with pytest.raises(PermissionDenied, match="System → Security"):
        service.page(helpdesk)
    with pytest.raises(PermissionDenied):
        service.remove(helpdesk, [ids["10.9.0.1"]])
    with pytest.raises(PermissionDenied):
        service.remove(reader, [ids["10.9.0.1"]])
    with pytest.raises(PermissionDenied):
        service.for_person(nobody, frank)
    with pytest.raises(PermissionDenied):
        service.remove_for_person(reader, frank, [ids["10.9.0.1"]])
    with pytest.raises(PermissionDenied):
        service.trust_by_admin(reader, frank, "10.9.0.9")
    if service.swept_by_relay:  # the relay sweeps: a workstation's sweep does nothing
        assert service.expire(nobody) == 0
    else:
        with pytest.raises(PermissionDenied):
            service.expire(nobody)
    assert service.page(reader).total == 3

    # The helpdesk sees a person's list and removes from it; other people's ids are ignored.
    assert [r.address for r in service.for_person(helpdesk, frank)] == ["10.9.0.1", "10.9.0.2"]
    assert [r.address for r in service.for_person(reader, frank)] == ["10.9.0.1", "10.9.0.2"]
    assert service.remove_for_person(helpdesk, frank, [ids["10.9.0.1"], ids["10.9.0.3"]]) == 1
    assert service.remove(admin, [ids["10.9.0.2"], ids["10.9.0.3"], 999_999]) == 2
    assert service.remove(admin, [ids["10.9.0.2"]]) == 0  # already gone: nothing logged

    removed = audit_rows(ctx, Event.IP_REMOVED)
    assert [(r.actor, r.subject) for r in removed] == [
        ("helpdesk", "frank"),
        ("root", "frank"),
        ("root", "gina"),
    ]
    assert [re.search(r"address (\S+),", r.detail).group(1) for r in removed] == [  # type: ignore[union-attr]
        "10.9.0.1",
        "10.9.0.2",
        "10.9.0.3",
    ]
    assert service.page(admin).total == 0


def test_two_workstations_removing_the_same_addresses_at_once_log_each_once(
    ctx: CoreContext,
) -> None:
    """A removal locks the rows it removes, and its DELETE goes with its COMMIT: two removals
    of the same rows at the same moment together remove and log each row exactly once, and
    what each says it removed is what it logged."""
    admin = actor(add_person(ctx.db, "root"), "root")
    owner = add_person(ctx.db, "frank")
    now = db_now(ctx)
    add_trusted(ctx, [(owner, f"10.7.0.{i}", now - i * DAY) for i in range(1, 41)])
    service = TrustedIpService(ctx)
    ids = [r.id for r in service.page(admin, page_size=100).rows]
    start = threading.Barrier(2)
    results: list[int] = []
    errors: list[BaseException] = []

    def remove(wanted: list[int]) -> None:
        try:
            start.wait()
            results.append(service.remove(admin, wanted))
        except BaseException as exc:  # reported below
            errors.append(exc)

    # Overlapping batches, in opposite orders: the locks are taken in id order all the same.
    batches = [ids[:30], list(reversed(ids[10:]))]
    threads = [threading.Thread(target=remove, args=(batch,)) for batch in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert sum(results) == len(ids)
    assert service.page(admin).total == 0
    removed = audit_rows(ctx, Event.IP_REMOVED)
    assert len(removed) == len(ids)
    assert len({r.detail for r in removed}) == len(ids), "each row logged exactly once"


def test_an_administrator_can_trust_an_address(ctx: CoreContext) -> None:
    admin = actor(add_person(ctx.db, "root"), "root")
    hank = add_person(ctx.db, "hank", first_name="Hank", last_name="Hill")
    service = TrustedIpService(ctx)
    with pytest.raises(ValidationError, match="not an IP address"):
        service.trust_by_admin(admin, hank, "office-pc")
    row = service.trust_by_admin(admin, hank, " ::ffff:172.16.0.5 ")
    assert (row.address, row.login, row.person_name) == ("172.16.0.5", "hank", "Hank Hill")
    assert row.expires_at == row.created_at + 30 * DAY
    (trusted,) = audit_rows(ctx, Event.IP_TRUSTED)
    assert (trusted.actor, trusted.subject) == ("root", "hank")
    assert trusted_now(ctx, hank, "172.16.0.5") is not None


def test_a_huge_list_is_counted_only_up_to_the_cap(
    ctx: CoreContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pmdesk.core import trusted_ips

    monkeypatch.setattr(trusted_ips, "COUNT_CAP", 30)
    _grid(ctx, 45)
    expected = _expected(ctx)
    service = TrustedIpService(ctx)
    admin = Actor.command_line()
    first = service.page(admin, page_size=20)
    seen = [r.id for r in first.rows]
    current = first
    while current.next is not None:
        current = service.page(admin, page_size=20, cursor=current.next)
        seen.extend(r.id for r in current.rows)
    assert seen == expected, "Next walks the whole list, counted or not"
    jump = service.page(admin, page=99, page_size=20)
    if ctx.db.is_sqlite:  # counting a whole SQLite table is cheap: always exact
        assert first.describe() == "Viewing items 1-20 of 45"
        assert [r.id for r in jump.rows] == expected[40:]
    else:
        assert (first.total, first.total_exact) == (30, False)
        assert first.describe() == "Viewing items 1-20 of more than 30"
        assert current.describe() == "Viewing items 41-45 of more than 30"
        # A jump goes no further than the counted part.
        assert [r.id for r in jump.rows] == expected[20:40]
    small = service.page(admin, person_id=first.rows[0].person_id, page_size=20)
    assert small.describe() == "Viewing items 1-15 of 15"


@SWEPT_BY_RELAY
def test_expire_stops_between_chunks_when_asked(ctx: CoreContext) -> None:
    person = add_person(ctx.db, "quitter")
    now = db_now(ctx)
    add_trusted(ctx, [(person, f"10.2.0.{i}", now - 40 * DAY) for i in range(9)])
    chunks_done: list[int] = []

    def stop_after_two_chunks() -> bool:
        chunks_done.append(1)
        return len(chunks_done) > 2

    removed = TrustedIpService(ctx).expire(
        chunk_size=3, should_stop=stop_after_two_chunks, pause_s=0
    )
    assert removed == 6
    with ctx.db.session() as s:
        assert s.execute(select(func.count()).select_from(TrustedIp)).scalar_one() == 3
        expired_audits = s.execute(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.event == "ip.expired")
        ).scalar_one()
    assert expired_audits == 6  # one bulk insert per chunk, a row per removed address
    # The next sweep finishes the job.
    assert TrustedIpService(ctx).expire(chunk_size=3, pause_s=0) == 3


def test_at_address_lists_who_has_it_trusted_for_those_who_may_read_security(
    ctx: CoreContext,
) -> None:
    """The first half of ``pmdesk ip trace``: one address, exact, in its stored form."""
    admin = actor(add_person(ctx.db, "admin"), "admin")
    alice, bob = add_person(ctx.db, "alice"), add_person(ctx.db, "bob")
    now = db_now(ctx)
    add_trusted(
        ctx,
        [
            (alice, "83.134.100.157", now - DAY),
            (bob, "83.134.100.157", now - 2 * DAY),
            (bob, "83.134.100.158", now - DAY),
        ],
    )
    service = TrustedIpService(ctx)
    rows = service.at_address(admin, "::ffff:83.134.100.157")
    assert [(r.login, r.address) for r in rows] == [
        ("alice", "83.134.100.157"),
        ("bob", "83.134.100.157"),
    ]
    assert service.at_address(admin, "192.0.2.1") == []
    with pytest.raises(ValidationError) as refused:
        service.at_address(admin, "83.134.100.")
    assert refused.value.errors == {"address": "'83.134.100.' is not an IP address (192.0.2.10)."}
    clerks = add_group(ctx.db, "Clerks", {"maintenance": "re"})
    clerk = actor(add_person(ctx.db, "clerk", group_id=clerks), "clerk")
    with pytest.raises(PermissionDenied):
        service.at_address(clerk, "83.134.100.157")
