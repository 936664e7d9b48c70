"""The ``pmdesk`` command: the GUI by default, sub-commands for helpdesk and deployment.

Importing this module must not import Qt (a test enforces it): the GUI is loaded only when no
sub-command is given.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from pmdesk import __version__

log = logging.getLogger(__name__)

# Known sub-commands, so that starting the GUI does not import them (SQLAlchemy, Alembic…):
# the login dialog must paint before any of that is loaded. A test keeps this in step.
COMMAND_NAMES = frozenset(
    {
        "db",
        "user",
        "group",
        "mail",
        "login",
        "logout",
        "whoami",
        "security",
        "ip",
        "recover",
        "server",
        "relay",
        "network",
    }
)


class Parser(argparse.ArgumentParser):
    """An argument error is two lines: the usage on one line, then the error (argparse wraps a
    long usage over several, and quotes the argument as typed)."""

    def error(self, message: str) -> NoReturn:
        usage = " ".join(self.format_usage().split())
        self.exit(2, f"{usage}\n{self.prog}: error: {one_line(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
    from pmdesk.commands import COMMAND_MODULES

    for module in COMMAND_MODULES:
        module.register(commands)
    return parser


def _gui_arguments(argv: Sequence[str]) -> argparse.Namespace | None:
    """The GUI's options when ``argv`` names no sub-command (and asks for no help)."""
    if any(arg in COMMAND_NAMES or arg in {"-h", "--help", "--version"} for arg in argv):
        return None
    parser = Parser(prog="pmdesk", add_help=False)
    parser.add_argument("--database", default=None)
    parser.add_argument("--self-test", action="store_true")
    known, unknown = parser.parse_known_args(argv)
    return None if unknown else known


def add_database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="database URL (default: PMDESK_DATABASE_URL, the settings file, then the "
        "embedded SQLite database)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run pmdesk; whatever goes wrong ends in one line on stderr, never a traceback (an
    unexpected error's traceback goes to the log file)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("pmdesk: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the last resort: anything the commands did not word
        print(f"pmdesk: {one_line(unexpected_error(exc))}", file=sys.stderr)
        return 1


def unexpected_error(exc: BaseException) -> str:
    """Log ``exc`` with its traceback to the log file; the line that says where it went."""
    name = type(exc).__name__
    try:
        from pmdesk.log_file import setup_logging
        from pmdesk.paths import app_paths

        paths = app_paths()
        setup_logging(paths)
        log.error("Unexpected error", exc_info=exc)
        for handler in logging.getLogger().handlers:
            handler.flush()
    except Exception as problem:
        return f"unexpected error ({name}); no log file ({type(problem).__name__}: {problem})"
    return f"unexpected error ({name}); details in {paths.log_file}"


def _plain_output() -> None:
    """Text that cannot be encoded (lone surrogates from undecodable arguments, echoed back)
    is printed as escapes instead of failing."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(Exception):
                reconfigure(errors="backslashreplace")


def _main(argv: Sequence[str] | None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    gui = _gui_arguments(arguments)
    if gui is not None:
        from pmdesk.gui_entry import run_gui

        return run_gui(database_url=gui.database, self_test=gui.self_test)
    from pmdesk.commands.common import CommandFailed, run_command

    _plain_output()
    parser = build_parser()
    args = parser.parse_args(arguments)
    database = getattr(args, "database", None)
    if args.command is None:
        parser.error("unexpected arguments")
    try:
        return run_command(args, database)
    except CommandFailed as exc:
        print(f"pmdesk: {one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code


def one_line(message: str) -> str:
    """The message as one printable line: a newline, escape sequence or right-to-left override
    typed into an argument (and quoted back in the error) is shown as an escape, never sent to
    the terminal raw."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in message)
