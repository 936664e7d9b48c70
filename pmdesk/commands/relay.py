"""pmdesk relay: the server-side service of a hardened PostgreSQL database
(docs/server-enforced.md §6). It sends the security codes the database queues, with the
delivery settings of System → Security and secrets kept on the relay host only, writes a
heartbeat, and runs the expiry sweep.

Run it with the relay role's URL (``server init`` prints it), under systemd
(deploy/pmdesk-relay.service) or by hand. It logs to stderr and to pmdesk's log file.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from pmdesk.bootstrap import App
from pmdesk.commands.common import Access, CommandFailed, add_command
from pmdesk.core.relay import Relay, relay_secrets

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


def _relay(app: App, args: argparse.Namespace) -> int:
    if app.db.backend != "postgresql":
        engine = "MariaDB" if app.db.backend == "mariadb" else "SQLite"
        raise CommandFailed(NEEDS_POSTGRESQL.format(engine=engine), UNSUPPORTED_EXIT)
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
