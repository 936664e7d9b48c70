"""Personnel → "Issue helpdesk code…" (issue 16 §3), driven as a user would: the reason is
required (said next to the field, nothing typed lost), the code is shown once in grouped digits
with a Copy button and forgotten on close, the form says a code is live, and Cancel code."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from pmdesk.bootstrap import App
from pmdesk.core.auth import SignedIn
from pmdesk.core.context import Actor
from pmdesk.core.db import Database
from pmdesk.core.helpdesk import REASON_REQUIRED, HelpdeskCodeService
from pmdesk.core.models import AuditEvent, HelpdeskCode, Person
from pmdesk.core.validation import login_key
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.personnel.helpdesk_dialog import HelpdeskCodeDialog
from pmdesk.ui.personnel.view import PersonnelPage
from tests.helpers.login import CollectingDelivery, add_user, enable_two_factor
from tests.helpers.qt import answer, personnel_idle
from tests.ui.conftest import ADMIN_LOGIN
from tests.ui.test_login import delivery as delivery
from tests.ui.test_login import dialog as dialog
from tests.ui.test_login import monotonic as monotonic
from tests.ui.test_personnel import _open
from tests.ui.test_personnel import page as page  # the fixtures, reused
from tests.ui.test_personnel import staff as staff


def _give_login(owner_db: Database, person_id: int, login: str) -> None:
    with owner_db.session() as s:
        person = s.get(Person, person_id)
        assert person is not None
        person.login, person.login_key = login, login_key(login)


def _codes(owner_db: Database) -> list[HelpdeskCode]:
    with owner_db.session() as s:
        return list(s.execute(select(HelpdeskCode)).scalars())


def _dialog(qtbot: QtBot, page: PersonnelPage) -> HelpdeskCodeDialog:
    row = page.editor.helpdesk_row
    qtbot.mouseClick(row.issue_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.person_actions.code_dialog is not None)
    dialog = page.person_actions.code_dialog
    assert dialog is not None
    qtbot.waitExposed(dialog)
    return dialog


def test_issue_show_once_copy_and_cancel(
    qtbot: QtBot, page: PersonnelPage, ui_app: App, owner_db: Database, staff: dict[str, int]
) -> None:
    _give_login(owner_db, staff["Peeters"], "sofie")
    _open(qtbot, page, "Peeters")
    row = page.editor.helpdesk_row
    assert row.isVisibleTo(page.editor)
    assert row.state_label.text() == "No helpdesk code."
    assert not row.cancel_button.isVisibleTo(page.editor)

    dialog = _dialog(qtbot, page)
    dialog.minutes_spin.setValue(30)
    qtbot.keyClicks(dialog.reason_edit, "   ")
    qtbot.mouseClick(dialog.issue_button, Qt.MouseButton.LeftButton)
    reason_error = dialog.boxes["reason"].error
    qtbot.waitUntil(lambda: reason_error.isVisible() and page.tasks.is_idle())
    assert reason_error.text() == REASON_REQUIRED
    assert dialog.minutes_spin.value() == 30 and dialog.pages.currentIndex() == 0
    assert _codes(owner_db) == []

    dialog.reason_edit.clear()
    qtbot.keyClicks(dialog.reason_edit, "Ticket 4711: phone lost")
    qtbot.mouseClick(dialog.issue_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 1)
    shown = dialog.code_label.text()
    assert re.fullmatch(r"[0-9]{4} [0-9]{4} [0-9]{4}", shown), shown
    assert dialog.expiry_label.text().startswith("Valid once, until ")
    assert "not shown again" in dialog.expiry_label.text()
    [stored] = _codes(owner_db)
    assert stored.reason == "Ticket 4711: phone lost"
    assert shown.replace(" ", "") not in stored.code_hash
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == shown.replace(" ", "")

    qtbot.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)
    assert dialog.code_label.text() == ""  # forgotten
    qtbot.waitUntil(
        lambda: (
            row.state_label.text().startswith("A helpdesk code is live until")
            and personnel_idle(page)
        )
    )
    assert "Ticket 4711: phone lost" in row.state_label.text()
    assert row.cancel_button.isVisibleTo(page.editor)
    with owner_db.session() as s:
        logged = " ".join(e.detail for e in s.execute(select(AuditEvent)).scalars())
    assert shown.replace(" ", "") not in logged

    qtbot.mouseClick(row.cancel_button, Qt.MouseButton.LeftButton)
    answer(qtbot, page, "Cancel code")
    qtbot.waitUntil(lambda: row.state_label.text() == "No helpdesk code." and personnel_idle(page))
    assert page.editor.message.text() == "The helpdesk code of Sofie Peeters is cancelled."
    assert _codes(owner_db) == []


def test_no_row_for_a_person_without_login_nor_for_oneself_to_issue(
    qtbot: QtBot, page: PersonnelPage, staff: dict[str, int]
) -> None:
    _open(qtbot, page, "Maes")  # no login: a code would be of no use
    assert not page.editor.helpdesk_row.isVisibleTo(page.editor)
    _open(qtbot, page, "Smets")  # the signed-in administrator: never for oneself
    row = page.editor.helpdesk_row
    assert row.isVisibleTo(page.editor)
    assert not row.issue_button.isVisibleTo(page.editor)


def test_the_login_dialog_takes_the_helpdesk_code_when_mail_fails(
    qtbot: QtBot, dialog: LoginDialog, ui_app: App, admin_id: int, delivery: CollectingDelivery
) -> None:
    """The mail server refuses (on the hardened leg the relay sends, which changes nothing
    here): the code step still comes, says to enter the helpdesk's code, and takes it grouped."""
    enable_two_factor(ui_app.context)
    sofie = add_user(ui_app.context, "sofie", "a long enough secret")
    issued = HelpdeskCodeService(ui_app.context).issue(
        Actor(name=ADMIN_LOGIN, person_id=admin_id), sofie, "Ticket 4711"
    )
    delivery.fail_with = "The mail server refused the message."
    qtbot.keyClicks(dialog.username_edit, "sofie")
    qtbot.keyClicks(dialog.password_edit, "a long enough secret")
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.step == dialog.CODE and not dialog.busy.running, timeout=20_000)
    assert dialog.sent_label.text().endswith("nter the code the helpdesk gave you.")
    assert dialog.code_edit.placeholderText() == "6 or 12 digits"  # not "6-digit code"
    qtbot.keyClicks(dialog.code_edit, issued.grouped)  # typed in its groups: spaces go
    assert dialog.code_edit.text() == issued.code
    with qtbot.waitSignal(dialog.signed_in, timeout=20_000) as signal:
        qtbot.keyClick(dialog.code_edit, Qt.Key.Key_Return)
    result = signal.args[0] if signal.args else None
    assert isinstance(result, SignedIn) and result.person_id == sofie
