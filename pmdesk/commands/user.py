"""pmdesk user add | list | check | locked | unlock | passwd | temp-code."""

from __future__ import annotations

import argparse

from pmdesk.bootstrap import App
from pmdesk.commands.common import (
    Access,
    CommandFailed,
    add_command,
    print_table,
    read_secret,
    signed_in,
)
from pmdesk.core import helpdesk, lockout
from pmdesk.core.groups import find_group
from pmdesk.core.personnel import PersonForm, PersonnelService, PersonRecord, PersonRow
from pmdesk.core.trusted_ips import TrustedIpService


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("user", help="staff accounts")
    sub = parser.add_subparsers(dest="user_command", metavar="ACTION")
    add = add_command(
        sub,
        "add",
        _add,
        "add a person with a login (open to anyone while nobody can sign in)",
        access=Access.FIRST_USER,
    )
    add.add_argument("login")
    add.add_argument("--email", required=True)
    add.add_argument("--group", required=True, help="user group name, e.g. Administrator")
    add.add_argument("--first-name", default="")
    add.add_argument("--last-name", default="")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add_command(sub, "list", _list, "list people with a login")
    add_command(
        sub,
        "check",
        _check,
        "list stored e-mail addresses and phone numbers that the current checks refuse "
        "(exit 1 when there are any)",
    )
    add_command(
        sub,
        "locked",
        _locked,
        "list who is locked now after failed sign-ins: everywhere, or from one address",
    )
    unlock = add_command(
        sub,
        "unlock",
        _unlock,
        "unlock an account locked after failed sign-ins (everywhere and from every address)",
    )
    unlock.add_argument("login", nargs="?")
    unlock.add_argument("--all", action="store_true", help="unlock everyone locked now")
    passwd = add_command(
        sub,
        "passwd",
        _passwd,
        "set a user's password (this also removes the user's trusted addresses)",
    )
    passwd.add_argument("login")
    passwd.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    temp = add_command(
        sub,
        "temp-code",
        _temp_code,
        "issue a one-time sign-in code to read out to a user over the phone (System → Security "
        "Edit); it replaces the user's live one",
    )
    temp.add_argument("login")
    temp.add_argument("--reason", required=True, help="why, or a ticket reference (1-200 chars)")
    temp.add_argument(
        "--minutes",
        type=int,
        default=helpdesk.DEFAULT_MINUTES,
        help=f"how long it is valid ({helpdesk.MIN_MINUTES}-{helpdesk.MAX_MINUTES}, "
        f"default {helpdesk.DEFAULT_MINUTES})",
    )


def _add(app: App, args: argparse.Namespace) -> int:
    with app.db.session() as s:
        group = find_group(s, args.group)
        group_id = group.id if group else None
    if group_id is None:
        raise CommandFailed(f"Unknown group '{args.group}'. See: pmdesk group list")
    password = read_secret("Password: ", from_stdin=args.password_stdin, confirm=True)
    form = PersonForm(
        login=args.login,
        email=args.email,
        group_id=group_id,
        first_name=args.first_name,
        last_name=args.last_name or ("" if args.first_name else args.login),
        password=password,
        password_confirm=password,
    )
    record = PersonnelService(app.context).create(signed_in(args), form)
    print(f"Added {record.form.login} ({record.form.email}) to {record.group_name}.")
    return 0


def _check(app: App, args: argparse.Namespace) -> int:
    from pmdesk.core.stored_values import list_refused

    refused = list_refused(app.context, signed_in(args))
    if not refused:
        print("Every stored e-mail address and phone number passes the checks.")
        return 0
    print_table(
        ["Login", "Name", "Field", "Stored", "Why"],
        [[r.login or "-", r.name, r.field, r.value, r.why] for r in refused],
    )
    return 1


def _list(app: App, args: argparse.Namespace) -> int:
    service = PersonnelService(app.context)
    actor = signed_in(args)
    rows: list[PersonRow] = []
    offset = 0
    while True:
        page = service.page(actor, sort="login", offset=offset, limit=500)
        rows.extend(r for r in page if r.login)
        if len(page) < 500:
            break
        offset += 500
    with app.db.session() as s:
        now = app.context.clock.now(s)
    print_table(
        ["Login", "Name", "E-mail", "Group", "Locked"],
        [
            [
                r.login,
                " ".join(p for p in (r.first_name, r.last_name) if p),
                r.email,
                r.group_name,
                "yes" if r.locked_until and r.locked_until > now else "no",
            ]
            for r in rows
        ],
    )
    return 0


def _find(app: App, login: str) -> PersonRecord:
    record = PersonnelService(app.context).find_by_login(login)
    if record is None:
        raise CommandFailed(f"No user with the login '{login}'. See: pmdesk user list")
    return record


def _locked(app: App, args: argparse.Namespace) -> int:
    locks = PersonnelService(app.context).locked_now(signed_in(args))
    if not locks:
        print("Nobody is locked now.")
        return 0
    print_table(
        ["Login", "Name", "Where", "Until", "Left", "Lock", "Failures since"],
        [
            [
                lock.login or "-",
                lock.name,
                lock.where,
                lock.locked_until.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                lockout.time_left(lock.seconds_left),
                str(lock.lock_count),
                str(lock.failures),
            ]
            for lock in locks
        ],
    )
    return 0


def _unlock(app: App, args: argparse.Namespace) -> int:
    service = PersonnelService(app.context)
    actor = signed_in(args)
    if args.all == bool(args.login):
        raise CommandFailed("Name one login to unlock, or --all to unlock everyone locked now.")
    if args.all:
        done = service.unlock_all(actor)
        if not done.unlocked and not done.skipped:
            print("Nobody was locked.")
        if done.unlocked:
            print(f"Unlocked {len(done.unlocked)}: " + ", ".join(done.unlocked) + ".")
        if done.skipped:
            print(
                "Left locked, as their user group has rights your own lacks: "
                + ", ".join(done.skipped)
                + "."
            )
        return 0
    record = _find(app, args.login)
    was_locked = any(lock.person_id == record.id for lock in service.locked_now(actor))
    service.unlock(actor, record.id)
    if was_locked:
        print(f"Unlocked {record.form.login}: they can sign in again.")
    else:
        print(f"{record.form.login} was not locked; the failed sign-in count is reset.")
    return 0


def _passwd(app: App, args: argparse.Namespace) -> int:
    record = _find(app, args.login)
    password = read_secret(
        f"New password for {record.form.login}: ", from_stdin=args.password_stdin, confirm=True
    )
    actor = signed_in(args)
    trusted = len(TrustedIpService(app.context).for_person(actor, record.id))
    PersonnelService(app.context).set_password(actor, record.id, password, password)
    note = (
        f"; {trusted} trusted address{'es' if trusted != 1 else ''} removed, so the next "
        "sign-in asks for a security code"
        if trusted
        else ""
    )
    print(f"Password changed for {record.form.login}{note}.")
    return 0


def _temp_code(app: App, args: argparse.Namespace) -> int:
    actor = signed_in(args)
    record = _find(app, args.login)
    issued = helpdesk.HelpdeskCodeService(app.context).issue(
        actor, record.id, args.reason, args.minutes
    )
    until = issued.expires_at.astimezone().strftime("%Y-%m-%d %H:%M %Z")
    note = " It replaces the code issued before." if issued.replaced else ""
    print(f"Helpdesk code for {issued.login}: {issued.grouped}")
    print(f"Valid once, until {until}.{note} Read it out now: it is not shown again.")
    return 0
