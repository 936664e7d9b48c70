"""pmdesk login LOGIN: the two-step login from a terminal (helpdesk checks, scripted tests).

With a terminal the password and code are asked for without echo; without one (a pipe) each
answer is one line of standard input: password (with --password-stdin), security code (or ``r``
for a new code), then ``y``/``n`` for "Trust this IP?".
"""

from __future__ import annotations

import argparse
import getpass
import sys

from pmdesk.bootstrap import App
from pmdesk.commands.common import Access, CommandFailed, add_command, read_secret, session_key_for
from pmdesk.core.afterwards import Collected
from pmdesk.core.auth import LoginService
from pmdesk.core.login_results import CodeNeeded, RefusalReason, Refused, SignedIn
from pmdesk.core.sessions import COMMAND_LINE, SessionService
from pmdesk.secrets import SecretStoreError

TRUST_HINT = "Only trust this IP on the office network, never at home."
_GIVE_UP = {
    RefusalReason.BAD_CREDENTIALS,
    RefusalReason.NO_EMAIL,
    RefusalReason.CODE_VOIDED,
    RefusalReason.INVALID_CHALLENGE,
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(
        subparsers,
        "login",
        _login,
        "sign in as LOGIN (password, then a security code if needed); starts a command-line "
        "session for this OS user",
        access=Access.OPEN,
    )
    parser.add_argument("login", metavar="LOGIN")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )


def _interactive() -> bool:
    return sys.stdin.isatty()


def _ask(prompt: str, *, secret: bool = False) -> str | None:
    """One answer: a prompt on a terminal, else the next stdin line. None at end of input."""
    if _interactive():
        try:
            return getpass.getpass(prompt) if secret else input(prompt)
        except EOFError:
            return None
    print(prompt, end="", flush=True)
    line = sys.stdin.readline()
    if not line:
        print()
        return None
    print()
    return line.rstrip("\r\n")


HELPDESK_HINT = "Or enter the one-time code the helpdesk gave you."


def _minutes(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def _show_code_needed(needed: CodeNeeded) -> None:
    if needed.delivery_error:
        print(f"The security code could not be sent: {needed.delivery_error}", file=sys.stderr)
        print("Type r to send a new code once the problem is solved.", file=sys.stderr)
    else:
        print(
            f"A security code was sent to {needed.destination}. "
            f"It is valid for {_minutes(needed.valid_seconds)}."
        )
    if needed.helpdesk_code:
        print(HELPDESK_HINT)


def _refuse(refused: Refused) -> int:
    print(f"pmdesk: {refused.message}", file=sys.stderr)
    return 1


def _signed_in(app: App, result: SignedIn) -> int:
    """Keep the new session's token in the keyring (never in a file) and say until when."""
    how = " (trusted address, no code needed)" if result.trusted_address else ""
    print(f"Signed in as {result.login}{how}")
    key = session_key_for(app)
    try:
        previous = app.secrets.get(key)
        app.secrets.set(key, result.session_token or "")
    except SecretStoreError as exc:
        # Without the keyring the session could never be used: end it rather than leave it open.
        SessionService(app.context).end(result.session_token)
        raise CommandFailed(f"Signed in, but no session could be kept: {exc}") from exc
    if previous and previous != result.session_token:
        SessionService(app.context).end(previous)  # signing in again replaces the old session
    if result.session_expires_at is not None:
        until = result.session_expires_at.astimezone().strftime("%Y-%m-%d %H:%M")
        print(f"Commands run as {result.login} until {until}. Sign out with: pmdesk logout")
    return 0


def _login(app: App, args: argparse.Namespace) -> int:
    # A trust alert goes out after "Signed in" is printed (pmdesk.core.afterwards).
    afterwards = Collected()
    try:
        return _steps(
            app, args, LoginService(app.context, session_kind=COMMAND_LINE, afterwards=afterwards)
        )
    finally:
        afterwards.run()


def _steps(app: App, args: argparse.Namespace, service: LoginService) -> int:
    if not args.password_stdin and not _interactive():
        raise CommandFailed("No terminal to ask for the password: use --password-stdin.")
    if not args.password_stdin:
        service.get_ready(args.login)  # while the password is typed (a hardened database)
    password = read_secret("Password: ", from_stdin=args.password_stdin, confirm=False)
    first = service.begin(args.login, password)
    del password
    if isinstance(first, SignedIn):
        return _signed_in(app, first)
    if isinstance(first, Refused):
        return _refuse(first)

    needed = first
    _show_code_needed(needed)
    trust: bool | None = None
    while True:
        code = _ask("Security code (r: send a new code): ", secret=True)
        if code is None:
            raise CommandFailed("No security code entered.")
        code = code.strip()
        if code.lower() == "r":
            renewed = service.resend(needed.challenge_id)
            if isinstance(renewed, Refused):
                if renewed.reason in _GIVE_UP:
                    return _refuse(renewed)
                print(renewed.message, file=sys.stderr)
                continue
            needed = renewed
            _show_code_needed(needed)
            continue
        if not code:
            continue
        if trust is None and needed.trust_refused:
            # The refusal is a whole sentence saying why (policy, loopback, never-trusted list).
            print(needed.trust_refused)
            trust = False
        elif trust is None:
            print(TRUST_HINT)
            answer = _ask("Trust this IP? [y/N] ")
            trust = (answer or "").strip().lower() in {"y", "yes"}
        result = service.verify(needed.challenge_id, code, trust)
        if isinstance(result, SignedIn):
            return _signed_in(app, result)
        if result.reason in _GIVE_UP:
            return _refuse(result)
        print(result.message, file=sys.stderr)
