"""``pmdesk --self-test``: check the GUI, the database and the keyring, one line per check.

Runs off screen where there is no display (a CI box, an SSH session); exits 0 when all pass.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

from pmdesk import __version__
from pmdesk.display import has_display
from pmdesk.secrets import SecretStore
from pmdesk.ui.application import application, configure_application
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.startup import Opened, StartupFailed, describe_failure, open_database
from pmdesk.ui.tasks import TaskManager

SELF_TEST_TIMEOUT_MS = 120_000

#: One check's outcome: whether it passed, and the line that says so.
Check = tuple[bool, str]


def _prefer_offscreen() -> None:
    """Without a display (a CI box, an SSH session), run the self-test off screen."""
    if not has_display():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"


def run_self_test(database_url: str | None, *, secrets: SecretStore | None = None) -> int:
    """Check the GUI, the database and the keyring; one line per check; 0 when all pass."""
    _prefer_offscreen()
    qt_app = application()
    configure_application(qt_app)
    tasks = TaskManager()
    dialog = LoginDialog(tasks)
    results = [
        _check_dialog(qt_app, dialog),
        _check_database(tasks, database_url, secrets),
        _check_keyring(),
    ]
    dialog.close()
    tasks.shutdown()
    for ok, text in results:
        print(f"{'ok  ' if ok else 'FAIL'} {text}", flush=True)
    return 0 if all(ok for ok, _ in results) else 1


def _check_dialog(qt_app: QApplication, dialog: LoginDialog) -> Check:
    dialog.show()
    image = dialog.grab()
    if dialog.isVisible() and not image.isNull() and image.width() > 0:
        return True, f"login dialog shows ({qt_app.platformName()}, pmdesk {__version__})"
    return False, "login dialog: it could not be shown"


def _check_database(tasks: TaskManager, url: str | None, secrets: SecretStore | None) -> Check:
    """Open (and migrate) the database on a worker, as the app does, waiting at most two
    minutes in an event loop of its own."""
    loop = QEventLoop()
    outcome: list[Opened | BaseException] = []

    def arrived(result: Opened | BaseException) -> None:
        outcome.append(result)
        loop.quit()

    tasks.run(
        lambda: open_database(url, secrets, check_keyring=False),
        arrived,
        arrived,
        label="self-test database",
    )
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(SELF_TEST_TIMEOUT_MS)
    loop.exec()
    timer.stop()
    if not outcome:
        return False, "database: no answer within two minutes"
    result = outcome[0]
    if isinstance(result, BaseException):
        failure = result.failure if isinstance(result, StartupFailed) else describe_failure(result)
        return False, f"database: {failure.title}: {failure.message}"
    schema = result.schema
    described = f"{result.app.db.describe()}, schema {schema.current}"
    result.app.db.dispose()
    return schema.up_to_date, f"database opens and is migrated ({described})"


def _check_keyring() -> Check:
    from pmdesk.secrets import KeyringStore, SecretStoreError

    try:
        return True, f"keyring backend found ({KeyringStore().backend_name()})"
    except SecretStoreError as exc:
        return False, f"keyring: {exc}"
