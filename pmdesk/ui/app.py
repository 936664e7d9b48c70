"""Start the desktop app: the login dialog first, the database behind it, then the main window.

Start-up order matters for how fast pmdesk feels: only Qt and the login dialog are imported
before the dialog is painted. Then, on worker threads while the user types, the database driver
alone checks that the database is at the newest schema and has users (Login is enabled as soon as
it is), and the database is opened properly behind that: SQLAlchemy, migrations when there are
any, the login service (see ``pmdesk.ui.startup``). Every failure is a dialog that says what to
do, never a traceback.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QWidget

from pmdesk.ui.application import application, configure_application
from pmdesk.ui.errors import error_text
from pmdesk.ui.languages import follow_person, start_in_workstation_language
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.query import Query
from pmdesk.ui.tasks import TaskManager

if TYPE_CHECKING:
    from PySide6.QtWidgets import QMessageBox

    from pmdesk.core.login_results import SignedIn
    from pmdesk.secrets import SecretStore
    from pmdesk.ui.first_run import FirstRunDialog
    from pmdesk.ui.main_window import MainWindow
    from pmdesk.ui.page_context import Session
    from pmdesk.ui.session_watch import SessionWatch
    from pmdesk.ui.startup import Failure, Opened

log = logging.getLogger(__name__)

# Start opening the database at the latest this long after showing the login dialog, should its
# first paint not come (normally it comes within a few milliseconds).
FIRST_PAINT_WAIT_MS = 200
EXIT_AFTER_SHOWN = "PMDESK_EXIT_AFTER_SHOWN"
# For the start-up benchmark (bench/perf_startup.py): "1" prints to stderr a monotonic timestamp
# when the login dialog has painted ("dialog-shown"), when Login works ("database-ready") and when
# the database is open with the login service loaded ("database-opened").
STARTUP_TRACE = "PMDESK_STARTUP_TRACE"


def _trace(event: str) -> None:
    if os.environ.get(STARTUP_TRACE) == "1":
        print(f"pmdesk-trace {event} {time.monotonic():.6f}", file=sys.stderr, flush=True)


class _FirstPaint(QObject):
    """Emits ``done`` once, after ``widget`` has painted for the first time."""

    done = Signal()

    def __init__(self, widget: QWidget) -> None:
        super().__init__(widget)
        self._fired = False
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and not self._fired:
            self._fired = True
            QTimer.singleShot(0, self.done.emit)
        return False


class Launcher(QObject):
    """The whole life of a desktop session: login → (first run) → main window → sign out …

    Emits ``finished(exit_code)`` when the user is done (Cancel on the login dialog, the main
    window closed, or a start-up failure acknowledged).
    """

    finished = Signal(int)
    #: Login works: the database answered at the newest schema with users (opened or not yet).
    database_ready = Signal()
    #: The database is open and migrated, the login service loaded.
    database_opened = Signal()
    #: Opening the database failed (the problem box is shown).
    database_failed = Signal()

    def __init__(
        self,
        database_url: str | None = None,
        *,
        secrets: SecretStore | None = None,
        tasks: TaskManager | None = None,
        check_keyring: bool = True,
        session_check_interval_s: float | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.database_url = database_url
        # None: sessions.CHECK_INTERVAL_S (not imported here: it loads SQLAlchemy before the
        # login dialog's first paint).
        self.session_check_interval_s = session_check_interval_s
        self.session_watch: SessionWatch | None = None
        self.secrets = secrets
        self.check_keyring = check_keyring
        self.tasks = tasks or TaskManager(self)
        #: The start-up and sign-in steps that run on workers (each names where its error goes).
        self.steps = Query(self, self.tasks, label="launcher")
        self.opened: Opened | None = None
        self.failure: Failure | None = None
        start_in_workstation_language()  # before the login dialog: it shows in it
        self.login = LoginDialog(self.tasks)
        self.login.signed_in.connect(self._signed_in)
        self.login.rejected.connect(self._login_cancelled)
        self.login.setup_requested.connect(self._setup_again)
        self.first_run: FirstRunDialog | None = None
        self.window: MainWindow | None = None
        self.problem_box: QMessageBox | None = None
        self.exit_code: int | None = None
        self._opening = False
        self._ready_signalled = False
        # Set when a login finished before the database was fully open (see _signed_in).
        self._early_sign_in: SignedIn | None = None

    # ----- start --------------------------------------------------------------------------

    def start(self) -> None:
        already_shown = self.login.isVisible()
        if not already_shown:
            # The database work starts once the dialog has painted: started at once, its imports
            # (SQLAlchemy, the core) would compete with the first paint for the interpreter.
            painted = _FirstPaint(self.login)
            painted.done.connect(self._open_database)
            QTimer.singleShot(FIRST_PAINT_WAIT_MS, self._open_database)
        self.login.show()
        self.login.raise_()
        self.login.activateWindow()
        if already_shown:
            self._open_database()

    def _open_database(self) -> None:
        if self._opening:
            return
        self._opening = True
        url = self.database_url

        def probe() -> bool:
            from pmdesk.log_file import setup_logging
            from pmdesk.paths import app_paths
            from pmdesk.ui.startup import probe_database

            try:
                setup_logging(app_paths())
            except OSError as exc:
                log.warning("No log file: %s", exc)
            return probe_database(url)

        # One after the other: side by side they would compete for the interpreter.
        self.steps.run(
            probe, self._probed, failed=lambda _exc: self._probed(False), label="probe database"
        )

    def _probed(self, ready: bool) -> None:
        from pmdesk.ui.startup import PendingLogin, open_database

        pending = PendingLogin()
        if ready and self.exit_code is None:
            log.info("Login enabled: the database is at the newest schema and has users")
            self.login.set_backend(pending)
            self._signal_ready()
        else:
            log.info("Login waits for the database to be opened (and migrated, if need be)")
        url, secrets = self.database_url, self.secrets
        # The keyring is checked once Login works (see _check_keyring).
        self.steps.run(
            lambda: open_database(url, secrets, check_keyring=False, pending=pending),
            self._opened,
            failed=self._open_failed,
            label="open database",
        )

    def _signal_ready(self) -> None:
        if not self._ready_signalled:
            self._ready_signalled = True
            self.database_ready.emit()

    def _opened(self, opened: Opened) -> None:
        self.opened = opened
        self.login.set_backend(opened.login_service)
        if not opened.has_users:
            self._show_first_run(opened)
        self._signal_ready()
        self.database_opened.emit()
        if self._early_sign_in is not None:
            signed_in, self._early_sign_in = self._early_sign_in, None
            self._signed_in(signed_in)
        if self.check_keyring:
            self._check_keyring(opened)

    def _check_keyring(self, opened: Opened) -> None:
        """Warn when no system keyring can keep passwords (asked in the background)."""
        from pmdesk.ui.startup import keyring_warning

        app = opened.app
        self.steps.run(
            lambda: keyring_warning(app),
            self._keyring_checked,
            failed=lambda exc: log.warning("Keyring check failed: %s", exc),
            label="keyring check",
        )

    def _keyring_checked(self, warning: str | None) -> None:
        from pmdesk.ui.message_boxes import inform

        if not warning or self.exit_code is not None:
            return
        self.problem_box = inform(
            self.first_run or self.login,
            self.tr("No system keyring"),
            self.tr(
                "pmdesk keeps mail and database passwords only in the system keyring, and "
                "none is available on this computer. You can sign in, but passwords cannot "
                "be saved until a keyring is installed or unlocked."
            ),
            informative=warning,
        )

    def _show_first_run(self, opened: Opened) -> None:
        from pmdesk.ui.first_run import FirstRunDialog

        dialog = FirstRunDialog(
            opened.app.context,
            opened.administrator_group_id,
            self.tasks,
            self.login,
            passwords=opened.passwords,
        )
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.created.connect(self._first_user_created)
        dialog.rejected.connect(self._first_run_cancelled)
        self.first_run = dialog
        dialog.open()

    def _first_user_created(self, login: str) -> None:
        self.first_run = None
        self.login.setup_button.hide()
        self.login.activateWindow()
        if login:
            self.login.prefill(
                login,
                self.tr("Administrator {login} created. Sign in with your new password.").format(
                    login=login
                ),
            )
        else:
            self.login.prefill(
                "",
                self.tr("Another workstation created the first user meanwhile: sign in with it."),
            )

    def _first_run_cancelled(self) -> None:
        self.first_run = None
        if self.exit_code is None and self.window is None:
            self.login.message.show_notice(
                self.tr(
                    "There are no users yet: click “Set up pmdesk…” to create the first "
                    "administrator."
                )
            )
            self.login.setup_button.show()

    def _setup_again(self) -> None:
        """The login dialog's "Set up pmdesk…": the first-run dialog once more."""
        if self.opened is None or self.first_run is not None:
            return
        self.login.setup_button.hide()
        self.login.message.clear_message()
        self._show_first_run(self.opened)

    def _open_failed(self, exc: BaseException) -> None:
        from pmdesk.ui.message_boxes import inform
        from pmdesk.ui.startup import StartupFailed, describe_failure

        failure = exc.failure if isinstance(exc, StartupFailed) else describe_failure(exc)
        self.failure = failure
        log.error("Start-up failed: %s: %s", failure.title, failure.message)
        self.login.set_startup_failed(failure.title)
        self.problem_box = inform(
            self.login,
            failure.title,
            failure.message,
            level="error",
            informative=failure.advice,
            on_close=lambda: self.finish(1),
        )
        self.problem_box.setObjectName("startupProblem")
        self.problem_box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.database_failed.emit()

    # ----- signed in / out ----------------------------------------------------------------

    def _signed_in(self, signed_in: SignedIn) -> None:
        from pmdesk.ui.main_window import load_session

        if self.opened is None:
            # The login service finished before this thread heard that the database is open
            # (both arrive as queued results): go on from _opened.
            self._early_sign_in = signed_in
            return
        app = self.opened.app
        follow_person(app, signed_in)  # the person's own language, when they have one
        self.login.set_busy(self.tr("Opening pmdesk…"))
        self.steps.run(
            lambda: load_session(app, signed_in),
            self._show_main_window,
            failed=self._session_failed,
            label="load session",
        )

    def _session_failed(self, exc: BaseException) -> None:
        self.login.set_idle()
        self.login.reset()
        self.login.message.show_error(
            error_text(exc, self.tr("pmdesk could not open its main window"))
        )

    def _show_main_window(self, session: Session) -> None:
        from pmdesk.ui.main_window import MainWindow

        assert self.opened is not None
        self.login.set_idle()
        window = MainWindow(self.opened.app, session, self.tasks, passwords=self.opened.passwords)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.signed_out.connect(self._signed_out)
        window.closed.connect(lambda: self._closed(window))
        self._start_background(window)
        self._watch_session(window)
        self.window = window
        window.show()
        self.login.hide()

    def _closed(self, window: MainWindow) -> None:
        self._record_sign_out(window)
        self.finish(0)

    def _watch_session(self, window: MainWindow) -> None:
        """Back to the login dialog, saying why, once this sign-in's session stops holding."""
        from pmdesk.core.sessions import CHECK_INTERVAL_S
        from pmdesk.ui.session_watch import SessionWatch

        assert self.opened is not None
        token = window.session.token
        if token is None:
            return
        watch = SessionWatch(
            self.opened.app.context,
            token,
            window.session.actor.workstation,
            self.tasks,
            interval_s=self.session_check_interval_s or CHECK_INTERVAL_S,
            parent=window,
        )
        watch.ended.connect(lambda why: self._session_ended(window, why))
        self.session_watch = watch
        watch.start()

    def _session_ended(self, window: MainWindow, why: str) -> None:
        if self.window is not window:
            return
        window.sign_out_now()
        self.login.message.show_error(
            self.tr("You were signed out: {why} Sign in again to go on.").format(why=why)
        )

    def _start_background(self, window: MainWindow) -> None:
        """The expiry sweep and live refresh, on their own threads, for this signed-in session."""
        from pmdesk.ui.background import BackgroundServices

        assert self.opened is not None
        window.start_background(
            BackgroundServices.from_settings(
                self.opened.app.context, window.tasks, self.opened.app.settings, parent=window
            )
        )

    def _signed_out(self) -> None:
        window = self.window
        self.window = None
        if window is not None:
            window.close()
        self._record_sign_out(window)
        self.login.reset()
        self.login.show()
        self.login.raise_()
        self.login.activateWindow()

    def _record_sign_out(self, window: MainWindow | None) -> None:
        """End the session and audit the sign-out once (best effort, in the background): as
        the session's end, or, when the session was already ended elsewhere, as a sign-out."""
        if window is None or self.opened is None:
            return
        from pmdesk.core.sessions import SessionService

        sign_out = self.opened.login_service.sign_out
        sessions = SessionService(self.opened.app.context)
        actor = window.session.actor
        token = window.session.token

        def sign_out_and_end() -> None:
            if not sessions.end(token, actor):
                sign_out(actor)

        self.steps.run(
            sign_out_and_end, failed=lambda exc: log.warning("%s", exc), label="sign out"
        )

    def _login_cancelled(self) -> None:
        if self.window is None:
            self.finish(0)

    # ----- end ----------------------------------------------------------------------------

    def finish(self, code: int) -> None:
        if self.exit_code is not None:
            return
        self.exit_code = code
        self.finished.emit(code)

    def shutdown(self) -> None:
        """Wait for background work, close the windows, release the database."""
        self.tasks.shutdown()
        for widget in (self.window, self.login):
            if widget is not None:
                widget.close()
        if self.opened is not None:
            self.opened.afterwards.finish()  # a trust alert on its way: sent, then logged
            self.opened.app.db.dispose()

    def top_level_widgets(self) -> list[QWidget]:
        return [w for w in (self.login, self.first_run, self.window) if w is not None]


def run(
    database_url: str | None, self_test: bool = False, *, secrets: SecretStore | None = None
) -> int:
    """The GUI entry point (``pmdesk`` without a command)."""
    if self_test:
        from pmdesk.ui.self_test import run_self_test

        return run_self_test(database_url, secrets=secrets)
    qt_app = application()
    configure_application(qt_app)
    launcher = Launcher(database_url, secrets=secrets)
    launcher.finished.connect(qt_app.exit)
    qt_app.setQuitOnLastWindowClosed(False)
    exit_after = os.environ.get(EXIT_AFTER_SHOWN)
    painted = _FirstPaint(launcher.login)
    painted.done.connect(lambda: _trace("dialog-shown"))
    launcher.database_ready.connect(lambda: _trace("database-ready"))
    launcher.database_opened.connect(lambda: _trace("database-opened"))
    if exit_after == "1":
        # For start-up benchmarks: paint the login dialog, then leave (no database work).
        painted.done.connect(lambda: qt_app.exit(0))
        launcher.login.show()
    else:
        if exit_after in ("ready", "opened"):
            # For start-up benchmarks: the real start, left as soon as Login works ("ready") or
            # once the database is fully open ("opened").
            done = launcher.database_ready if exit_after == "ready" else launcher.database_opened
            done.connect(lambda: qt_app.exit(0))
            launcher.database_failed.connect(lambda: qt_app.exit(1))
        QTimer.singleShot(0, launcher.start)
    code = int(qt_app.exec())
    launcher.shutdown()
    return code
