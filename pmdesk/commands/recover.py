"""pmdesk recover unlock LOGIN | disable-2fa: break-glass recovery with the owner's credentials.

Refused to a workstation's database login (see pmdesk.core.recovery). Each asks for a login to
be typed again, so that a slip of the keyboard or a pasted command does not act.
"""

from __future__ import annotations

import argparse
import sys

from pmdesk.bootstrap import App
from pmdesk.commands.common import Access, CommandFailed, add_command
from pmdesk.core import recovery
from pmdesk.core.validation import login_key


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "recover",
        help="break-glass recovery when no administrator can sign in (database owner only)",
    )
    sub = parser.add_subparsers(dest="recover_command", metavar="ACTION")
    unlock = add_command(
        sub,
        "unlock",
        _unlock,
        "unlock LOGIN's account (needs the database owner's URL, or write access to the file)",
        access=Access.OWNER,
    )
    unlock.add_argument("login", metavar="LOGIN")
    add_command(
        sub,
        "disable-2fa",
        _disable,
        "turn two-step authentication off (needs the database owner's URL, or write access to "
        "the file)",
        access=Access.OWNER,
    )


def _answer(prompt: str) -> str:
    """One line from the person at the keyboard (or from standard input in a script)."""
    print(prompt, end="", flush=True, file=sys.stderr)
    line = sys.stdin.readline()
    if not line:
        raise CommandFailed("Nothing typed: nothing was changed.")
    return line.strip()


def _confirmed(login: str, typed: str) -> None:
    if login_key(typed) != login_key(login):
        raise CommandFailed("The login typed does not match: nothing was changed.")


def _unlock(app: App, args: argparse.Namespace) -> int:
    _confirmed(args.login, _answer(f"Type {args.login} again to unlock it: "))
    login = recovery.unlock(app.context, args.login)
    print(f"Unlocked {login} (recorded in the log as break-glass). Sign in now.")
    return 0


def _disable(app: App, args: argparse.Namespace) -> int:
    login = _answer("Login of the administrator who needs to sign in: ")
    _confirmed(login, _answer("Type it again to confirm: "))
    if not recovery.disable_two_factor(app.context, login):
        print("Two step authentication is already disabled: nothing was changed.")
        return 0
    print(
        "Two step authentication is now disabled (recorded in the log as break-glass). "
        f"{login} can sign in with a password; turn it on again in System → Security."
    )
    return 0
