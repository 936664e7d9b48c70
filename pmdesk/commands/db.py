"""pmdesk db upgrade [--create] | status."""

from __future__ import annotations

import argparse

from sqlalchemy.exc import DBAPIError

from pmdesk.bootstrap import App
from pmdesk.commands.common import Access, add_command
from pmdesk.core import migrate
from pmdesk.core.errors import PmdeskError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("db", help="database schema: upgrade, status")
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION")
    upgrade = add_command(
        sub,
        "upgrade",
        _upgrade,
        "apply the schema migrations",
        migrate_first=False,
        access=Access.OPEN,
    )
    upgrade.add_argument(
        "--check-values",
        action="store_true",
        help="also count stored e-mail addresses and phone numbers that today's checks refuse "
        "(done by itself after an upgrade; it reads every person)",
    )
    upgrade.add_argument(
        "--create",
        action="store_true",
        help="make a new SQLite database file at the --database path (elsewhere than the "
        "embedded default, a missing file is refused: it is most often a mistyped path)",
    )
    add_command(
        sub,
        "status",
        _status,
        "describe the database and its schema",
        migrate_first=False,
        access=Access.OPEN,
    )


def _upgrade(app: App, args: argparse.Namespace) -> int:
    before = migrate.status(app.db).current
    after = migrate.upgrade(app.db)
    if before == after.current:
        print(f"Database already up to date (schema {after.current}).")
    else:
        print(f"Database upgraded from {before or 'empty'} to schema {after.current}.")
    # Once, when a newer pmdesk upgraded the schema (its checks may refuse older values): not
    # on every run, as it reads every person.
    if (before and before != after.current) or args.check_values:
        _report_refused_values(app)
    return 0


def _report_refused_values(app: App) -> None:
    """Stored e-mail addresses and phone numbers the current checks refuse: how many only (this
    command is open to anyone); ``pmdesk user check`` lists them for a signed-in person."""
    from pmdesk.core.stored_values import count_refused

    try:
        refused = count_refused(app.context)
    except (PmdeskError, DBAPIError):  # a login that may not read Personnel: say nothing
        return
    if refused:
        verb = "value no longer passes" if refused == 1 else "values no longer pass"
        print(
            f"{refused} stored e-mail or phone {verb} the checks (for example "
            "a mobile number a digit short). Sign in and run `pmdesk user check` to list "
            "them, then correct each in Maintenance → Personnel."
        )


def _status(app: App, args: argparse.Namespace) -> int:
    state = migrate.status(app.db)
    print(f"Engine:    {app.db.backend}")
    print(f"Location:  {app.db.describe()} ({app.resolved.source})")
    print(f"Schema:    {state.current or 'empty (not created yet)'}")
    print(f"Newest:    {state.head}")
    if state.up_to_date:
        print("Status:    up to date")
    else:
        print("Status:    needs upgrade (run: pmdesk db upgrade)")
    return 0
