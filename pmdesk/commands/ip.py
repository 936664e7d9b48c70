"""pmdesk ip list | remove | trust | expire | trace: the trusted IP addresses."""

from __future__ import annotations

import argparse
from datetime import datetime

from pmdesk.bootstrap import App
from pmdesk.commands.common import (
    MAX_ID,
    CommandFailed,
    add_command,
    bounded_int,
    print_table,
    signed_in,
)
from pmdesk.core.audit import MAX_QUERY_LIMIT, event_name
from pmdesk.core.errors import ValidationError
from pmdesk.core.personnel import PersonnelService
from pmdesk.core.screens import address_trace
from pmdesk.core.trusted_ip_row import TrustedIpRow
from pmdesk.core.trusted_ips import MAX_PAGE_SIZE, TrustedIpService


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("ip", help="trusted IP addresses")
    sub = parser.add_subparsers(dest="ip_command", metavar="ACTION")
    listing = add_command(sub, "list", _list, "list trusted addresses, newest first")
    listing.add_argument("--user", metavar="LOGIN", help="only this user's addresses")
    listing.add_argument(
        "--filter", default="", metavar="TEXT", help="start of a login, name or address"
    )
    listing.add_argument(
        "--page", type=bounded_int(1, MAX_ID), default=1, help="page number (default 1)"
    )
    listing.add_argument(
        "--page-size",
        type=bounded_int(1, MAX_ID),
        default=50,
        help=f"rows per page (default 50, at most {MAX_PAGE_SIZE})",
    )
    listing.add_argument(
        "--review",
        action="store_true",
        help="only addresses needing review (outside office networks, public, shared, never "
        "used), with the reasons",
    )
    remove = add_command(sub, "remove", _remove, "remove trusted addresses by Id (see ip list)")
    remove.add_argument("ids", metavar="ID", type=bounded_int(1, MAX_ID), nargs="+")
    trust = add_command(sub, "trust", _trust, "trust an address for a user")
    trust.add_argument("login")
    trust.add_argument("address")
    add_command(sub, "expire", _expire, "remove addresses whose trust period has ended")
    trace = add_command(
        sub, "trace", _trace, "everyone who has an address trusted, and every event there"
    )
    trace.add_argument("address")
    trace.add_argument(
        "--events",
        type=bounded_int(1, MAX_TRACE_EVENTS),
        default=50,
        metavar="N",
        help=f"the newest N events (default 50, at most {MAX_TRACE_EVENTS})",
    )


MAX_TRACE_EVENTS = MAX_QUERY_LIMIT


def _person_id(app: App, login: str) -> int:
    record = PersonnelService(app.context).find_by_login(login)
    if record is None:
        raise CommandFailed(f"No user with the login '{login}'. See: pmdesk user list")
    return record.id


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _table(rows: list[TrustedIpRow], *, reasons: bool = False) -> None:
    print_table(
        ["Id", "IP", "Network", "Created (UTC)", "User", "Name", "Expires (UTC)"]
        + (["Reasons"] if reasons else []),
        [
            [
                str(r.id),
                r.address,
                r.network_name,
                _when(r.created_at),
                r.login,
                r.person_name,
                _when(r.expires_at),
            ]
            + (["; ".join(r.reasons)] if reasons else [])
            for r in rows
        ],
    )


def _list(app: App, args: argparse.Namespace) -> int:
    actor = signed_in(args)
    person_id = _person_id(app, args.user) if args.user else None
    if args.page_size < 1:
        raise CommandFailed("--page-size must be at least 1.", 2)
    page = TrustedIpService(app.context).page(
        actor,
        filter_text=args.filter,
        person_id=person_id,
        page=args.page,
        page_size=args.page_size,
        review=args.review,
    )
    if not page.rows:
        if page.total:
            print("No rows on that page.")
        else:
            print("No trusted address needs review." if args.review else "No trusted addresses.")
        return 0
    _table(page.rows, reasons=args.review)
    print(page.describe())
    return 0


def _remove(app: App, args: argparse.Namespace) -> int:
    wanted = sorted(set(args.ids))
    removed = TrustedIpService(app.context).remove(signed_in(args), wanted)
    if removed == 0:
        raise CommandFailed(
            "No trusted address with " + ("that Id." if len(wanted) == 1 else "those Ids.")
        )
    print(f"Removed {removed} trusted address{'es' if removed != 1 else ''}.")
    if removed < len(wanted):
        print(f"{len(wanted) - removed} of the Ids given were not found (already removed?).")
    return 0


def _trust(app: App, args: argparse.Namespace) -> int:
    person_id = _person_id(app, args.login)
    try:
        row = TrustedIpService(app.context).trust_by_admin(signed_in(args), person_id, args.address)
    except ValidationError as exc:
        # Not an address, or one never trusted here (loopback on a shared database, a proxy
        # on the never-trusted list): the core's sentence says why.
        raise CommandFailed(f"Not trusted: {exc}") from exc
    print(f"{row.address} is trusted for {row.login} until {_when(row.expires_at)} UTC.")
    return 0


def _expire(app: App, args: argparse.Namespace) -> int:
    service = TrustedIpService(app.context)
    actor = signed_in(args)
    if service.swept_by_relay:
        print(
            "Nothing to do here: on this database the relay removes expired trusted addresses "
            "every minute (see pmdesk server status)."
        )
        return 0
    removed = service.expire(actor)
    print(f"Removed {removed} expired trusted address{'es' if removed != 1 else ''}.")
    return 0


def _trace(app: App, args: argparse.Namespace) -> int:
    """Who has the address trusted, then what happened there (the Log, exact address)."""
    try:
        trace = address_trace(app.context, signed_in(args), args.address, events=args.events)
    except ValidationError as exc:
        raise CommandFailed(str(exc), 2) from exc
    print(f"{trace.address} ({trace.network_name})")
    people = len(trace.trusted)
    if people:
        print(f"Trusted for {people} {'person' if people == 1 else 'people'}:")
        _table(list(trace.trusted))
    else:
        print("Trusted for nobody.")
    if not trace.events:
        print("No events at this address.")
        return 0
    count = len(trace.events)
    shown = f"the newest {count}" if count == args.events else str(count)
    print(f"Events at this address ({shown}, newest first):")
    print_table(
        ["Time (UTC)", "Actor", "Event", "Subject", "Workstation"],
        [
            [_when(e.occurred_at), e.actor, event_name(e.event), e.subject, e.workstation]
            for e in trace.events
        ],
    )
    print("Seen there: " + ", ".join(trace.seen))
    return 0
