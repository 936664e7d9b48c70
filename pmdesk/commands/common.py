"""What every sub-command shares: opening the app, errors as one clear line."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Callable

from sqlalchemy.exc import DBAPIError

from pmdesk.bootstrap import App, build_app
from pmdesk.config import ConfigError
from pmdesk.core import migrate
from pmdesk.core.db import unavailable_message
from pmdesk.core.errors import DatabaseUnavailable, PmdeskError, ValidationError
from pmdesk.log_file import setup_logging
from pmdesk.secrets import SecretStoreError

log = logging.getLogger(__name__)

Handler = Callable[[App, argparse.Namespace], int]


class CommandFailed(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def add_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Handler,
    help_text: str,
    *,
    migrate_first: bool = True,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    parser.add_argument("--database", metavar="URL", default=argparse.SUPPRESS, help="database URL")
    parser.set_defaults(handler=handler, migrate_first=migrate_first)
    return parser


def run_command(args: argparse.Namespace, database: str | None) -> int:
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        raise CommandFailed(
            f"'{args.command}' needs a sub-command; see pmdesk {args.command} -h", 2
        )
    app: App | None = None
    try:
        app = build_app(database)
        # Warnings go to the log file, not next to the one-line error on stderr.
        setup_logging(app.paths)
        if getattr(args, "migrate_first", True):
            migrate.upgrade(app.db)
        return handler(app, args)
    except ValidationError as exc:
        raise CommandFailed(str(exc)) from exc
    except DatabaseUnavailable as exc:
        needs_password = "password" in str(exc).lower() or "authentication" in str(exc).lower()
        hint = f" {app.keyring_problem}" if app and app.keyring_problem and needs_password else ""
        raise CommandFailed(f"{exc}{hint}") from exc
    except (PmdeskError, SecretStoreError, ConfigError) as exc:
        raise CommandFailed(str(exc)) from exc
    except DBAPIError as exc:
        log.exception("database error")
        url = app.db.url if app else database or "the database"
        raise CommandFailed(unavailable_message(url, exc)) from exc
    finally:
        if app is not None:
            app.db.dispose()


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
