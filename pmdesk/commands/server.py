"""pmdesk server init | status: server-enforced mode on PostgreSQL (docs/server-enforced.md).

Run by whoever administers the PostgreSQL server, with its own credentials (``--database
OWNER_URL``), not by a signed-in person: what these commands may do is decided by PostgreSQL,
which refuses them to a workstation's login.
"""

from __future__ import annotations

import argparse

from pmdesk.bootstrap import App
from pmdesk.commands.common import Access, CommandFailed, add_command
from pmdesk.core.server import meta
from pmdesk.core.server.roles import DEFAULT_PREFIX
from pmdesk.core.server.setup import InitResult, ServerModeUnsupported, initialise
from pmdesk.core.server.status import Level, Line, report

# A usage-like refusal: the engine cannot do this at all (not a failure of the server).
UNSUPPORTED_EXIT = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "server", help="server-enforced mode on PostgreSQL: init, status (server administrators)"
    )
    sub = parser.add_subparsers(dest="server_command", metavar="ACTION")
    init = add_command(
        sub,
        "init",
        _init,
        "set up or repair server-enforced mode: roles, schema, grants (needs a superuser, or "
        "CREATEROLE and CREATE on the database); safe to run again",
        migrate_first=False,
        access=Access.OPEN,
    )
    init.add_argument(
        "--role-prefix",
        default=DEFAULT_PREFIX,
        metavar="PREFIX",
        help=f"name the roles PREFIX_owner, PREFIX_workstation, PREFIX_relay (default "
        f"{DEFAULT_PREFIX}; one prefix per database on a shared server)",
    )
    for kind in ("workstation", "relay"):
        init.add_argument(
            f"--rotate-{kind}-password",
            action="append_const",
            const=kind,
            dest="rotate",
            help=f"make a new password for the {kind} role (it is shown once)",
        )
    add_command(
        sub,
        "status",
        _status,
        "what is in place: roles, grants, logging (exit 1 on a problem)",
        migrate_first=False,
        access=Access.OPEN,
    )


def _unsupported(exc: ServerModeUnsupported) -> CommandFailed:
    return CommandFailed(str(exc), UNSUPPORTED_EXIT)


def _init(app: App, args: argparse.Namespace) -> int:
    try:
        result = initialise(
            app.db.url, prefix=args.role_prefix, rotate=frozenset(args.rotate or ())
        )
    except ServerModeUnsupported as exc:
        raise _unsupported(exc) from exc
    _print_init(result)
    print()
    return _print_status(report(app.db))


def _print_init(result: InitResult) -> None:
    level = meta.LEVEL_DESCRIPTIONS[meta.HARDENING_LEVEL]
    print(
        f"Server-enforced mode is set up on {result.database} (hardening "
        f"{meta.HARDENING_LEVEL}: {level})."
    )
    if result.created:
        print(f"Roles created: {', '.join(result.created)}")
    if result.moved:
        print(f"Moved from schema public to schema pmdesk: {len(result.moved)} objects")
    for taken in result.taken:
        print(f"Rights taken from another role: {taken}")
    if result.conversion is not None:
        c = result.conversion
        print(
            f"Converted: {c.sessions_ended} sessions ended and {c.codes_withdrawn} pending codes "
            f"withdrawn (everyone signs in once more); {c.people} people and "
            f"{c.trusted_addresses} trusted addresses kept (review the addresses on "
            "System → Security)."
        )
    if result.passwords_moved:
        print(
            f"Passwords: {result.passwords_moved} now verified by the server; nobody retypes "
            "one. Backups made before now still hold the old, readable hashes."
        )
    for warning in result.warnings:
        print(f"Warning: {warning}")
    for role, url in result.login_urls.items():
        who = "Workstations" if role == result.roles.workstation else "The relay"
        if role in result.passwords:
            print(f"{who}: sign in to the database with (the password is shown only now):")
            print(f"  {url.render_as_string(hide_password=False)}")
        else:
            print(f"{who}: {url.render_as_string(hide_password=True)} (password unchanged)")
    print(
        "Codes are sent only by the relay: run `pmdesk relay --database RELAY_URL` on a server "
        "(deploy/pmdesk-relay.service), then check `pmdesk server status`."
    )


def _status(app: App, args: argparse.Namespace) -> int:
    try:
        lines = report(app.db)
    except ServerModeUnsupported as exc:
        raise _unsupported(exc) from exc
    return _print_status(lines)


def _print_status(lines: list[Line]) -> int:
    width = max(len(line.topic) for line in lines)
    previous = ""
    for line in lines:
        topic = "" if line.topic == previous else line.topic
        previous = line.topic
        print(f"{topic:<{width}}  {line.text}  [{line.level}]")
    return 1 if any(line.level is Level.PROBLEM for line in lines) else 0
