"""The login dialog (docs/design.md §1): Login and Password, then, when asked, the security code.

It is the first thing painted at start, so this module imports only Qt and small pmdesk modules;
the login service (and with it SQLAlchemy) is handed in later with ``set_backend``. Every call to
the service runs on a worker thread: a slow mail server never freezes the dialog.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from itertools import pairwise
from typing import TYPE_CHECKING, TypeVar

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QKeyEvent
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from pmdesk import __version__
from pmdesk.ui.errors import error_text
from pmdesk.ui.icons import app_icon, icon, pixmap
from pmdesk.ui.login_backend import LoginBackend
from pmdesk.ui.login_code_page import LoginCodePage, code_timing
from pmdesk.ui.login_ready import GetReady
from pmdesk.ui.login_warning import DeliveryWarning
from pmdesk.ui.query import Query
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import Retranslating, localize
from pmdesk.ui.widgets import BusyIndicator, MessageLabel, link_button, make_primary

if TYPE_CHECKING:
    from pmdesk.core.login_results import CodeNeeded, Refused, SignedIn

R = TypeVar("R")

translate = QCoreApplication.translate


class LoginDialog(Retranslating, QDialog):
    """Emits ``signed_in(SignedIn)`` once the password (and the code, if asked) are accepted."""

    signed_in = Signal(object)
    #: "Set up pmdesk…" was clicked (offered while the database has no users yet).
    setup_requested = Signal()

    CREDENTIALS, CODE = 0, 1

    def __init__(
        self,
        tasks: TaskManager,
        parent: QWidget | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(parent)
        self._tasks = tasks
        self._signing = Query(self, tasks, label="login", failed=self._failed)
        self._monotonic = monotonic
        self._backend: LoginBackend | None = None
        self._busy = False
        self._challenge: CodeNeeded | None = None
        self._code_deadline: float | None = None
        self._resend_deadline: float | None = None
        self._startup_failed = False
        self._opening = False  # "Opening database…" is shown (it follows the language)

        self.setObjectName("loginDialog")
        self.setWindowIcon(app_icon())

        heading = self._build_heading()
        credentials, code_page = self._build_credentials(), self._build_code_page()
        self.pages = QStackedWidget(self)
        # 440 wide at least (the margins are 44); wider when a language's buttons need it.
        self.pages.setMinimumWidth(396)
        self.pages.addWidget(credentials)
        self.pages.addWidget(code_page)
        buttons = self._build_buttons()
        self._layout_dialog(heading, buttons)

        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._tick)
        self._get_ready = GetReady(self.username_edit, tasks, lambda: self._backend)

        self._show_page(self.CREDENTIALS)
        self.set_opening()
        self.retranslate()

    def retranslate(self) -> None:
        """Every fixed text of the dialog in the app's language (the code step and the
        warning above the form retranslate themselves)."""
        self.setWindowTitle(self.tr("Login"))
        self.title_label.setText(self.tr("Login"))
        self.version_label.setText(self.tr("Version {version}").format(version=__version__))
        # The login name and password as Personnel's form names them (the title and the
        # button say "sign in", which is another word in Dutch and French).
        login, password = translate("PersonEditor", "Login"), translate("PersonEditor", "Password")
        self.username_edit.setPlaceholderText(login)
        self.password_edit.setPlaceholderText(password)
        self.username_label.setText(login)
        self.password_label.setText(password)
        self.back_button.setText(self.tr("Back"))
        self.login_button.setText(self.tr("Login"))
        self.cancel_button.setText(self.tr("Cancel"))
        self.setup_button.setText(self.tr("Set up pmdesk…"))
        self.setup_button.setToolTip(self.tr("Create the first administrator of this database"))
        if self._opening:
            self.busy.start(self.tr("Opening database…"))

    def _build_heading(self) -> QHBoxLayout:
        """Icon, "Login", version (as in the seed)."""
        logo = QLabel(self)
        logo.setPixmap(pixmap("app", 40, self.devicePixelRatioF()))
        self.title_label = title = QLabel(self)
        title.setProperty("role", "title")
        self.version_label = QLabel(self)
        self.version_label.setProperty("role", "muted")
        heading = QHBoxLayout()
        heading.setSpacing(12)
        heading.addWidget(logo)
        heading.addWidget(title, 1)
        heading.addWidget(self.version_label, 0, Qt.AlignmentFlag.AlignBottom)
        return heading

    def _build_credentials(self) -> QWidget:
        """Step 1: login and password."""
        self.username_edit = QLineEdit(self)
        self.username_edit.setObjectName("usernameEdit")
        self.username_edit.setMaxLength(64)
        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("passwordEdit")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setMaxLength(1024)
        credentials = QWidget(self)
        form = QFormLayout(credentials)
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(10)
        self.username_label = QLabel(credentials)
        self.password_label = QLabel(credentials)
        self.username_label.setBuddy(self.username_edit)
        self.password_label.setBuddy(self.password_edit)
        form.addRow(self.username_label, self.username_edit)
        form.addRow(self.password_label, self.password_edit)
        return credentials

    def _build_code_page(self) -> LoginCodePage:
        """Step 2: the security code, its countdown, "Trust this IP", a new code; and Back."""
        self.code_page = LoginCodePage(self)
        self.sent_label = self.code_page.sent_label
        self.code_edit = self.code_page.code_edit
        self.countdown_label = self.code_page.countdown_label
        self.trust_check = self.code_page.trust_check
        self.trust_hint = self.code_page.trust_hint
        self.resend_button = self.code_page.resend_button
        self.resend_button.clicked.connect(self._resend)
        self.back_button = QPushButton(icon("back"), "", self)
        self.back_button.setAutoDefault(False)
        self.back_button.clicked.connect(self._back_to_credentials)
        return self.code_page

    def _build_buttons(self) -> QHBoxLayout:
        """The warning that recent codes did not go out (said before anyone signs in), the
        message, the spinner, Back, Cancel and Login."""
        self.delivery_warning = DeliveryWarning(self._tasks, self)
        self.delivery_warning.answered.connect(self.adjustSize)

        self.message = MessageLabel(self)
        self.message.setObjectName("loginMessage")
        self.busy = BusyIndicator(self)
        self.login_button = make_primary(QPushButton(self))
        self.login_button.setObjectName("loginButton")
        self.login_button.setDefault(True)
        self.login_button.clicked.connect(self._submit)
        self.cancel_button = QPushButton(self)
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.back_button)
        buttons.addWidget(self.busy)
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.login_button)
        return buttons

    def _layout_dialog(self, heading: QHBoxLayout, buttons: QHBoxLayout) -> None:
        line = QFrame(self)
        line.setFrameShape(QFrame.Shape.HLine)
        line.setStyleSheet("color: #d7dde4;")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(22, 18, 22, 18)
        layout.setSpacing(12)
        layout.addLayout(heading)
        layout.addWidget(line)
        layout.addWidget(self.delivery_warning)
        layout.addWidget(self.pages)
        layout.addWidget(self.message)
        self.setup_button = link_button("", self)
        self.setup_button.setObjectName("setupButton")
        self.setup_button.clicked.connect(self.setup_requested)
        self.setup_button.hide()
        layout.addWidget(self.setup_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addLayout(buttons)
        # Tab as they are laid out (they were made Back, Login, Cancel, then Set up).
        bottom = (self.setup_button, self.back_button, self.cancel_button, self.login_button)
        for first, second in pairwise(bottom):
            QWidget.setTabOrder(first, second)

    # ----- state from the app -------------------------------------------------------------

    @property
    def step(self) -> int:
        return self.pages.currentIndex()

    @property
    def ready(self) -> bool:
        return self._backend is not None

    def set_opening(self, text: str | None = None) -> None:
        """The database is being opened: Login waits."""
        self._backend = None
        self._opening = not text
        self.busy.start(text or self.tr("Opening database…"))
        self._update_buttons()

    def set_backend(self, backend: LoginBackend) -> None:
        """The database is open: Login works from now on."""
        self._backend = backend
        self._opening = False
        self.busy.stop()
        self._update_buttons()
        self._focus_first_empty()
        self._check_delivery()
        self._get_ready.now()

    def set_startup_failed(self, text: str) -> None:
        self._startup_failed = True
        self._opening = False
        self.busy.stop()
        self.message.show_error(text)
        self._update_buttons()

    def set_busy(self, text: str) -> None:
        """Work on the user's behalf is under way (e.g. opening the main window)."""
        self._set_busy(True, text)

    def set_idle(self) -> None:
        self._set_busy(False)

    def prefill(self, login: str, notice: str = "") -> None:
        self.username_edit.setText(login)
        self.password_edit.clear()
        if notice:
            self.message.show_success(notice)
        self._focus_first_empty()
        self._get_ready.now()

    def reset(self) -> None:
        """Back to an empty first step (after signing out)."""
        self._challenge = None
        self._timer.stop()
        self.password_edit.clear()
        self.code_edit.clear()
        self.trust_check.setChecked(False)
        self.message.clear_message()
        self._show_page(self.CREDENTIALS)
        self._set_busy(False)
        self._focus_first_empty()
        self._check_delivery()

    def _check_delivery(self) -> None:
        if self._backend is not None:
            self.delivery_warning.check(self._backend, self.pages.width())

    # ----- user actions -------------------------------------------------------------------

    def _submit(self) -> None:
        if self._busy or self._backend is None:
            return
        if self.step == self.CREDENTIALS:
            self._begin()
        else:
            self._verify()

    def _begin(self) -> None:
        login = self.username_edit.text().strip()
        password = self.password_edit.text()
        if not login:
            self.message.show_error(self.tr("Enter your login."))
            self.username_edit.setFocus()
            return
        if not password:
            self.message.show_error(self.tr("Enter your password."))
            self.password_edit.setFocus()
            return
        backend = self._backend
        assert backend is not None
        self._get_ready.used()
        self._run(lambda: backend.begin(login, password), self._begun, self.tr("Signing in…"))

    def _verify(self) -> None:
        challenge = self._challenge
        backend = self._backend
        assert challenge is not None and backend is not None
        code = self.code_edit.text().strip()
        if not code:
            self.message.show_error(self.tr("Enter the security code you received."))
            self.code_edit.setFocus()
            return
        trust = self.code_page.wants_trust()
        challenge_id = challenge.challenge_id
        self._run(
            lambda: backend.verify(challenge_id, code, trust),
            self._verified,
            self.tr("Checking the code…"),
        )

    def _resend(self) -> None:
        challenge = self._challenge
        backend = self._backend
        if self._busy or challenge is None or backend is None:
            return
        challenge_id = challenge.challenge_id
        self._run(
            lambda: backend.resend(challenge_id), self._resent, self.tr("Sending a new code…")
        )

    def _back_to_credentials(self) -> None:
        if self._busy:
            return
        self._challenge = None
        self._timer.stop()
        self.code_edit.clear()
        self.message.clear_message()
        self._show_page(self.CREDENTIALS)
        self.password_edit.clear()
        self.password_edit.setFocus()

    # ----- background calls ---------------------------------------------------------------

    def _run(self, fn: Callable[[], R], on_done: Callable[[R], None], text: str) -> None:
        self.message.clear_message()
        self._set_busy(True, text)
        self._signing.run(fn, on_done)

    def _failed(self, exc: BaseException) -> None:
        self._set_busy(False)
        self.message.show_error(
            error_text(exc, self.tr("Something went wrong while signing in ({name}). Try again."))
        )

    def _begun(self, result: SignedIn | CodeNeeded | Refused) -> None:
        from pmdesk.core.login_results import CodeNeeded, Refused, SignedIn

        self._set_busy(False)
        if isinstance(result, SignedIn):
            self._done(result)
        elif isinstance(result, CodeNeeded):
            self.code_edit.clear()
            self.trust_check.setChecked(False)
            self._show_page(self.CODE)
            self._code_needed(result)
        elif isinstance(result, Refused):
            self.password_edit.selectAll()
            self.password_edit.setFocus()
            self.message.show_error(self._refusal_text(result))

    def _verified(self, result: SignedIn | Refused) -> None:
        from pmdesk.core.login_results import SignedIn

        self._set_busy(False)
        if isinstance(result, SignedIn):
            self._done(result)
            return
        self.message.show_error(self._refusal_text(result))
        self.code_edit.selectAll()
        self.code_edit.setFocus()

    def _resent(self, result: CodeNeeded | Refused) -> None:
        from pmdesk.core.login_results import CodeNeeded

        self._set_busy(False)
        if isinstance(result, CodeNeeded):
            self.code_edit.clear()
            self._code_needed(result, resent=True)
        else:
            self.message.show_error(self._refusal_text(result))
            self._update_buttons()

    def _code_needed(self, result: CodeNeeded, *, resent: bool = False) -> None:
        self._challenge = result
        now = self._monotonic()
        valid, resend_in = code_timing(result)
        self._code_deadline = now + valid if valid is not None else None
        self._resend_deadline = now + resend_in
        failed, helpdesk = bool(result.delivery_error), result.helpdesk_code
        self.code_page.show_sent(
            result.destination, resent=resent, failed=failed, helpdesk=helpdesk
        )
        self.code_page.show_trust_refusal(result.trust_refused, busy=self._busy)
        if result.delivery_error:
            self.message.show_error(localize(result.delivery_error))
        elif resent:
            self.message.show_notice(self.tr("A new code is on its way. Use the newest code."))
        self._timer.start()
        self._tick()
        self.code_edit.setFocus()

    def _refusal_text(self, result: Refused) -> str:
        return self.code_page.refusal_text(result, on_code_step=self.step == self.CODE)

    def _done(self, result: SignedIn) -> None:
        self._timer.stop()
        self._challenge = None
        self.password_edit.clear()
        self.code_edit.clear()
        self.signed_in.emit(result)

    # ----- display ------------------------------------------------------------------------

    def _show_page(self, page: int) -> None:
        # Only the current page takes room: the dialog is as tall as the step it shows.
        for index in range(self.pages.count()):
            policy = QSizePolicy.Policy.Preferred if index == page else QSizePolicy.Policy.Ignored
            widget = self.pages.widget(index)
            if widget is not None:
                widget.setSizePolicy(policy, policy)
        self.pages.setCurrentIndex(page)
        self.pages.adjustSize()
        self.adjustSize()
        self.back_button.setVisible(page == self.CODE)
        self._update_buttons()

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        self._opening = False
        if busy:
            self.busy.start(text)
        else:
            self.busy.stop()
        for widget in (self.username_edit, self.password_edit, self.code_edit):
            widget.setEnabled(not busy)
        self.code_page.allow_trust(not busy)
        self._update_buttons()

    def _update_buttons(self) -> None:
        can_act = self._backend is not None and not self._busy and not self._startup_failed
        self.login_button.setEnabled(can_act)
        self.back_button.setEnabled(not self._busy)
        waiting = self._resend_deadline is not None and self._monotonic() < self._resend_deadline
        self.resend_button.setEnabled(can_act and self._challenge is not None and not waiting)

    def _tick(self) -> None:
        now = self._monotonic()
        deadline, resend_at = self._code_deadline, self._resend_deadline
        self.code_page.show_countdown(deadline - now if deadline is not None else None)
        wait = resend_at - now if resend_at is not None and now < resend_at else None
        self.code_page.show_resend_wait(wait)
        self._update_buttons()

    def _focus_first_empty(self) -> None:
        if self.step == self.CODE:
            self.code_edit.setFocus()
        elif not self.username_edit.text():
            self.username_edit.setFocus()
        else:
            self.password_edit.setFocus()

    # ----- Qt -----------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and self.step == self.CODE:
            # Esc on the code step goes back to the password step; it never quits the app.
            self._back_to_credentials()
            event.accept()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._submit()
            event.accept()
            return
        super().keyPressEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._timer.stop()
        super().closeEvent(event)
