"""What every sub-command shares: opening the app, errors as one clear line."""

from __future__ import annotations

import argparse
import enum
import getpass
import logging
import sys
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError

from pmdesk.bootstrap import App, build_app
from pmdesk.config import ConfigError
from pmdesk.core import migrate
from pmdesk.core.context import Actor
from pmdesk.core.db import database_error_message
from pmdesk.core.errors import DatabaseUnavailable, NotSignedIn, PmdeskError, ValidationError
from pmdesk.core.personnel import PersonnelService
from pmdesk.core.sessions import SIGN_IN_FIRST, SessionService
from pmdesk.log_file import setup_logging
from pmdesk.paths import FolderError
from pmdesk.secrets import SecretStoreError, session_key

log = logging.getLogger(__name__)

Handler = Callable[[App, argparse.Namespace], int]

# Exit status of a command refused for want of a valid session.
NOT_SIGNED_IN = 3


class CommandFailed(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class Access(enum.Enum):
    """Who may run a command."""

    SIGNED_IN = "signed in"  # a command-line session (pmdesk login), acting with its rights
    OPEN = "open"  # anyone: version, status, upgrade, login, logout, whoami
    FIRST_USER = "first user"  # anyone while nobody can sign in (the first administrator)
    OWNER = "owner"  # break-glass: the database owner's credentials (pmdesk recover)


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Handler,
    help_text: str,
    *,
    migrate_first: bool = True,
    access: Access = Access.SIGNED_IN,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("--database", metavar="URL", default=argparse.SUPPRESS, help="database URL")
    parser.set_defaults(handler=handler, migrate_first=migrate_first, access=access)
    return parser


def signed_in(args: argparse.Namespace) -> Actor:
    """The person a signed-in command acts as (checked by run_command before the handler)."""
    actor = getattr(args, "actor", None)
    if not isinstance(actor, Actor):  # pragma: no cover - run_command always sets it
        raise CommandFailed(SIGN_IN_FIRST, NOT_SIGNED_IN)
    return actor


def session_key_for(app: App) -> str:
    return session_key(app.db.url.render_as_string(hide_password=True))


def _check_access(app: App, args: argparse.Namespace) -> None:
    """Refuse before anything is read or changed unless this command may run here and now."""
    access: Access = getattr(args, "access", Access.SIGNED_IN)
    if access is Access.OPEN:
        return
    if access is Access.OWNER:
        from pmdesk.core.recovery import require_owner

        require_owner(app.db)
        return
    if access is Access.FIRST_USER and not PersonnelService(app.context).anyone_can_sign_in():
        args.actor = Actor.command_line()
        return
    try:
        token = app.secrets.get(session_key_for(app))
    except SecretStoreError as exc:
        raise CommandFailed(f"{SIGN_IN_FIRST} ({exc})", NOT_SIGNED_IN) from exc
    try:
        # Where the server keeps the sessions, this also makes the token the identity of every
        # connection the command opens (Database.use_session).
        active = SessionService(app.context).resolve(
            token, workstation=Actor.command_line().workstation
        )
    except NotSignedIn as exc:
        log.info("command refused: %s", exc.reason)
        raise CommandFailed(SIGN_IN_FIRST, NOT_SIGNED_IN) from exc
    args.actor = active.actor


def run_command(args: argparse.Namespace, database: str | None) -> int:
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        raise CommandFailed(
            f"'{args.command}' needs a sub-command; see pmdesk {args.command} -h", 2
        )
    app: App | None = None
    try:
        app = build_app(database, create=getattr(args, "create", False))
        # Warnings go to the log file, not next to the one-line error on stderr.
        setup_logging(app.paths)
        if getattr(args, "migrate_first", True):
            migrate.upgrade(app.db)
        _check_access(app, args)
        return handler(app, args)
    except CommandFailed:
        raise
    except ValidationError as exc:
        raise CommandFailed(str(exc)) from exc
    except NotSignedIn as exc:  # the server found no session that holds (it ended meanwhile)
        log.info("command refused by the server: %s", exc.reason)
        raise CommandFailed(SIGN_IN_FIRST, NOT_SIGNED_IN) from exc
    except DatabaseUnavailable as exc:
        needs_password = "password" in str(exc).lower() or "authentication" in str(exc).lower()
        hint = f" {app.keyring_problem}" if app and app.keyring_problem and needs_password else ""
        raise CommandFailed(f"{exc}{hint}") from exc
    except (PmdeskError, SecretStoreError, ConfigError, FolderError) as exc:
        raise CommandFailed(str(exc)) from exc
    except DBAPIError as exc:
        log.exception("database error")
        if app is None:
            raise CommandFailed(f"Database error: {exc.orig or exc}") from exc
        raise CommandFailed(database_error_message(app.db.url, exc)) from exc
    finally:
        if app is not None:
            app.db.dispose()


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``, else a usage error (an
    id or count beyond the database's columns never reaches it)."""

    def parse(text: str) -> int:
        value: int | None
        try:
            value = int(text.strip()) if len(text) <= 40 else None
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"'{text[:40]}' is not a whole number from {low} to {high}"
            )
        return value

    parse.__name__ = "whole number"  # argparse names the type in some messages
    return parse


# Ids are 32-bit integer columns on every engine.
MAX_ID = 2**31 - 1


def read_secret(prompt: str, *, from_stdin: bool, confirm: bool) -> str:
    """A secret from one stdin line (scripts) or a hidden prompt (people)."""
    if from_stdin:
        line = sys.stdin.readline()
        return line[:-1] if line.endswith("\n") else line
    if not sys.stdin.isatty():
        raise CommandFailed("No terminal to ask for the password: use --password-stdin.")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("Confirm: ") != first:
        raise CommandFailed("The passwords do not match.")
    return first


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*headers).rstrip())
    for row in rows:
        print(line.format(*row).rstrip())
