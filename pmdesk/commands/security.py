"""pmdesk security status | enable-2fa | disable-2fa | set | trust-policy."""

from __future__ import annotations

import argparse
import sys

from pmdesk.bootstrap import App
from pmdesk.commands.common import (
    MAX_ID,
    CommandFailed,
    add_command,
    bounded_int,
    print_table,
    signed_in,
)
from pmdesk.core.office_networks import TRUST_POLICIES, OfficeNetworkService
from pmdesk.core.security import SecurityService, ShutOutPerson, ShutOutWarning


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("security", help="two-step authentication and its settings")
    sub = parser.add_subparsers(dest="security_command", metavar="ACTION")
    add_command(sub, "status", _status, "show two-step authentication and connection security")
    enable = add_command(
        sub,
        "enable-2fa",
        _enable,
        "turn two-step authentication on (lists who could not receive a code first)",
    )
    enable.add_argument(
        "--yes",
        action="store_true",
        help="turn it on even if some people could not receive a code (they are shut out)",
    )
    add_command(sub, "disable-2fa", _disable, "turn two-step authentication off")
    settings = add_command(
        sub,
        "set",
        _set,
        "change the trust period, the code lifetime, the never-trusted list, the length of "
        "a command-line session, the lockout's numbers or the helpdesk mailbox for trust alerts",
    )
    settings.add_argument(
        "--trust-days",
        type=bounded_int(-MAX_ID, MAX_ID),
        metavar="DAYS",
        help="how long an address stays trusted (1-90)",
    )
    settings.add_argument(
        "--dry-run",
        action="store_true",
        help="only say how many trusted addresses and people a shorter trust period would affect",
    )
    settings.add_argument(
        "--code-minutes",
        type=bounded_int(-MAX_ID, MAX_ID),
        metavar="MIN",
        help="how long a code stays valid (1-10)",
    )
    settings.add_argument(
        "--session-hours",
        type=bounded_int(-MAX_ID, MAX_ID),
        metavar="HOURS",
        help="how long a command-line session lasts (1-168)",
    )
    for flag, unit, text in (
        ("--lock-after", "N", "failures from one address before it is locked (3-100)"),
        ("--first-lock-minutes", "MIN", "how long the first lock lasts (1-60)"),
        ("--max-lock-minutes", "MIN", "how long the longest lock lasts (first-1440)"),
    ):
        settings.add_argument(flag, type=bounded_int(-MAX_ID, MAX_ID), metavar=unit, help=text)
    policy = add_command(
        sub,
        "trust-policy",
        _trust_policy,
        "where an address may be trusted: anywhere, only inside the office networks, or never",
    )
    policy.add_argument("policy", choices=TRUST_POLICIES)
    policy.add_argument(
        "--dry-run",
        action="store_true",
        help="only say how many trusted addresses and people the change would affect",
    )
    settings.add_argument(
        "--never-trust",
        metavar="LIST",
        help='proxy or pooler addresses never trusted, e.g. "10.0.0.5, 10.1.0.0/24" '
        '("" clears the list)',
    )
    settings.add_argument(
        "--helpdesk-mailbox",
        metavar="ADDRESS",
        help="the mailbox that gets a copy of every trust alert (an address trusted outside "
        'the office networks), e.g. "Helpdesk <helpdesk@example.com>" ("" for none)',
    )


def _yes_no(value: bool | None, *, none: str) -> str:
    return none if value is None else ("yes" if value else "NO")


def _status(app: App, args: argparse.Namespace) -> int:
    service = SecurityService(app.context)
    actor = signed_in(args)
    settings = service.get(actor)
    status = service.connection_status(actor)
    state = "Enabled" if settings.two_factor_enabled else "Disabled"
    print(f"Two step authentication:  {state}")
    print(f"Trust an address for:     {settings.trust_days} days")
    print(f"Codes are valid for:      {settings.code_ttl_minutes} minutes")
    print(f"Never trusted:            {settings.never_trusted_addresses or '(none)'}")
    print(f"Command-line sessions:    {settings.session_hours} hours")
    print(f"Trust policy:             {settings.trust_policy}")
    print(
        f"Lockout:                  after {settings.lock_after_failures} failures from one "
        f"address, {settings.first_lock_minutes} to {settings.max_lock_minutes} minutes"
    )
    print(f"Helpdesk mailbox:         {settings.helpdesk_mailbox or '(none)'}")
    print(f"Codes are delivered by:   {status.mail_label}")
    print(f"Mail/SMS encrypted:       {_yes_no(status.mail_encrypted, none='n/a (no network)')}")
    print(
        "Database link encrypted:  "
        + _yes_no(status.database_encrypted, none="n/a (embedded database on this computer)")
    )
    print(f"This workstation's IP:    {status.workstation_address or 'unknown'}")
    return 0


def _print_shut_out(people: list[ShutOutPerson]) -> None:
    print(f"{len(people)} people could not receive a security code:")
    print_table(["Login", "Name", "Why"], [[p.login, p.name, p.reason] for p in people])


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in {"y", "yes"}


def _enable(app: App, args: argparse.Namespace) -> int:
    service = SecurityService(app.context)
    actor = signed_in(args)
    settings = service.get(actor)
    if settings.two_factor_enabled:
        print("Two step authentication is already enabled.")
        return 0
    shut_out = service.readiness(actor)
    if shut_out:
        _print_shut_out(shut_out)
        accepted = args.yes or _confirm(
            "They will not be able to sign in until they have an address. Turn it on anyway?"
        )
        if not accepted:
            raise CommandFailed(
                f"Two step authentication stays off: {len(shut_out)} people would be shut out. "
                "Give them an e-mail address, or run again with --yes."
            )
    else:
        print("Everyone who can sign in can receive a security code.")
    try:
        service.set_two_factor(actor, True, settings.version, accept_shut_out=bool(shut_out))
    except ShutOutWarning as exc:  # someone lost their address in the meantime
        _print_shut_out(exc.people)
        raise CommandFailed(str(exc)) from exc
    print("Two step authentication is now enabled.")
    return 0


def _disable(app: App, args: argparse.Namespace) -> int:
    service = SecurityService(app.context)
    actor = signed_in(args)
    settings = service.get(actor)
    if not settings.two_factor_enabled:
        print("Two step authentication is already disabled.")
        return 0
    service.set_two_factor(actor, False, settings.version)
    print("Two step authentication is now disabled: a password alone signs in.")
    return 0


def _set(app: App, args: argparse.Namespace) -> int:
    lockout = (args.lock_after, args.first_lock_minutes, args.max_lock_minutes)
    wanted = (
        args.trust_days,
        args.code_minutes,
        args.never_trust,
        args.session_hours,
        args.helpdesk_mailbox,
        *lockout,
    )
    if all(value is None for value in wanted):
        raise CommandFailed(
            "Nothing to change: give --trust-days, --code-minutes, --never-trust, "
            "--session-hours, --helpdesk-mailbox, --lock-after, --first-lock-minutes and/or "
            "--max-lock-minutes.",
            2,
        )
    service = SecurityService(app.context)
    actor = signed_in(args)
    current = service.get(actor)
    shorter = args.trust_days is not None and args.trust_days < current.trust_days
    found = service.impact_of_trust_days(actor, args.trust_days) if shorter else None
    if args.dry_run:
        if found is not None:
            print(
                f"Trust period {current.trust_days} → {args.trust_days} days: {found.describe()}."
            )
        else:
            print("No trusted address is affected.")
        print("Nothing was changed (--dry-run).")
        return 0
    saved = service.update(
        actor,
        current.version,
        trust_days=args.trust_days,
        code_ttl_minutes=args.code_minutes,
        never_trusted_addresses=args.never_trust,
        session_hours=args.session_hours,
        lock_after_failures=args.lock_after,
        first_lock_minutes=args.first_lock_minutes,
        max_lock_minutes=args.max_lock_minutes,
        helpdesk_mailbox=args.helpdesk_mailbox,
    )
    print(
        f"Addresses stay trusted for {saved.trust_days} days; "
        f"codes are valid for {saved.code_ttl_minutes} minutes."
    )
    if found is not None:
        print(f"With the shorter trust period, {found.describe()}.")
    if args.never_trust is not None:
        print(f"Never trusted: {saved.never_trusted_addresses or '(none)'}")
    if args.session_hours is not None:
        print(f"A command-line session lasts {saved.session_hours} hours.")
    if any(value is not None for value in lockout):
        print(
            f"Lockout: after {saved.lock_after_failures} failures from one address, "
            f"{saved.first_lock_minutes} to {saved.max_lock_minutes} minutes."
        )
    if args.helpdesk_mailbox is not None:
        print(f"Trust alerts also go to: {saved.helpdesk_mailbox or '(nobody)'}")
    return 0


def _trust_policy(app: App, args: argparse.Namespace) -> int:
    actor = signed_in(args)
    service = SecurityService(app.context)
    current = service.get(actor)
    if current.trust_policy == args.policy:
        print(f"The trust policy is already {args.policy}.")
        return 0
    found = OfficeNetworkService(app.context).impact_of_policy(actor, args.policy)
    if args.dry_run:
        print(f"Trust policy {current.trust_policy} → {args.policy}: {found.describe()}.")
        print("Nothing was changed (--dry-run).")
        return 0
    service.update(actor, current.version, trust_policy=args.policy)
    print(f"The trust policy is now {args.policy}: {found.describe()}.")
    return 0
