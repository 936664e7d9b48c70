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
from pmdesk.core.db import Database
from pmdesk.core.helpdesk import REASON_REQUIRED
from pmdesk.core.models import AuditEvent, HelpdeskCode, Person
from pmdesk.core.validation import login_key
from pmdesk.ui.personnel.helpdesk_dialog import HelpdeskCodeDialog
from pmdesk.ui.personnel.view import PersonnelPage
from tests.helpers.qt import answer, personnel_idle
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
