"""The login dialog driven like a user: password, security code, Trust this IP, errors inline."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.auth import LoginService, SignedIn
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor
from pmdesk.core.db import sqlite_url
from pmdesk.core.office_networks import NEVER
from pmdesk.core.security import SecurityService
from pmdesk.secrets import MemoryStore
from pmdesk.ui.app import Launcher
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.tasks import TaskManager
from tests.helpers import hardened
from tests.helpers.login import (
    CollectingDelivery,
    add_user,
    cheap_passwords,
    enable_two_factor,
)
from tests.helpers.smtp import extract_code
from tests.ui.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, click_check
from tests.ui.screenshots import capture, screenshot_dir

SYSTEM = Actor.system("test set-up")


class FakeMonotonic:
    """The dialog's countdown clock, moved by the test together with the database clock."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def delivery() -> CollectingDelivery:
    return CollectingDelivery()


@pytest.fixture
def monotonic() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def dialog(
    qtbot: QtBot,
    ui_app: App,
    admin_id: int,
    tasks: TaskManager,
    delivery: CollectingDelivery,
    monotonic: FakeMonotonic,
) -> LoginDialog:
    login = LoginDialog(tasks, monotonic=monotonic)
    qtbot.addWidget(login)
    login.show()
    qtbot.waitExposed(login)
    login.set_backend(
        LoginService(
            ui_app.context,
            delivery_factory=delivery.factory,
            passwords=cheap_passwords(),
            workstation="ws-ui-test",
        )
    )
    return login


def _type_credentials(qtbot: QtBot, dialog: LoginDialog, login: str, password: str) -> None:
    dialog.username_edit.clear()
    dialog.password_edit.clear()
    qtbot.keyClicks(dialog.username_edit, login)
    qtbot.keyClicks(dialog.password_edit, password)


def test_version_is_shown_and_focus_starts_in_username(dialog: LoginDialog) -> None:
    from pmdesk import __version__

    assert dialog.version_label.text() == f"Version {__version__}"
    assert dialog.focusWidget() is dialog.username_edit
    assert dialog.login_button.isEnabled()
    assert dialog.step == dialog.CREDENTIALS


def test_login_with_two_step_authentication_off(
    qtbot: QtBot, dialog: LoginDialog, admin_id: int
) -> None:
    _type_credentials(qtbot, dialog, ADMIN_LOGIN, ADMIN_PASSWORD)
    with qtbot.waitSignal(dialog.signed_in, timeout=20_000) as signal:
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    result = signal.args[0] if signal.args else None
    assert isinstance(result, SignedIn)
    assert result.person_id == admin_id
    assert result.display_name == "Jean-Marie Smets"
    assert dialog.password_edit.text() == ""  # the password does not linger in the widget


def test_wrong_password_is_an_inline_error(qtbot: QtBot, dialog: LoginDialog) -> None:
    _type_credentials(qtbot, dialog, ADMIN_LOGIN, "not the password")
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.message.isVisible() and not dialog.busy.running)
    assert dialog.message.role == "error"
    assert "username or password is incorrect" in dialog.message.text()
    assert dialog.step == dialog.CREDENTIALS
    assert dialog.focusWidget() is dialog.password_edit
    assert dialog.password_edit.selectedText() == "not the password"  # ready to retype


class ReadyRecorder(LoginService):
    """The real login service, noting each login it was asked to get ready for."""

    ready_for: list[str]

    def get_ready(self, login: str) -> None:
        self.ready_for.append(login)
        super().get_ready(login)


def test_leaving_the_username_gets_the_sign_in_ready_once_per_login(
    qtbot: QtBot, ui_app: App, tasks: TaskManager, delivery: CollectingDelivery
) -> None:
    """While the password is typed the backend gets ready for the login (on a hardened
    database the salt is fetched then, and the Login click is one round trip): when the
    Username field is left, or 300 ms after typing in it stops; once per login."""
    login = LoginDialog(tasks)
    qtbot.addWidget(login)
    login.show()
    qtbot.waitExposed(login)
    backend = ReadyRecorder(
        ui_app.context, delivery_factory=delivery.factory, passwords=cheap_passwords()
    )
    backend.ready_for = []
    login.set_backend(backend)
    qtbot.keyClicks(login.username_edit, ADMIN_LOGIN)
    qtbot.keyClick(login.username_edit, Qt.Key.Key_Tab)  # on to the password
    qtbot.waitUntil(lambda: backend.ready_for == [ADMIN_LOGIN], timeout=5_000)
    assert login.focusWidget() is login.password_edit
    login.username_edit.setFocus()
    qtbot.keyClick(login.username_edit, Qt.Key.Key_Tab)  # left again, the same login
    qtbot.wait(400)
    assert backend.ready_for == [ADMIN_LOGIN]
    login.username_edit.setFocus()
    login.username_edit.clear()
    qtbot.keyClicks(login.username_edit, "someone")  # then a pause, still in the field
    qtbot.waitUntil(lambda: backend.ready_for == [ADMIN_LOGIN, "someone"], timeout=5_000)
    assert login.focusWidget() is login.username_edit


def test_empty_fields_are_caught_before_asking_the_database(
    qtbot: QtBot, dialog: LoginDialog
) -> None:
    qtbot.keyClick(dialog.username_edit, Qt.Key.Key_Return)
    assert dialog.message.text() == "Enter your login."
    assert not dialog.busy.running
    qtbot.keyClicks(dialog.username_edit, ADMIN_LOGIN)
    qtbot.keyClick(dialog.username_edit, Qt.Key.Key_Return)
    assert dialog.message.text() == "Enter your password."
    assert dialog.focusWidget() is dialog.password_edit


def test_escape_cancels(qtbot: QtBot, dialog: LoginDialog) -> None:
    with qtbot.waitSignal(dialog.rejected):
        qtbot.keyClick(dialog.username_edit, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


@hardened.LOOPBACK_NEVER_TRUSTED
def test_two_step_login_with_code_countdown_resend_and_trust(
    qtbot: QtBot,
    dialog: LoginDialog,
    ui_app: App,
    delivery: CollectingDelivery,
    monotonic: FakeMonotonic,
    clock: ShiftedClock,
) -> None:
    enable_two_factor(ui_app.context)
    _type_credentials(qtbot, dialog, ADMIN_LOGIN, ADMIN_PASSWORD)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.step == dialog.CODE and not dialog.busy.running, timeout=20_000)

    # The code step: where it went (masked), how long it lasts, resend not yet.
    assert dialog.sent_label.text() == "A security code was sent to j***@insypro.com."
    assert dialog.countdown_label.text() == "Valid for 10:00"
    assert dialog.code_edit.placeholderText() == "6-digit code"
    assert dialog.focusWidget() is dialog.code_edit
    assert dialog.trust_check.text() == "Trust this IP"
    assert "never at home" in dialog.trust_hint.text()
    assert not dialog.resend_button.isEnabled()
    assert len(delivery.sent) == 1

    monotonic.now += 65
    qtbot.waitUntil(lambda: dialog.countdown_label.text() == "Valid for 8:55")

    # A wrong code: said inline, with the attempts left, the code selected for retyping.
    qtbot.keyClicks(dialog.code_edit, "000000" if delivery.last_code != "000000" else "111111")
    qtbot.keyClick(dialog.code_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.message.isVisible() and not dialog.busy.running)
    assert "4 attempts left." in dialog.message.text()
    assert dialog.message.text().count("attempt") == 1
    assert dialog.step == dialog.CODE
    assert dialog.code_edit.selectedText() == dialog.code_edit.text()

    # After 30 s a new code may be asked for; the old one stops working.
    assert dialog.resend_button.isEnabled()  # 65 s have passed on the dialog's clock
    clock.advance(timedelta(seconds=65))
    qtbot.mouseClick(dialog.resend_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(delivery.sent) == 2 and not dialog.busy.running)
    assert dialog.sent_label.text() == "A new security code was sent to j***@insypro.com."
    assert dialog.code_edit.text() == ""
    assert not dialog.resend_button.isEnabled()

    # Letters are not digits.
    qtbot.keyClicks(dialog.code_edit, "12ab")
    assert dialog.code_edit.text() == "12"
    dialog.code_edit.clear()

    qtbot.keyClicks(dialog.code_edit, delivery.last_code)
    click_check(qtbot, dialog.trust_check)
    assert dialog.trust_check.isChecked()
    with qtbot.waitSignal(dialog.signed_in, timeout=20_000) as signal:
        qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    first = signal.args[0] if signal.args else None
    assert isinstance(first, SignedIn) and not first.trusted_address

    # The address is trusted now: the next login needs no code.
    dialog.reset()
    assert dialog.step == dialog.CREDENTIALS
    _type_credentials(qtbot, dialog, ADMIN_LOGIN, ADMIN_PASSWORD)
    with qtbot.waitSignal(dialog.signed_in, timeout=20_000) as signal:
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    second = signal.args[0] if signal.args else None
    assert isinstance(second, SignedIn) and second.trusted_address
    assert len(delivery.sent) == 2


def test_expired_code_says_so(
    qtbot: QtBot, dialog: LoginDialog, ui_app: App, monotonic: FakeMonotonic
) -> None:
    enable_two_factor(ui_app.context)
    _type_credentials(qtbot, dialog, ADMIN_LOGIN, ADMIN_PASSWORD)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.step == dialog.CODE, timeout=20_000)
    monotonic.now += 601
    qtbot.waitUntil(lambda: "expired" in dialog.countdown_label.text())
    assert dialog.countdown_label.property("expired") is True
    dialog.back_button.click()
    assert dialog.step == dialog.CREDENTIALS
    assert dialog.focusWidget() is dialog.password_edit


@hardened.LOOPBACK_NEVER_TRUSTED
def test_the_trust_policy_greys_out_trust_this_ip_and_says_why(
    qtbot: QtBot, dialog: LoginDialog, ui_app: App
) -> None:
    """Issue 16, item 1: where the trust policy refuses the address, the code step offers no
    "Trust this IP" and says why, in words and to screen readers."""
    enable_two_factor(ui_app.context)
    security = SecurityService(ui_app.context)
    security.update(SYSTEM, security.get(SYSTEM).version, trust_policy=NEVER)
    _type_credentials(qtbot, dialog, ADMIN_LOGIN, ADMIN_PASSWORD)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.step == dialog.CODE and not dialog.busy.running, timeout=20_000)
    said = (
        "Not available: Trusting this address is not allowed: trusting addresses is switched off."
    )
    assert not dialog.trust_check.isEnabled() and not dialog.trust_check.isChecked()
    assert dialog.trust_hint.text() == said
    assert dialog.trust_check.accessibleDescription() == said


@hardened.RELAY_DELIVERS
def test_undeliverable_code_is_explained(
    qtbot: QtBot, dialog: LoginDialog, ui_app: App, delivery: CollectingDelivery
) -> None:
    enable_two_factor(ui_app.context)
    delivery.fail_with = "The mail server refused the message."
    _type_credentials(qtbot, dialog, ADMIN_LOGIN, ADMIN_PASSWORD)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.step == dialog.CODE and not dialog.busy.running, timeout=20_000)
    assert dialog.sent_label.text() == "The security code could not be sent."
    assert "refused" in dialog.message.text()
    assert dialog.message.role == "error"


@hardened.RELAY_DELIVERS
def test_a_slow_mail_server_does_not_freeze_the_dialog(
    qtbot: QtBot, dialog: LoginDialog, ui_app: App, delivery: CollectingDelivery
) -> None:
    """Sending runs on a worker: while the mail server takes its time, the GUI keeps going."""
    enable_two_factor(ui_app.context)
    release = threading.Event()
    sending = threading.Event()
    original = delivery.send

    def slow_send(message: object) -> None:
        sending.set()
        release.wait(20)
        original(message)  # type: ignore[arg-type]

    delivery.send = slow_send  # type: ignore[method-assign]
    _type_credentials(qtbot, dialog, ADMIN_LOGIN, ADMIN_PASSWORD)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(sending.is_set, timeout=20_000)

    # The event loop runs: the busy indicator turns, inputs are locked, Cancel still works.
    assert dialog.busy.running
    assert not dialog.login_button.isEnabled()
    assert not dialog.password_edit.isEnabled()
    started = time.monotonic()
    ticks: list[int] = []
    dialog.busy._timer.timeout.connect(lambda: ticks.append(1))
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=5_000)
    assert time.monotonic() - started < 5
    assert dialog.cancel_button.isEnabled()

    release.set()
    qtbot.waitUntil(lambda: dialog.step == dialog.CODE and not dialog.busy.running, timeout=20_000)
    assert dialog.password_edit.isEnabled()


def _outbox_code(folder: Path, count: int) -> str:
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns)
    assert len(files) == count, files
    message = message_from_bytes(files[-1].read_bytes(), policy=policy.default)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return extract_code(body.get_content())


def test_two_step_login_through_the_app_with_the_outbox(
    qtbot: QtBot, tasks: TaskManager, tmp_path: Path, clock: ShiftedClock
) -> None:
    """The whole app: real LoginService, codes in the outbox folder, Trust this IP, sign out,
    and the second login from the trusted address without a code."""
    from pmdesk.core.context import CoreContext
    from pmdesk.core.db import Database

    (tmp_path / "app.sqlite3").touch()  # away from the default location pmdesk makes none
    url = sqlite_url(tmp_path / "app.sqlite3")
    launcher = Launcher(str(url), secrets=MemoryStore(), tasks=tasks, check_keyring=False)
    qtbot.addWidget(launcher.login)
    launcher.start()
    qtbot.waitUntil(lambda: launcher.opened is not None, timeout=20_000)
    opened = launcher.opened
    assert opened is not None
    if launcher.first_run is not None:  # the database was empty; a user is added below
        launcher.first_run.close()
    ctx = CoreContext(db=Database(url), secrets=MemoryStore(), outbox_default=tmp_path, clock=clock)
    add_user(ctx, "anne", "anne's long secret", email="anne@insypro.com", last_name="Maes")
    enable_two_factor(ctx)
    ctx.db.dispose()
    outbox = opened.app.paths.default_outbox

    login = launcher.login
    qtbot.keyClicks(login.username_edit, "anne")
    qtbot.keyClicks(login.password_edit, "anne's long secret")
    qtbot.keyClick(login.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: login.step == login.CODE and not login.busy.running, timeout=20_000)
    assert login.sent_label.text() == "A security code was sent to a***@insypro.com."
    code = _outbox_code(outbox, 1)

    qtbot.keyClicks(login.code_edit, code)
    click_check(qtbot, login.trust_check)
    assert login.trust_check.isChecked()
    qtbot.keyClick(login.code_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: launcher.window is not None, timeout=20_000)
    window = launcher.window
    assert window is not None
    status = window.user_status.findChild(QLabel, "text")
    assert status is not None and "Signed in as Maes (anne)" in status.text()
    # The expiry sweep and live refresh run for the signed-in session...
    services = window.background
    assert services is not None and services.running
    swept: list[int] = []
    services.swept.connect(swept.append)
    services.sweep_now()
    qtbot.waitUntil(lambda: bool(swept), timeout=20_000)
    assert set(swept) == {0}  # the fresh trust is kept

    # Sign out: back to the login dialog; the next login from this address needs no code.
    qtbot.mouseClick(window.sign_out_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: launcher.window is None and login.isVisible())
    assert not services.running  # ...and stop with it
    assert login.step == login.CREDENTIALS
    assert login.password_edit.text() == ""
    qtbot.keyClicks(login.password_edit, "anne's long secret")
    qtbot.keyClick(login.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: launcher.window is not None, timeout=20_000)
    # No second code was needed; the trust outside any office network was announced to anne.
    mails = [
        message_from_bytes(f.read_bytes(), policy=policy.default) for f in outbox.glob("*.eml")
    ]
    assert sorted(str(m["Subject"]) for m in mails) == [
        "pmdesk security code",
        "pmdesk: new trusted address for anne",
    ]
    launcher.window.close()
    opened.app.db.dispose()


@hardened.RELAY_DELIVERS
def test_the_dialog_says_when_recent_codes_could_not_be_sent(
    qtbot: QtBot,
    ui_app: App,
    admin_id: int,
    tasks: TaskManager,
    delivery: CollectingDelivery,
    monotonic: FakeMonotonic,
    tmp_path: Path,
) -> None:
    """Before anyone signs in: the configured method's recent sends failed, so the dialog warns
    (read on a worker thread once the database is open); no warning while they work."""
    from pmdesk.core.delivery import health
    from pmdesk.core.delivery.base import DeliveryError

    ctx = ui_app.context
    enable_two_factor(ctx)
    with ctx.db.session() as s:
        error = DeliveryError("The mail server refused the password.", step="authenticate")
        health.record(s, ctx.clock.now(s), "outbox", error)
    login = LoginDialog(tasks, monotonic=monotonic)
    qtbot.addWidget(login)
    login.show()
    qtbot.waitExposed(login)
    assert not login.delivery_warning.isVisible()  # nothing known before the database is open
    service = LoginService(
        ctx, delivery_factory=delivery.factory, passwords=cheap_passwords(), workstation="ws"
    )
    login.set_backend(service)
    qtbot.waitUntil(login.delivery_warning.isVisible, timeout=20_000)
    assert login.delivery_warning.text() == health.LOGIN_WARNING
    assert "refused the password" not in login.delivery_warning.text()  # no detail here
    assert login.focusWidget() is login.username_edit  # the form is still first in line
    capture(login, "login-delivery-warning", screenshot_dir(tmp_path))

    # Codes go out again: after signing out, the dialog no longer warns.
    with ctx.db.session() as s:
        health.record(s, ctx.clock.now(s), "outbox", None)
    login.reset()
    qtbot.waitUntil(lambda: not login.delivery_warning.isVisible(), timeout=20_000)
