"""What every service needs, passed in explicitly (no global singletons)."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path

from pmdesk.core.clock import Clock, DatabaseClock
from pmdesk.core.db import Database
from pmdesk.core.i18n import ENGLISH
from pmdesk.secrets import SecretStore


@dataclass(frozen=True)
class Actor:
    """Who is acting: a signed-in person, or the command line / a background job.

    ``person_id`` None means a trusted local tool (CLI, the expiry sweep): it holds the database
    credentials anyway, so permission checks do not apply, but every change is still audited
    under ``name``.
    """

    name: str
    person_id: int | None = None
    address: str | None = None
    workstation: str = field(default_factory=socket.gethostname)

    @property
    def is_system(self) -> bool:
        return self.person_id is None

    @classmethod
    def command_line(cls) -> Actor:
        host = socket.gethostname()
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return cls(name=f"{user}@{host} (cli)", workstation=host)

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(name=f"system ({job})")


@dataclass
class CoreContext:
    db: Database
    secrets: SecretStore
    outbox_default: Path
    clock: Clock = field(default_factory=DatabaseClock)
    #: The workstation's language (``Settings.language``): mail and text messages go out in the
    #: recipient's Personnel language, else in this one (docs/i18n.md).
    language: str = ENGLISH

    def on_own_engine(self) -> CoreContext:
        """The same context on an engine of its own, for a background thread (which disposes
        of ``db`` when done): its connections never wait for the screens' pool."""
        own = Database(self.db.url)
        own.use_session(self.db.session_token)  # the same person: the server checks writes
        return replace(self, db=own)
