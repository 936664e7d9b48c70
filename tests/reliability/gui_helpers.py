"""Pieces for the desktop app's fault tests (``test_gui_faults*.py``).

The app as the Launcher builds it after sign-in (an ``App``, a signed-in ``Session``, the
``MainWindow`` with its ``BackgroundServices``), on a database of the test's choosing; another
program holding the SQLite write lock; a private PostgreSQL instance shared by a test module (the
helper of ``tests/ui/test_background_restart.py``, never the shared server); a mail server that
takes its time; and a keyring that can be taken away and given back.

Fixtures are imported by the test module that uses them (this folder's ``conftest.py`` belongs
to the core reliability tests).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from keyring.backends import fail
from pytestqt.qtbot import QtBot
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from pmdesk.bootstrap import App, Resolved
from pmdesk.config import Settings
from pmdesk.core import migrate
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.paths import app_paths
from pmdesk.secrets import MemoryStore, SecretStore
from pmdesk.ui.application import configure_application
from pmdesk.ui.background import BackgroundServices
from pmdesk.ui.main_window import MainWindow, load_session
from pmdesk.ui.page_context import Session
from pmdesk.ui.reconnect import Backoff
from pmdesk.ui.tasks import TaskManager
from tests.helpers.login import cheap_passwords
from tests.helpers.private_postgres import PrivatePostgres, private_postgres
from tests.helpers.smtp import (
    LOOPBACK,
    SmtpServer,
    _BoundController,
    _listening_socket,
    _Recorder,
)
from tests.ui.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, add_login, signed_in

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# The offscreen platform says so whenever a window's size limits change or a window is raised.
OFFSCREEN_NOISE = r"This plugin does not support (propagateSizeHints|raise)\(\)"
ADMIN_NAME = "Jean-Marie Smets"
ADMIN_EMAIL = "jm@insypro.com"


# ----- the app, signed in -----------------------------------------------------------------------


@pytest.fixture
def tasks(qtbot: QtBot, qapp: Any) -> Iterator[TaskManager]:
    """The background-task runner (real style sheet applied); every worker ends at teardown."""
    configure_application(qapp)
    manager = TaskManager()
    yield manager
    assert manager.shutdown(timeout_ms=30_000), "background tasks still running at teardown"
    assert manager.active_threads() == 0


def gui_app(
    db: Database, clock: ShiftedClock, tmp_path: Path, secrets: SecretStore | None = None
) -> App:
    """An ``App`` on ``db`` as ``open_database`` makes it (paths from the PMDESK_* overrides)."""
    paths = app_paths()
    paths.ensure()
    store = secrets if secrets is not None else MemoryStore()
    context = CoreContext(db=db, secrets=store, outbox_default=tmp_path / "outbox", clock=clock)
    return App(
        paths=paths,
        settings=Settings(),
        secrets=store,
        resolved=Resolved(db.url, "test"),
        context=context,
    )


def admin_session(app: App) -> Session:
    """Jean-Marie Smets (login jsmets), Administrator group: every right."""
    person_id = add_login(
        app,
        ADMIN_LOGIN,
        ADMIN_PASSWORD,
        first_name="Jean-Marie",
        last_name="Smets",
        email=ADMIN_EMAIL,
    )
    return load_session(app, signed_in(app, person_id, ADMIN_LOGIN, ADMIN_NAME))


def open_window(
    qtbot: QtBot,
    app: App,
    session: Session,
    tasks: TaskManager,
    *,
    background: bool = False,
    backoff: Backoff | None = None,
) -> MainWindow:
    """The main window; with ``background`` its expiry sweep and live refresh run, started
    by the window as the Launcher starts them (``MainWindow.start_background``), with a short
    reconnect backoff so that a test need not wait 30 s."""
    window = MainWindow(app, session, tasks, passwords=cheap_passwords())
    qtbot.addWidget(window)
    if background:
        window.start_background(
            BackgroundServices(
                app.context,
                tasks,
                sweep_interval_s=600,
                backoff=backoff or Backoff(0.2, 1.0),
                poll_interval_s=0.2,
                min_gap_s=0.05,
                parent=window,
            )
        )
    window.resize(1280, 820)
    window.show()
    qtbot.waitExposed(window)
    return window


def close_window(window: MainWindow, tasks: TaskManager) -> None:
    tasks.cancel_all()
    if window.background is not None:
        assert window.background.stop(), "the background threads did not stop in time"
        window.background = None


# ----- another program holds the SQLite write lock ---------------------------------------------

_HOLDER = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    conn.execute("UPDATE security_settings SET trust_days = trust_days")
    print("locked", flush=True)
    sys.stdin.readline()  # until told to let go (or stdin is closed)
    conn.execute("ROLLBACK")
    print("released", flush=True)
    """
)


class LockHolder:
    """A separate process in ``BEGIN EXCLUSIVE`` on the file until ``release()``."""

    def __init__(self, path: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == "locked"

    def release(self) -> None:
        process = self.process
        if process.poll() is not None:
            return
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write("go\n")
        process.stdin.close()
        assert process.stdout.readline().strip() == "released"
        process.wait(30)
        process.stdout.close()

    def __enter__(self) -> LockHolder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def sqlite_file(db: Database) -> Path:
    assert db.url.database is not None
    return Path(db.url.database)


# ----- a private PostgreSQL instance, shared by one test module --------------------------------


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PrivatePostgres]:
    """initdb + pg_ctl in a temporary folder (once per module): tests stop and start it."""
    yield from private_postgres.__wrapped__()


def ensure_running(server: PrivatePostgres) -> None:
    """Start the instance if a test left it stopped."""
    engine = create_engine(server.url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:
        server.start()
    finally:
        engine.dispose()


@pytest.fixture
def pg_db(pg_server: PrivatePostgres) -> Iterator[Database]:
    """A fresh migrated database on the private instance (dropped afterwards)."""
    ensure_running(pg_server)
    name = f"gui_{uuid.uuid4().hex[:10]}"
    # No pool: the test stops the server, which kills any connection kept open.
    admin = create_engine(pg_server.url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(URL.create(**{**_url_parts(pg_server.url), "database": name}))
    try:
        migrate.upgrade(db)
        yield db
    finally:
        db.dispose()
        ensure_running(pg_server)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _url_parts(url: URL) -> dict[str, Any]:
    return {
        "drivername": url.drivername,
        "username": url.username,
        "host": url.host,
        "port": url.port,
    }


# ----- a mail server that takes its time ----------------------------------------------------


class _SlowRecorder(_Recorder):
    """Answers DATA only after ``delay_s`` (a busy or distant mail server), then accepts."""

    def __init__(self, server: SmtpServer, delay_s: float) -> None:
        super().__init__(server)
        self.delay_s = delay_s

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.delay_s)
        return await super().handle_DATA(server, session, envelope)


SLOW_SMTP_DELAY_S = 3.0


@pytest.fixture
def slow_smtp_server(test_server_context: Any, test_client_context: Any) -> Iterator[SmtpServer]:
    """STARTTLS with a certificate from the test CA; takes 3 s to accept each message."""
    sock = _listening_socket()
    server = SmtpServer(host=LOOPBACK, port=sock.getsockname()[1])
    server.client_context = test_client_context
    controller = _BoundController(
        _SlowRecorder(server, SLOW_SMTP_DELAY_S),
        sock,
        tls_context=test_server_context,
        require_starttls=True,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


# ----- a keyring that can be taken away ---------------------------------------------------------


class MemoryKeyring:
    """A working keyring backend kept in memory (the OS keyring is not touched by tests).

    Not a ``KeyringBackend`` subclass on purpose: those register themselves, and keyring's
    own discovery could then pick this one for every later test in the process."""

    priority = 1

    def __init__(self) -> None:
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.values.pop((service, username), None)


class SwitchableKeyring:
    """What ``keyring.get_keyring()`` returns: the real ``fail.Keyring`` (what keyring picks
    when no backend is installed) while ``missing``, else a working in-memory backend."""

    def __init__(self) -> None:
        self.missing = True
        self.working = MemoryKeyring()

    def __call__(self) -> object:
        return fail.Keyring() if self.missing else self.working
