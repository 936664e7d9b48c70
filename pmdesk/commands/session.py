"""pmdesk logout | whoami: the command-line session that ``pmdesk login`` started."""

from __future__ import annotations

import argparse
import sys

from pmdesk.bootstrap import App
from pmdesk.commands.common import Access, CommandFailed, add_command, session_key_for
from pmdesk.core.context import Actor
from pmdesk.core.errors import NotSignedIn
from pmdesk.core.sessions import SessionService
from pmdesk.secrets import SecretStoreError

NOT_SIGNED_IN = "Not signed in. Sign in with: pmdesk login LOGIN"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    add_command(
        subparsers,
        "logout",
        _logout,
        "end this OS user's command-line session (keyring entry and database row)",
        access=Access.OPEN,
    )
    add_command(
        subparsers,
        "whoami",
        _whoami,
        "who the command line acts as, and until when",
        access=Access.OPEN,
    )


def _token(app: App) -> str | None:
    try:
        return app.secrets.get(session_key_for(app))
    except SecretStoreError as exc:
        raise CommandFailed(str(exc)) from exc


def _logout(app: App, args: argparse.Namespace) -> int:
    token = _token(app)
    ended = SessionService(app.context).end(token)
    if token is not None:
        try:
            app.secrets.delete(session_key_for(app))
        except SecretStoreError as exc:
            raise CommandFailed(
                f"The session is ended, but the keyring entry stays: {exc}"
            ) from exc
    print("Signed out." if ended else "No session was open: nothing to sign out of.")
    return 0


def _whoami(app: App, args: argparse.Namespace) -> int:
    try:
        active = SessionService(app.context).resolve(
            _token(app), workstation=Actor.command_line().workstation
        )
    except NotSignedIn:
        print(NOT_SIGNED_IN, file=sys.stderr)
        return 1
    until = active.expires_at.astimezone().strftime("%Y-%m-%d %H:%M")
    print(f"Signed in as {active.login} ({active.display_name}) until {until}")
    return 0
