"""pmdesk relay: the server-side service of a hardened PostgreSQL database
(docs/server-enforced.md §6). It sends the security codes the database queues, with the
delivery settings of System → Security and secrets kept on the relay host only, writes a
heartbeat, and runs the expiry sweep.

Run it with the relay role's URL (``server init`` prints it), under systemd
(deploy/pmdesk-relay.service) or by hand. It logs to stderr and to pmdesk's log file.

``pmdesk relay secret set [METHOD]`` stores the delivery secret where the relay reads it: the
keyring of the account that runs it, or (``--credentials-dir``) a systemd credential file;
``pmdesk relay secret status`` says which are there without showing them.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from pmdesk.bootstrap import App
from pmdesk.commands.common import Access, CommandFailed, add_command
from pmdesk.core.delivery.base import METHODS, DeliverySettings
from pmdesk.core.relay import CredentialsStore, Relay, RelayKeyring, relay_secrets
from pmdesk.core.relay_secret import (
    RelaySecretError,
    SecretSlot,
    check_value,
    read_relay_settings,
    slot_for,
    state_of,
    where,
    write_credential,
)
from pmdesk.secrets import SecretStore, SecretStoreError

NEEDS_POSTGRESQL = (
    "The relay serves a PostgreSQL database set up by `pmdesk server init`; {engine} databases "
    "send codes from each workstation."
)
# A usage-like refusal, as `pmdesk server init` on another engine.
UNSUPPORTED_EXIT = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = add_command(
        subparsers,
        "relay",
        _relay,
        "the server-side service of a hardened PostgreSQL database: sends the queued security "
        "codes, writes a heartbeat, sweeps expired trust (run with the relay role's URL)",
        migrate_first=False,
        access=Access.OPEN,
    )
    parser.add_argument(
        "--outbox-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="where the outbox method writes messages when System → Security names no folder "
        "(default: $STATE_DIRECTORY/outbox under systemd, else pmdesk's data folder)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="recover, sweep, send what is queued, write one heartbeat and exit (for tests and "
        "cron); exit 1 when the database cannot be reached",
    )
    _register_secret(parser)


def _register_secret(relay: argparse.ArgumentParser) -> None:
    sub = relay.add_subparsers(dest="relay_command", metavar="ACTION")
    secret = sub.add_parser("secret", help="the relay's delivery secret (mail password, token …)")
    # Without an action, say so (the relay's own handler must not run).
    secret.set_defaults(handler=None, command="relay secret")
    actions = secret.add_subparsers(dest="secret_command", metavar="ACTION")
    where_help = (
        "a folder of systemd credential files (e.g. /etc/pmdesk-relay) instead of the keyring "
        "of the account running this command"
    )
    store = add_command(
        actions,
        "set",
        _secret_set,
        "store the delivery secret where the relay reads it: asked for without echo, or read "
        "from standard input; never on the command line",
        migrate_first=False,
        access=Access.OPEN,
    )
    store.add_argument(
        "method",
        nargs="?",
        choices=METHODS,
        help="the delivery method (default: the configured one)",
    )
    store.add_argument("--credentials-dir", metavar="DIR", type=Path, help=where_help)
    store.add_argument(
        "--secret-stdin",
        action="store_true",
        help="read the secret from standard input (one line; a PEM key or a JSON key file whole)",
    )
    status = add_command(
        actions,
        "status",
        _secret_status,
        "which delivery secrets the relay has (never their values); exit 1 when the configured "
        "method's is missing",
        migrate_first=False,
        access=Access.OPEN,
    )
    status.add_argument("--credentials-dir", metavar="DIR", type=Path, help=where_help)


def _relay(app: App, args: argparse.Namespace) -> int:
    _need_postgresql(app)
    _log_to_stderr()
    relay = Relay(
        app.db.url, secrets=relay_secrets(), outbox_default=_outbox_default(app, args.outbox_dir)
    )
    app.db.dispose()  # the relay keeps one connection of its own
    previous = {
        number: signal.signal(number, _stopper(relay)) for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        return relay.run(once=args.once)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _need_postgresql(app: App) -> None:
    if app.db.backend != "postgresql":
        engine = "MariaDB" if app.db.backend == "mariadb" else "SQLite"
        raise CommandFailed(NEEDS_POSTGRESQL.format(engine=engine), UNSUPPORTED_EXIT)


# ----- relay secret set | status -----------------------------------------------------------------


def _settings(app: App) -> DeliverySettings:
    _need_postgresql(app)
    try:
        return read_relay_settings(app.db.url)
    except RelaySecretError as exc:
        raise CommandFailed(str(exc)) from None


def _secret_set(app: App, args: argparse.Namespace) -> int:
    settings = _settings(app)
    try:
        slot = slot_for(settings, args.method)
    except RelaySecretError as exc:
        raise CommandFailed(str(exc)) from None
    if slot is None:
        print(f"'{args.method or settings.method}' delivery needs no secret.")
        return 0
    if args.credentials_dir is None and os.environ.get("CREDENTIALS_DIRECTORY"):
        raise CommandFailed(
            "Under systemd the relay's secrets are credential files: give --credentials-dir."
        )
    try:
        value = check_value(slot, settings, _ask(slot, from_stdin=args.secret_stdin))
        if args.credentials_dir is not None:
            path = write_credential(args.credentials_dir.expanduser(), slot, value)
        else:
            RelayKeyring().set(slot.key, value)
    except (RelaySecretError, SecretStoreError) as exc:
        raise CommandFailed(str(exc)) from None
    what = f"The {slot.label} for '{slot.method}' delivery"
    if args.credentials_dir is None:
        print(f"{what} is stored in this account's keyring ({where(RelayKeyring(), slot)}).")
        print("Run pmdesk relay as this account; under systemd use --credentials-dir instead.")
        return 0
    print(f"{what} is in {path} (mode 0600).")
    print(f"The unit needs the line: LoadCredential={slot.credential}:{path}")
    print("then: systemctl daemon-reload && systemctl restart pmdesk-relay")
    return 0


def _ask(slot: SecretSlot, *, from_stdin: bool) -> str:
    """The secret from standard input or a prompt without echo (never an argument)."""
    if slot.multi_line and not from_stdin:
        raise CommandFailed(f"Give the {slot.label} on standard input: --secret-stdin < FILE")
    if from_stdin:
        return sys.stdin.read() if slot.multi_line else sys.stdin.readline()
    if not sys.stdin.isatty():
        raise CommandFailed(f"No terminal to ask for the {slot.label}: use --secret-stdin.")
    return getpass.getpass(f"{slot.label[:1].upper()}{slot.label[1:]} for '{slot.method}': ")


def _secret_status(app: App, args: argparse.Namespace) -> int:
    settings = _settings(app)
    store: SecretStore = (
        CredentialsStore(args.credentials_dir.expanduser())
        if args.credentials_dir is not None
        else relay_secrets()
    )
    print(f"Configured method: {settings.method}")
    worst = 0
    for method in METHODS:
        try:
            slot = slot_for(settings, method)
        except RelaySecretError as exc:
            if method == settings.method:
                print(f"* {method:<7} {exc}")
                worst = 1
            continue
        if slot is None:
            if method == settings.method:
                print(f"* {method:<7} needs no secret")
            continue
        state, why = state_of(store, slot)
        mark = "*" if method == settings.method else " "
        detail = f": {why}" if why else ""
        print(f"{mark} {method:<7} {slot.label} {state.upper()} ({where(store, slot)}){detail}")
        if method == settings.method and state != "present":
            worst = 1
    return worst


def _stopper(relay: Relay) -> Callable[[int, FrameType | None], None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        relay.stop()

    return stop


def _outbox_default(app: App, chosen: Path | None) -> Path:
    if chosen is not None:
        return chosen.expanduser()
    state = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(state) / "outbox" if state else app.paths.default_outbox


def _log_to_stderr() -> None:
    """What the relay does goes to stderr too (journald under systemd)."""
    root = logging.getLogger()
    if any(getattr(h, "_pmdesk_relay", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._pmdesk_relay = True  # type: ignore[attr-defined]
    under_systemd = "INVOCATION_ID" in os.environ  # journald stamps the time itself
    handler.setFormatter(
        logging.Formatter(
            "%(levelname)s %(message)s"
            if under_systemd
            else "%(asctime)s %(levelname)s %(message)s"
        )
    )
    root.addHandler(handler)
