"""System → Log: filtering the audit trail and exporting it as CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pmdesk.core import audit
from pmdesk.core.audit import AuditService, Event
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import PermissionDenied, ValidationError
from tests.helpers.databases import stage
from tests.helpers.staff import actor, add_group, add_person


def log(ctx: CoreContext, who: Actor, event: Event, subject: str = "", detail: str = "") -> None:
    with stage(ctx.db) as s:
        audit.record(s, ctx.clock, who, event, subject=subject, detail=detail)


@pytest.fixture
def trail(ctx: CoreContext, clock: ShiftedClock) -> dict[str, datetime]:
    """Five events over three days; returns the moments between them."""
    alice = Actor("alice", person_id=1, address="10.0.0.1", workstation="desk-1")
    bob = Actor("Bob Builder", person_id=2, address="10.0.0.2", workstation="desk-2")
    marks: dict[str, datetime] = {}
    log(ctx, alice, Event.LOGIN_SUCCEEDED, "alice")
    clock.advance(timedelta(days=1))
    with stage(ctx.db) as s:
        marks["day2"] = ctx.clock.now(s)
    log(ctx, bob, Event.IP_TRUSTED, "bob", "address 10.0.0.2")
    log(ctx, alice, Event.IP_REMOVED, "bob", "address 10.0.0.2")
    clock.advance(timedelta(days=1))
    with stage(ctx.db) as s:
        marks["day3"] = ctx.clock.now(s)
    log(ctx, Actor.system("expiry sweep"), Event.IP_EXPIRED, "carol", "address 10.0.0.3")
    log(ctx, bob, Event.TWO_FACTOR_ENABLED, "two-step authentication")
    return marks


def test_the_log_filters_by_address_exact_or_by_its_start(
    ctx: CoreContext, trail: dict[str, datetime]
) -> None:
    """Issue 16, item 5: a whole address matches exactly; a shorter text, the addresses that
    start with it; what cannot start an address is refused under the field's name."""
    service = AuditService(ctx)
    cli = Actor.command_line()
    v6 = Actor("dave", person_id=3, address="2001:db8::7", workstation="desk-3")
    log(ctx, v6, Event.LOGIN_SUCCEEDED, "dave")
    assert [r.event for r in service.query(cli, address="10.0.0.2")] == [
        "2fa.enabled",
        "ip.trusted",
    ]
    assert [r.event for r in service.query(cli, address="10.0.0.")] == [
        "2fa.enabled",  # bob, 10.0.0.2
        "ip.removed",  # alice, 10.0.0.1
        "ip.trusted",
        "login.succeeded",
    ]
    assert service.query(cli, address="10.0.0.20") == []  # a whole address: not a start
    # IPv6 in any case and in its long form finds the canonical one stored.
    assert [r.subject for r in service.query(cli, address="2001:DB8::7")] == ["dave"]
    assert [r.subject for r in service.query(cli, address="2001:0db8:0000::7")] == ["dave"]
    assert [r.subject for r in service.query(cli, address="2001:db8:")] == ["dave"]
    assert len(service.query(cli, address="  ")) == 6  # empty: no filter
    for bad in ("10.0.0.%", "x", "10.0.0.1; --", "1" * 46):
        with pytest.raises(ValidationError) as refused:
            service.query(cli, address=bad)
        assert refused.value.errors == {
            "address": "Type an IP address (192.0.2.10) or how it starts (192.0.2.)."
        }
    # The export follows the same filter.
    out = io.StringIO()
    assert service.export_csv(cli, out, address="10.0.0.2") == 2


def test_query_filters_newest_first(ctx: CoreContext, trail: dict[str, datetime]) -> None:
    service = AuditService(ctx)
    cli = Actor.command_line()
    everything = service.query(cli)
    assert [r.event for r in everything] == [
        "2fa.enabled",
        "ip.expired",
        "ip.removed",
        "ip.trusted",
        "login.succeeded",
    ]
    assert everything[-1].address == "10.0.0.1" and everything[-1].workstation == "desk-1"
    assert everything[0].occurred_at.tzinfo is not None

    # By user: who acted, or whom it was about; part of the name, any case.
    assert [r.event for r in service.query(cli, actor_text="BOB")] == [
        "2fa.enabled",
        "ip.removed",
        "ip.trusted",
    ]
    assert [r.event for r in service.query(cli, actor_text="carol")] == ["ip.expired"]
    assert service.query(cli, actor_text="%") == []
    # By event, or by family of events.
    assert [r.subject for r in service.query(cli, event=Event.IP_REMOVED)] == ["bob"]
    assert [r.event for r in service.query(cli, event="ip")] == [
        "ip.expired",
        "ip.removed",
        "ip.trusted",
    ]
    # By date: since inclusive, until exclusive.
    assert [r.event for r in service.query(cli, since=trail["day3"])] == [
        "2fa.enabled",
        "ip.expired",
    ]
    assert [r.event for r in service.query(cli, until=trail["day2"])] == ["login.succeeded"]
    assert [
        r.event for r in service.query(cli, since=trail["day2"], until=trail["day3"], event="ip")
    ] == ["ip.removed", "ip.trusted"]
    # Keyset paging by id.
    first = service.query(cli, limit=2)
    rest = service.query(cli, limit=2, before_id=first[-1].id)
    assert [r.id for r in first + rest] == [r.id for r in everything[:4]]


def test_the_log_needs_system_log_read(ctx: CoreContext, trail: dict[str, datetime]) -> None:
    security_only = add_group(ctx.db, "Security", {"system.security": "red", "system": "red"})
    clerk = actor(add_person(ctx.db, "clerk", group_id=security_only))
    reader = actor(
        add_person(ctx.db, "reader", group_id=add_group(ctx.db, "Log", {"system.log": "r"}))
    )
    service = AuditService(ctx)
    with pytest.raises(PermissionDenied, match="System → Log"):
        service.query(clerk)
    with pytest.raises(PermissionDenied, match="System → Log"):
        service.export_csv(clerk, io.StringIO())
    assert len(service.query(reader)) == 5


def test_csv_export_is_what_the_log_shows_with_utc_and_no_formulas(
    ctx: CoreContext, clock: ShiftedClock, trail: dict[str, datetime], tmp_path: Path
) -> None:
    hostile = Actor('=HYPERLINK("http://evil")', person_id=9, workstation="@desk")
    log(ctx, hostile, Event.PERSON_UPDATED, "+32 470 12 34 56", "-1+1")
    service = AuditService(ctx)
    stream = io.StringIO()
    assert service.export_csv(Actor.command_line(), stream, event="person", tz=UTC) == 1
    header, row = list(csv.reader(io.StringIO(stream.getvalue())))
    assert header == [
        "Time",
        "Actor",
        "Event",
        "Subject",
        "Address",
        "Workstation",
        "Detail",
        "Time (UTC)",
    ]
    assert row[1] == '\'=HYPERLINK("http://evil")'
    assert row[2] == "Person changed"
    assert row[3] == "'+32 470 12 34 56"
    assert row[5] == "'@desk"
    assert row[6] == "'-1+1"
    exported_at = datetime.strptime(row[7], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(exported_at - (datetime.now(UTC) + clock.offset)) < timedelta(minutes=5)
    assert row[0] == exported_at.strftime("%Y-%m-%d %H:%M:%S")  # local time, here UTC

    folder = tmp_path / "exports"
    folder.mkdir()
    target = folder / "log.csv"
    assert service.export_csv(Actor.command_line(), target, actor_text="bob") == 3
    text = target.read_text(encoding="utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert len(lines) == 4 and lines[0][0] == "Time"
    assert [line[2] for line in lines[1:]] == ["Two-step turned on", "IP removed", "IP trusted"]
    assert all(line[7].endswith("Z") for line in lines[1:])
    assert list(folder.iterdir()) == [target], "no temporary file left behind"


def test_csv_export_reads_in_batches(ctx: CoreContext) -> None:
    who = Actor("batcher", person_id=3)
    with stage(ctx.db) as s:
        for i in range(2500):
            audit.record(s, ctx.clock, who, Event.CODE_SENT, subject=f"user{i}")
    stream = io.StringIO()
    assert AuditService(ctx).export_csv(Actor.command_line(), stream) == 2500
    rows = list(csv.reader(io.StringIO(stream.getvalue())))[1:]
    assert len({r[3] for r in rows}) == 2500
    assert rows[0][3] == "user2499" and rows[-1][3] == "user0"
