"""The desktop app under faults, driven as a user would (pytest-qt, offscreen): the database
locked by another program or gone, the mail server down, slow or with a bad certificate, no
keyring, and the app process killed in the middle of its expiry sweep.

Each time the user gets one clear sentence where they are looking, nothing they typed is lost,
nothing half-done is stored, and once the fault is gone the same click works, without restarting
the app. Real parts only: a second process holding the SQLite lock, a private PostgreSQL
instance stopped and started (never the shared server), real mail servers on loopback.
"""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import keyring
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QScrollArea, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import func, insert, select

from pmdesk.bootstrap import App
from pmdesk.core.audit import Event
from pmdesk.core.auth import LoginService, SignedIn
from pmdesk.core.clock import DatabaseClock, ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.delivery.base import DeliverySettings
from pmdesk.core.delivery.factory import delivery_for
from pmdesk.core.models import AuditEvent, Person, TrustedIp
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.core.security import SecurityService
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.secrets import KeyringStore, MemoryStore, smtp_key
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.personnel.view import PersonnelPage
from pmdesk.ui.reconnect import Backoff
from pmdesk.ui.system.security import SecurityPage
from pmdesk.ui.system.trusted_ips_model import ADDRESS, ID, REMOVE
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.widgets import MessageLabel
from tests.helpers.login import add_user, cheap_passwords, enable_two_factor
from tests.helpers.qt import answer, column, personnel_idle, security_idle
from tests.helpers.smtp import SENDER, SmtpServer
from tests.helpers.trusted_ips import trust_addresses
from tests.reliability.gui_helpers import (
    ADMIN_EMAIL,
    OFFSCREEN_NOISE,
    SLOW_SMTP_DELAY_S,
    LockHolder,
    PrivatePostgres,
    SwitchableKeyring,
    admin_session,
    close_window,
    gui_app,
    open_window,
    pg_db,
    pg_server,
    slow_smtp_server,
    sqlite_file,
    tasks,
)
from tests.reliability.helpers import REPO
from tests.ui.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, click_check

# Fixtures defined in gui_helpers, used here by name.
__all__ = ["pg_db", "pg_server", "slow_smtp_server", "tasks"]

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

BUSY_MS = 300  # the embedded database's busy timeout for these tests (15 s in production)
SYSTEM = Actor.system("another workstation")
LOST = "Database connection lost — reconnecting in"
RESTORED = "Database connection restored"


# ----- helpers ------------------------------------------------------------------------------


def counts(db: Database) -> tuple[int, int]:
    """(people, audit rows)."""
    with db.session() as s:
        people = s.execute(select(func.count()).select_from(Person)).scalar_one()
        audit = s.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    return int(people), int(audit)


def plain_sentence(text: str) -> None:
    """One readable sentence: no traceback, no exception class, no driver dump."""
    assert text, "no message at all"
    assert "\n" not in text, text
    for raw in ("Traceback", "OperationalError", "psycopg.", "sqlite3.", "Error)."):
        assert raw not in text, text


def on_screen(widget: QWidget) -> bool:
    """Visible and not scrolled out of sight (what the user can actually read)."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


def open_personnel(qtbot: QtBot, window: MainWindow) -> PersonnelPage:
    page = window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    qtbot.waitUntil(lambda: personnel_idle(page) and page.model.total > 0, timeout=20_000)
    return page


def open_person(qtbot: QtBot, page: PersonnelPage, last_name: str) -> None:
    model = page.model
    row = [model.data(model.index(r, 0)) for r in range(model.rowCount())].index(last_name)
    rect = page.table.visualRect(model.index(row, 0))
    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(
        lambda: (
            page.editor.record is not None
            and page.editor.record.form.last_name == last_name
            and personnel_idle(page)
        ),
        timeout=20_000,
    )


def retype(qtbot: QtBot, page: PersonnelPage, field: str, value: str) -> None:
    edit = page.editor.edits[field]
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(edit, value)


def scroll_to_save(page: PersonnelPage) -> None:
    """Where a user is after ticking the access flags: the form scrolled down to Save."""
    scroll = page.findChild(QScrollArea, "editorScroll")
    assert scroll is not None
    bar = scroll.verticalScrollBar()
    bar.setValue(bar.maximum())


def click_save(qtbot: QtBot, page: PersonnelPage) -> MessageLabel:
    assert page.save_button.isEnabled()
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    message = page.editor.message
    qtbot.waitUntil(lambda: personnel_idle(page) and message.isVisible(), timeout=30_000)
    return message


class StatusLog:
    """Every message the main window's status bar showed."""

    def __init__(self, window: MainWindow) -> None:
        self.shown: list[str] = []
        window.statusBar().messageChanged.connect(self._changed)

    def _changed(self, text: str) -> None:
        if text:
            self.shown.append(text)

    def count(self, prefix: str) -> int:
        return sum(1 for text in self.shown if text.startswith(prefix))


# ----- 1. Personnel: the SQLite file is locked by another program ----------------------------


def test_personnel_save_while_another_program_holds_the_lock(
    qtbot: QtBot, tasks: TaskManager, sqlite_db: Database, clock: ShiftedClock, tmp_path: Path
) -> None:
    db = Database(sqlite_db.url, busy_timeout_ms=BUSY_MS)
    app = gui_app(db, clock, tmp_path)
    window = open_window(qtbot, app, admin_session(app), tasks)
    window.resize(1280, 640)  # a laptop screen: the form scrolls
    try:
        page = open_personnel(qtbot, window)
        editor = page.editor
        qtbot.mouseClick(page.new_button, Qt.MouseButton.LeftButton)
        qtbot.keyClicks(editor.edits["last_name"], "Wouters")
        qtbot.keyClicks(editor.edits["first_name"], "Koen")
        qtbot.keyClicks(editor.edits["number"], "E0042")
        qtbot.keyClicks(editor.edits["email"], "koen@wouters.be")
        qtbot.keyClicks(editor.edits["hourly_cost"], "42,50")
        click_check(qtbot, editor.flag_checks["access_reception"])
        typed = editor.form()
        before = counts(db)
        scroll_to_save(page)

        with LockHolder(sqlite_file(db)) as holder:
            started = time.monotonic()
            message = click_save(qtbot, page)
            waited = time.monotonic() - started
            # Reading needs no write lock (WAL): the list stays usable meanwhile.
            assert page.model.total == before[0]
            holder.release()

        assert message.role == "error"
        text = message.text()
        plain_sentence(text)
        assert "is busy" in text and "Nothing was saved" in text, text
        assert on_screen(message), "the message is where the user is looking"
        assert waited < 10, "waited for the busy timeout, then said so"
        assert editor.form() == typed, "every typed field is still in the form"
        assert editor.record is None and editor.is_dirty()
        assert page.save_button.isEnabled(), "Save can be clicked again"
        assert counts(db) == before, "no half-written person, no orphan audit row"

        # The lock is gone: the same click saves what was typed.
        message = click_save(qtbot, page)
        assert message.role == "success", message.text()
        assert message.text() == "Koen Wouters saved."
        assert on_screen(message)
        assert counts(db) == (before[0] + 1, before[1] + 1)
        assert editor.record is not None
        stored = PersonnelService(app.context).get(SYSTEM, editor.record.id).form
        assert stored == replace(typed, hourly_cost="42.50")
    finally:
        close_window(window, tasks)
        db.dispose()


# ----- 2. Personnel: the PostgreSQL server stops under a running app ---------------------------


@pytest.mark.slow
def test_personnel_save_while_the_server_is_down_then_back(
    qtbot: QtBot,
    tasks: TaskManager,
    pg_server: PrivatePostgres,
    pg_db: Database,
    clock: ShiftedClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = gui_app(pg_db, clock, tmp_path)
    session = admin_session(app)
    person = PersonnelService(app.context).create(
        SYSTEM, PersonForm(last_name="Peeters", first_name="Sofie", email="sofie@peeters.be")
    )
    # Status messages that go after 0.3 s (6 s in the app), retries 2 s apart (1 s up to 30 s).
    monkeypatch.setattr(MainWindow, "STATUS_TIMEOUT_MS", 300)
    window = open_window(qtbot, app, session, tasks, background=True, backoff=Backoff(2.0, 2.0))
    status = StatusLog(window)
    services = window.background
    assert services is not None and services.listener is not None
    try:
        page = open_personnel(qtbot, window)
        open_person(qtbot, page, "Peeters")
        editor = page.editor
        assert services.listener.connected.wait(10)

        pg_server.stop("fast")
        # The user does not know yet and goes on typing.
        retype(qtbot, page, "first_name", "Sofia")
        retype(qtbot, page, "email", "sofia@peeters.be")
        qtbot.keyClicks(editor.edits["mobile"], "+32 470 12 34 56")
        click_check(qtbot, editor.flag_checks["access_planning"])
        typed = editor.form()
        # The live refresh notices at once and says so in the status bar.
        qtbot.waitUntil(lambda: status.count(LOST) >= 1, timeout=20_000)

        message = click_save(qtbot, page)
        assert message.role == "error"
        text = message.text()
        plain_sentence(text)
        assert text.startswith("Cannot reach the database postgresql"), text
        assert on_screen(message)
        assert editor.form() == typed, "every typed field is still in the form"
        assert editor.record is not None and editor.record.version == person.version
        assert page.save_button.isEnabled()
        # While the database is away the status bar keeps saying so (between two retries too).
        qtbot.wait(700)
        assert window.statusBar().currentMessage().startswith(LOST)
        assert status.count(LOST) == 1, "one retry so far"

        lost_at = len(status.shown)
        pg_server.start()
        qtbot.waitUntil(lambda: status.count(RESTORED) >= 1, timeout=30_000)
        assert all(not t.startswith(RESTORED) for t in status.shown[:lost_at])
        # The refresh after the reconnect (every topic: changes may have been missed) reloads
        # the person's trusted IPs around what is typed, not over it.
        qtbot.waitUntil(lambda: tasks.is_idle() and personnel_idle(page), timeout=20_000)
        assert editor.form() == typed

        # Same window, same Database object: the pool reconnects by itself.
        message = click_save(qtbot, page)
        assert message.role == "success", message.text()
        stored = PersonnelService(app.context).get(SYSTEM, person.id)
        assert stored.version == person.version + 1
        assert stored.form == replace(typed, mobile="+32470123456")
        assert not editor.is_dirty()
    finally:
        close_window(window, tasks)


# ----- 3. Security: removing a trusted IP while the database is unavailable -----------------


def seed_ips(db: Database, person_id: int, addresses: list[str]) -> None:
    trust_addresses(
        db, [(person_id, address, timedelta(hours=i + 1)) for i, address in enumerate(addresses)]
    )


def click_remove_icon(qtbot: QtBot, page: SecurityPage, row: int) -> None:
    rect = page.table.visualRect(page.model.index(row, REMOVE))
    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def ip_audits(db: Database) -> int:
    with db.session() as s:
        return int(
            s.execute(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.event == Event.IP_REMOVED.value)
            ).scalar_one()
        )


@pytest.mark.slow
def test_removing_a_trusted_ip_while_the_server_is_down_then_back(
    qtbot: QtBot,
    tasks: TaskManager,
    pg_server: PrivatePostgres,
    pg_db: Database,
    clock: ShiftedClock,
    tmp_path: Path,
) -> None:
    app = gui_app(pg_db, clock, tmp_path)
    session = admin_session(app)
    home = ["203.0.113.7", "192.0.2.44", "198.51.100.2"]
    seed_ips(pg_db, session.person_id, home)
    window = open_window(qtbot, app, session, tasks)
    try:
        page = window.show_page("security")
        assert isinstance(page, SecurityPage)
        qtbot.waitUntil(lambda: security_idle(page) and page.model.rowCount() == 3, timeout=20_000)
        assert column(page.model, ADDRESS) == home
        row_id = int(column(page.model, ID)[0])
        removed_before = ip_audits(pg_db)

        pg_server.stop("fast")
        click_remove_icon(qtbot, page, 0)
        question = answer(qtbot, page, "Remove")
        assert question == f"Remove the trusted address {home[0]} of Jean-Marie Smets?"
        qtbot.waitUntil(lambda: page.ip_message.isVisible() and tasks.is_idle(), timeout=20_000)
        assert page.ip_message.role == "error"
        text = page.ip_message.text()
        plain_sentence(text)
        assert text.startswith("Cannot reach the database postgresql"), text
        assert on_screen(page.ip_message)
        assert column(page.model, ADDRESS) == home, "the row is still listed"
        assert page.paging_label.text() == "Viewing items 1-3 of 3"
        assert page.remove_delegate.enabled, "the red icon still works"

        pg_server.start()
        click_remove_icon(qtbot, page, 0)
        answer(qtbot, page, "Remove")
        qtbot.waitUntil(
            lambda: security_idle(page) and page.paging_label.text() == "Viewing items 1-2 of 2",
            timeout=20_000,
        )
        assert page.ips.undo_bar.message.role == "success"
        assert page.ips.undo_bar.message.text() == "Removed 1 trusted address."
        assert column(page.model, ADDRESS) == home[1:]
        with pg_db.session() as s:
            assert s.get(TrustedIp, row_id) is None
        assert ip_audits(pg_db) == removed_before + 1, "removed once, audited once"
    finally:
        close_window(window, tasks)


# ----- 4. Login: the mail server is down, slow, or has a bad certificate ---------------------


def smtp_settings(port: int, security: str = "starttls") -> DeliverySettings:
    return DeliverySettings(
        method="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security=security,  # type: ignore[arg-type]
        smtp_from=SENDER,
    )


def use_mail_server(app: App, settings: DeliverySettings) -> None:
    """What the administrator does on another workstation: point code delivery elsewhere."""
    SecurityService(app.context).update_delivery(SYSTEM, settings)


@pytest.fixture
def login_app(sqlite_db: Database, clock: ShiftedClock, tmp_path: Path) -> App:
    app = gui_app(sqlite_db, clock, tmp_path)
    add_user(app.context, ADMIN_LOGIN, ADMIN_PASSWORD, email=ADMIN_EMAIL, last_name="Smets")
    enable_two_factor(app.context)
    return app


def login_dialog(qtbot: QtBot, app: App, tasks: TaskManager, trusted_ca: object) -> LoginDialog:
    """The dialog with the real login service and real SMTP delivery (5 s timeouts; the test
    CA is trusted as a company's own authority would be)."""
    core = app.context

    def delivery(settings: DeliverySettings) -> object:
        return delivery_for(
            settings, core.secrets, core.outbox_default, ssl_context=trusted_ca, timeout=5.0
        )

    dialog = LoginDialog(tasks)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.set_backend(
        LoginService(
            core,
            delivery_factory=delivery,  # type: ignore[arg-type]
            passwords=cheap_passwords(),
            workstation="ws-gui-faults",
        )
    )
    return dialog


def sign_in(qtbot: QtBot, dialog: LoginDialog) -> None:
    qtbot.keyClicks(dialog.username_edit, ADMIN_LOGIN)
    qtbot.keyClicks(dialog.password_edit, ADMIN_PASSWORD)
    qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)


def lock_state(app: App) -> tuple[int, object]:
    with app.db.session() as s:
        person = s.execute(select(Person).where(Person.login == ADMIN_LOGIN)).scalar_one()
        return person.failed_logins, person.locked_until


@pytest.mark.parametrize("fault", ["down", "bad certificate"])
def test_login_when_the_mail_server_fails_then_is_fixed(
    qtbot: QtBot,
    tasks: TaskManager,
    login_app: App,
    fault: str,
    closed_port: int,
    smtp_self_signed_server: SmtpServer,
    smtp_starttls_server: SmtpServer,
) -> None:
    app = login_app
    broken = closed_port if fault == "down" else smtp_self_signed_server.port
    use_mail_server(app, smtp_settings(broken))
    dialog = login_dialog(qtbot, app, tasks, smtp_starttls_server.client_context)

    sign_in(qtbot, dialog)
    qtbot.waitUntil(lambda: dialog.step == dialog.CODE and not dialog.busy.running, timeout=20_000)
    assert dialog.sent_label.text() == "The security code could not be sent."
    assert dialog.message.role == "error"
    text = dialog.message.text()
    plain_sentence(text)
    if fault == "down":
        assert text == (
            f"Could not connect to the mail server 127.0.0.1:{closed_port}: connection refused. "
            "Check the host name and port, and that the server is running."
        )
    else:
        assert text.startswith("The certificate of the mail server 127.0.0.1 is not trusted ("), (
            text
        )
        assert "self-signed" in text
    assert on_screen(dialog.message)
    assert smtp_self_signed_server.received == []
    assert lock_state(app) == (0, None), "a mail failure is not a failed login"
    # Nothing went out: a new code may be asked for at once, from the same step.
    assert dialog.resend_button.isEnabled()
    assert dialog.resend_button.text() == "Send a new code"
    assert dialog.code_edit.isEnabled() and dialog.login_button.isEnabled()

    # The administrator fixes the mail server; the user clicks "Send a new code".
    use_mail_server(app, smtp_settings(smtp_starttls_server.port))
    qtbot.mouseClick(dialog.resend_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(smtp_starttls_server.received) == 1, timeout=20_000)
    qtbot.waitUntil(lambda: not dialog.busy.running)
    assert dialog.sent_label.text() == "A new security code was sent to j***@insypro.com."
    assert dialog.message.role == "notice"
    mail = smtp_starttls_server.received[0]
    assert mail.secure and mail.rcpt_tos == [ADMIN_EMAIL]

    qtbot.keyClicks(dialog.code_edit, mail.code)
    with qtbot.waitSignal(dialog.signed_in, timeout=20_000) as signed:
        qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert isinstance(signed.args[0], SignedIn)
    assert lock_state(app) == (0, None)


class LatenessProbe:
    """A 10 ms timer on the GUI thread: how late its ticks come is how frozen the GUI is."""

    def __init__(self) -> None:
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.worst_ms = 0.0
        self.ticks = 0

    def start(self) -> None:
        self.last = time.monotonic()
        self.timer.start()

    def _tick(self) -> None:
        now = time.monotonic()
        self.worst_ms = max(self.worst_ms, (now - self.last) * 1000 - 10)
        self.last = now
        self.ticks += 1

    def stop(self) -> None:
        self.timer.stop()


@pytest.mark.alone  # times the GUI thread's pauses
def test_login_with_a_slow_mail_server_keeps_the_dialog_responsive(
    qtbot: QtBot, tasks: TaskManager, login_app: App, slow_smtp_server: SmtpServer
) -> None:
    app = login_app
    use_mail_server(app, smtp_settings(slow_smtp_server.port))
    dialog = login_dialog(qtbot, app, tasks, slow_smtp_server.client_context)
    probe = LatenessProbe()
    # What earlier tests left in this process is not the login's: the GUI thread's full
    # collection (pmdesk.ui.main_thread_gc) walks every object, and late in a worker's life that
    # took ~0.5 s once, a pause a fresh app never has. Freeze it out of the collector.
    gc.collect()
    gc.freeze()
    try:
        probe.start()
        started = time.monotonic()
        sign_in(qtbot, dialog)
        assert dialog.busy.running and dialog.cancel_button.isEnabled()
        qtbot.waitUntil(
            lambda: dialog.step == dialog.CODE and not dialog.busy.running, timeout=20_000
        )
        took = time.monotonic() - started
        probe.stop()
    finally:
        gc.unfreeze()

    assert took >= SLOW_SMTP_DELAY_S, "the mail server really took its time"
    assert probe.ticks >= took * 1000 / 10 * 0.5, "the timer kept ticking"
    assert probe.worst_ms < 200, f"the GUI froze for {probe.worst_ms:.0f} ms"
    assert dialog.sent_label.text() == "A security code was sent to j***@insypro.com."
    assert not dialog.message.isVisible() or dialog.message.role != "error"
    assert len(slow_smtp_server.received) == 1
    qtbot.keyClicks(dialog.code_edit, slow_smtp_server.received[0].code)
    with qtbot.waitSignal(dialog.signed_in, timeout=20_000):
        qtbot.mouseClick(dialog.login_button, Qt.MouseButton.LeftButton)
    assert lock_state(app) == (0, None)


# ----- 5. Security: no keyring when the SMTP password is saved -------------------------------


def test_saving_the_smtp_password_without_a_keyring(
    qtbot: QtBot,
    tasks: TaskManager,
    sqlite_db: Database,
    clock: ShiftedClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keyrings = SwitchableKeyring()
    monkeypatch.setattr(keyring, "get_keyring", keyrings)
    app = gui_app(sqlite_db, clock, tmp_path, secrets=KeyringStore())
    window = open_window(qtbot, app, admin_session(app), tasks)
    try:
        page = window.show_page("security")
        assert isinstance(page, SecurityPage)
        qtbot.waitUntil(lambda: security_idle(page), timeout=20_000)
        box = page.mail_box
        box.method_combo.setCurrentIndex(box.method_combo.findData("smtp"))
        qtbot.keyClicks(box.edits["smtp_host"], "mail.example.com")
        qtbot.keyClicks(box.edits["smtp_username"], "codes")
        qtbot.keyClicks(box.edits["smtp_password"], "s3cret-pass")
        qtbot.keyClicks(box.edits["smtp_from"], "pmdesk@example.com")
        typed = box.delivery()
        qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: security_idle(page) and box.message.isVisible(), timeout=20_000)

        # The settings are saved (they are in the database, not the keyring) and it says so;
        # the password is not, and it says so at the password field, which keeps it.
        saved = SecurityService(app.context).get(SYSTEM).delivery
        assert (saved.method, saved.smtp_host, saved.smtp_username, saved.smtp_from) == (
            "smtp",
            "mail.example.com",
            "codes",
            "pmdesk@example.com",
        )
        assert box.message.role == "error"
        plain_sentence(box.message.text())
        assert box.message.text() == (
            "Settings saved, but the password was not stored in the keyring; it is still in its "
            "field. Save again once the keyring works."
        )
        error = box.field_error("smtp_password")
        assert "No secure system keyring is available" in error, error
        assert on_screen(box.boxes["smtp_password"].error)
        assert box.edits["smtp_password"].text() == "s3cret-pass", "the typed password is kept"
        assert box.delivery() == replace(typed, smtp_host="mail.example.com")
        assert box.save_button.isEnabled(), "Save tries the keyring again"
        assert keyrings.working.values == {}

        # A keyring is installed (or unlocked): Save again stores the password.
        keyrings.missing = False
        qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda: security_idle(page) and box.message.role == "success", timeout=20_000
        )
        assert keyrings.working.values == {
            ("pmdesk", smtp_key("mail.example.com", "codes")): "s3cret-pass"
        }
        assert box.field_error("smtp_password") == ""
        assert box.edits["smtp_password"].text() == ""
        assert (
            box.edits["smtp_password"].placeholderText() == "stored in the keyring; type to replace"
        )
        assert not page.has_unsaved_changes()
    finally:
        close_window(window, tasks)


# ----- 6. kill -9 of the app process while its expiry sweep runs -------------------------------

# The real desktop app (the Launcher that ``pmdesk`` runs), offscreen, signed in by typing into
# its login dialog; it says "signed-in" once its background services run.
_APP = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QTimer
    from pmdesk.secrets import MemoryStore
    from pmdesk.ui.app import Launcher
    from pmdesk.ui.application import application, configure_application

    url, login, password = sys.argv[1:4]
    qt = application()
    configure_application(qt)
    qt.setQuitOnLastWindowClosed(False)
    launcher = Launcher(url, secrets=MemoryStore(), check_keyring=False)
    launcher.finished.connect(qt.exit)

    def type_credentials():
        launcher.login.username_edit.setText(login)
        launcher.login.password_edit.setText(password)
        launcher.login.login_button.click()

    def watch():
        window = launcher.window
        if window is not None and window.background is not None and window.background.running:
            print("signed-in", flush=True)
            timer.stop()

    timer = QTimer()
    timer.timeout.connect(watch)
    timer.start(10)
    launcher.database_ready.connect(type_credentials)
    QTimer.singleShot(0, launcher.start)
    sys.exit(qt.exec())
    """
)
EXPIRED = 20_000
FRESH = 500


def seed_for_the_sweep(db: Database) -> None:
    with db.session() as s:
        now = DatabaseClock().now(s)
        s.execute(
            insert(Person),
            [{"last_name": f"Owner {n}", "created_at": now, "updated_at": now} for n in range(20)],
        )
        owners = list(s.execute(select(Person.id).where(Person.login.is_(None))).scalars())
    rows = [
        {
            "person_id": owners[n % len(owners)],
            "address": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
            "created_at": now - timedelta(days=31 if n < EXPIRED else 1, minutes=n),
        }
        for n in range(EXPIRED + FRESH)
    ]
    with db.session() as s:
        s.execute(insert(TrustedIp), rows)


def sweep_state(db: Database) -> tuple[int, int, int]:
    """(expired rows left, fresh rows left, 'ip.expired' audit rows)."""
    with db.session() as s:
        cutoff = DatabaseClock().now(s) - timedelta(days=30)
        left = s.execute(
            select(func.count()).select_from(TrustedIp).where(TrustedIp.created_at <= cutoff)
        ).scalar_one()
        fresh = s.execute(
            select(func.count()).select_from(TrustedIp).where(TrustedIp.created_at > cutoff)
        ).scalar_one()
        audited = s.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == Event.IP_EXPIRED.value)
        ).scalar_one()
    return int(left), int(fresh), int(audited)


@pytest.mark.slow
def test_kill_9_of_the_app_during_its_expiry_sweep(sqlite_db: Database, tmp_path: Path) -> None:
    ctx = CoreContext(db=sqlite_db, secrets=MemoryStore(), outbox_default=tmp_path / "outbox")
    add_user(ctx, ADMIN_LOGIN, ADMIN_PASSWORD, email=ADMIN_EMAIL)
    seed_for_the_sweep(sqlite_db)
    url = sqlite_db.url.render_as_string(hide_password=False)
    app = subprocess.Popen(
        [sys.executable, "-c", _APP, url, ADMIN_LOGIN, ADMIN_PASSWORD],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert app.stdout is not None
        assert app.stdout.readline().strip() == "signed-in", app.communicate(timeout=30)[1]
        deadline = time.monotonic() + 60
        while sweep_state(sqlite_db)[0] > EXPIRED * 0.6 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        os.kill(app.pid, signal.SIGKILL)
        _, err = app.communicate(timeout=30)
    assert app.returncode == -signal.SIGKILL, err

    with sqlite_db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalars().all() == ["ok"]
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    left, fresh, audited = sweep_state(sqlite_db)
    assert 0 < left < EXPIRED, "killed in the middle of the sweep"
    assert fresh == FRESH, "nothing still valid was removed"
    assert audited == EXPIRED - left, "every removed address has its audit row, and no more"

    # The next start's sweep finishes the job, each address audited exactly once.
    assert TrustedIpService(ctx).expire() == left
    assert sweep_state(sqlite_db) == (0, FRESH, EXPIRED)
