"""Issue 12, 5f in the desktop app: an address that can never be trusted disables "Trust this
IP" in the login dialog and says why; System → Security edits the never-trusted list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from pmdesk.bootstrap import App
from pmdesk.core.auth import CodeNeeded, LoginService, SignedIn
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor
from pmdesk.core.db import Database
from pmdesk.core.models import TrustedIp
from pmdesk.core.security import SecurityService
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.system.security import SecurityPage
from pmdesk.ui.tasks import TaskManager
from tests.helpers.login import CollectingDelivery, add_user, cheap_passwords, set_security
from tests.ui.conftest import click_check, make_app
from tests.ui.system_pages import open_page

PASSWORD = "anne's long secret"
LOOPBACK_REASON = (
    "127.0.0.1 is a loopback address, shared by everyone who reaches the database through "
    "this computer (localhost, an SSH tunnel or a connection pooler), so it is never trusted "
    "on a shared database."
)


def _needed(trust_refused: str | None) -> CodeNeeded:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    return CodeNeeded(
        challenge_id="c" * 43,
        destination="a***@insypro.com",
        expires_at=now + timedelta(minutes=10),
        valid_seconds=600,
        resend_after=now,
        delivery_error=None,
        attempts_left=5,
        trust_refused=trust_refused,
    )


class FakeBackend:
    """Answers like LoginService; remembers what verify was asked."""

    def __init__(self, *answers: CodeNeeded) -> None:
        self.answers = list(answers)
        self.verified: list[bool] = []

    def begin(self, login: str, password: str) -> Any:
        return self.answers.pop(0)

    def resend(self, challenge_id: str) -> Any:
        return self.answers.pop(0)

    def delivery_warning(self) -> str | None:
        return None

    def verify(self, challenge_id: str, code: str, trust_this_ip: bool) -> Any:
        self.verified.append(trust_this_ip)
        return SignedIn(
            person_id=1,
            login="anne",
            display_name="Anne Maes",
            actor=Actor(name="anne", person_id=1),
            trusted_address=False,
            address="127.0.0.1",
        )


@pytest.fixture
def dialog(qtbot: QtBot, tasks: TaskManager) -> LoginDialog:
    login = LoginDialog(tasks)
    qtbot.addWidget(login)
    login.show()
    qtbot.waitExposed(login)
    return login


def _to_code_step(qtbot: QtBot, dialog: LoginDialog) -> None:
    qtbot.keyClicks(dialog.username_edit, "anne")
    qtbot.keyClicks(dialog.password_edit, PASSWORD)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.step == dialog.CODE and not dialog.busy.running, timeout=20_000)


def _shows_refusal(dialog: LoginDialog, reason_part: str) -> None:
    check = dialog.trust_check
    assert not check.isEnabled() and not check.isChecked()
    assert dialog.trust_hint.isVisible()
    assert dialog.trust_hint.text().startswith("Not available: ")
    assert reason_part in dialog.trust_hint.text()
    assert reason_part in check.accessibleDescription()


def test_the_trust_box_is_disabled_with_the_reason(qtbot: QtBot, dialog: LoginDialog) -> None:
    backend = FakeBackend(_needed(LOOPBACK_REASON), _needed(None))
    dialog.set_backend(backend)
    _to_code_step(qtbot, dialog)
    _shows_refusal(dialog, "loopback address")
    assert "never at home" not in dialog.trust_hint.text()

    # Clicking it does nothing; typing a code signs in without asking to trust.
    click_check(qtbot, dialog.trust_check)
    assert not dialog.trust_check.isChecked()
    qtbot.keyClicks(dialog.code_edit, "123456")
    with qtbot.waitSignal(dialog.signed_in, timeout=20_000):
        qtbot.keyClick(dialog.code_edit, Qt.Key.Key_Return)
    assert backend.verified == [False]
    # After the busy spell the box stays disabled (it was not re-enabled with the other fields).
    assert not dialog.trust_check.isEnabled()


def test_a_trustable_address_keeps_the_box_and_its_hint(qtbot: QtBot, dialog: LoginDialog) -> None:
    dialog.set_backend(FakeBackend(_needed(None)))
    _to_code_step(qtbot, dialog)
    assert dialog.trust_check.isEnabled()
    assert "never at home" in dialog.trust_hint.text()
    assert "never at home" in dialog.trust_check.accessibleDescription()


@pytest.fixture
def engine_app(db: Database, clock: ShiftedClock, tmp_path: Path) -> Iterator[App]:
    """An App on each engine, a person with 2FA on; on SQLite (the machine's own address) the
    address is put on the never-trusted list, the test servers are reached over loopback."""
    app = make_app(db, clock, tmp_path)
    add_user(app.context, "anne", PASSWORD, email="anne@insypro.com", last_name="Maes")
    set_security(app.context, two_factor_enabled=True)
    if db.is_sqlite:
        with db.session() as s:
            seen = db.client_address(s)
        set_security(app.context, never_trusted_addresses=seen)
    yield app


def test_the_real_login_disables_the_box_on_every_engine(
    qtbot: QtBot, dialog: LoginDialog, engine_app: App
) -> None:
    delivery = CollectingDelivery()
    dialog.set_backend(
        LoginService(
            engine_app.context,
            delivery_factory=delivery.factory,
            passwords=cheap_passwords(),
            workstation="ws-ui-test",
        )
    )
    _to_code_step(qtbot, dialog)
    _shows_refusal(dialog, "never trusted")
    qtbot.keyClicks(dialog.code_edit, delivery.last_code)
    with qtbot.waitSignal(dialog.signed_in, timeout=20_000) as signal:
        qtbot.keyClick(dialog.code_edit, Qt.Key.Key_Return)
    assert isinstance(signal.args[0], SignedIn)
    with engine_app.db.session() as s:
        assert s.execute(select(func.count(TrustedIp.id))).scalar_one() == 0


# ----- System → Security ------------------------------------------------------------------------


@pytest.fixture
def page(qtbot: QtBot, main_window: MainWindow) -> SecurityPage:
    widget = open_page(qtbot, main_window, "security")
    assert isinstance(widget, SecurityPage)
    qtbot.waitUntil(lambda: widget.tasks.is_idle() and widget.loaded)
    return widget


def test_the_never_trusted_list_is_edited_next_to_the_trust_period(
    qtbot: QtBot, page: SecurityPage, ui_app: App
) -> None:
    edit = page.trust.never_trusted_edit
    assert edit.isEnabled() and edit.text() == ""
    assert "Proxies and connection poolers" in edit.accessibleDescription()

    # A bad entry: the error is under the field, naming it, and nothing is saved.
    qtbot.keyClicks(edit, "10.0.0.5, proxy.local")
    assert page.has_unsaved_changes() and page.trust.trust_save_button.isEnabled()
    qtbot.mouseClick(page.trust.trust_save_button, Qt.MouseButton.LeftButton)
    error = page.trust.never_trusted_box.error
    qtbot.waitUntil(lambda: error.isVisible() and page.tasks.is_idle())
    assert "'proxy.local' is not an IP address" in error.text()
    assert SecurityService(ui_app.context).get(Actor.system("t")).never_trusted_addresses == ""

    # Typing clears the error; a valid list is saved in its canonical form.
    edit.clear()
    qtbot.keyClicks(edit, "10.0.0.5 10.1.0.0/24")
    assert not error.isVisible()
    qtbot.mouseClick(page.trust.trust_save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.trust.trust_message.text() == "Saved." and page.tasks.is_idle())
    saved = SecurityService(ui_app.context).get(Actor.system("t")).never_trusted_addresses
    assert saved == "10.0.0.5, 10.1.0.0/24"
    assert edit.text() == saved
    assert not page.has_unsaved_changes()
