"""The ``pmdesk`` command: the GUI by default, sub-commands for helpdesk and deployment.

Importing this module must not import Qt (a test enforces it): the GUI is loaded only when no
sub-command is given.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pmdesk import __version__
from pmdesk.commands import COMMAND_MODULES
from pmdesk.commands.common import CommandFailed, run_command

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pmdesk",
        description="Administration of two-step authentication for the workshop database. "
        "Without a command, opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"pmdesk {__version__}")
    add_database_option(parser)
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="check that the app can start (GUI, database, keyring) and exit",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="database URL (default: PMDESK_DATABASE_URL, the settings file, then the "
        "embedded SQLite database)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    database = getattr(args, "database", None)
    if args.command is None:
        from pmdesk.gui_entry import run_gui

        return run_gui(database_url=database, self_test=args.self_test)
    try:
        return run_command(args, database)
    except CommandFailed as exc:
        print(f"pmdesk: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pmdesk: interrupted", file=sys.stderr)
        return 130
