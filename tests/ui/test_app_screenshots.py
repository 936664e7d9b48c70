"""Every screen rendered off screen (see tests/ui/screenshots.py): it paints, nothing is clipped.

With ``PMDESK_SCREENSHOTS=1`` the PNGs land in docs/screenshots/ for a human to look at.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QDialog, QLabel, QScrollArea, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from pmdesk.bootstrap import App
from pmdesk.core.auth import CodeNeeded, LoginService
from pmdesk.core.context import Actor
from pmdesk.core.db import Database
from pmdesk.core.models import Person
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.ui.first_run import FirstRunDialog
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.personnel.address import AddressDialog
from pmdesk.ui.personnel.view import PersonnelPage
from pmdesk.ui.tasks import TaskManager
from tests.helpers.login import cheap_passwords
from tests.ui.screenshots import capture, fill_in_login, open_helpdesk_code, screenshot_dir, settle

PEOPLE = [
    ("Smets", "Jean-Marie", "E0001", "jm@insypro.com"),
    ("Peeters", "Sofie", "E0002", "sofie.peeters@garage-peeters.be"),
    ("Janssens", "Luc", "E0003", "luc@janssens.be"),
    ("Maes", "An", "E0004", ""),
    ("Dubois", "Camille", "E0005", "camille.dubois@example.be"),
    ("Wouters", "Koen", "E0006", "koen.wouters@example.be"),
    ("Lambert", "Julie", "E0007", "julie@lambert.be"),
    ("De Smet", "Pieter", "E0008", "pieter.desmet@example.be"),
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return screenshot_dir(tmp_path / "screenshots")


def _not_clipped(widget: QWidget) -> None:
    """Every visible label fits inside its top-level window."""
    top = widget.window()
    bounds = QRect(QPoint(0, 0), top.size())
    for label in widget.findChildren(QLabel):
        if not label.isVisibleTo(top) or not label.text():
            continue
        where = QRect(label.mapTo(top, QPoint(0, 0)), label.size())
        assert bounds.contains(where), f"{label.text()[:40]!r} sticks out of {top.objectName()}"


def _add_people(app: App) -> None:
    service = PersonnelService(app.context)
    actor = Actor.system("screenshots")
    for last, first, number, email in PEOPLE:
        service.create(
            actor,
            PersonForm(last_name=last, first_name=first, number=number, email=email, group_id=1),
        )


def test_login_dialog_and_code_step(
    qtbot: QtBot, ui_app: App, admin_id: int, tasks: TaskManager, folder: Path
) -> None:
    dialog = LoginDialog(tasks)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    capture(dialog, "login-opening", folder)
    delivery = fill_in_login(dialog, ui_app)
    _not_clipped(dialog)
    capture(dialog, "login", folder)
    dialog.login_button.click()
    qtbot.waitUntil(lambda: dialog.step == dialog.CODE and not dialog.busy.running)
    dialog.code_edit.setText("123")
    _not_clipped(dialog)
    capture(dialog, "login-code", folder)
    assert isinstance(dialog._challenge, CodeNeeded)
    dialog.code_edit.setText("000000" if delivery.last_code != "000000" else "111111")
    dialog.login_button.click()
    qtbot.waitUntil(lambda: dialog.message.isVisible() and not dialog.busy.running)
    _not_clipped(dialog)
    capture(dialog, "login-code-wrong", folder)


def test_login_refused(
    qtbot: QtBot, ui_app: App, admin_id: int, tasks: TaskManager, folder: Path
) -> None:
    dialog = LoginDialog(tasks)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_backend(LoginService(ui_app.context, passwords=cheap_passwords()))
    dialog.username_edit.setText("jsmets")
    dialog.password_edit.setText("wrong password")
    dialog.login_button.click()
    qtbot.waitUntil(lambda: dialog.message.isVisible() and not dialog.busy.running)
    _not_clipped(dialog)
    capture(dialog, "login-refused", folder)


def test_first_run(qtbot: QtBot, ui_app: App, tasks: TaskManager, folder: Path) -> None:
    dialog = FirstRunDialog(ui_app.context, 1, tasks, passwords=cheap_passwords())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    capture(dialog, "first-run", folder)
    dialog.editor("login").setText("jsmets")
    dialog.editor("email").setText("jm@insypro")
    dialog.editor("password").setText("short")
    dialog.editor("password_confirm").setText("shorter")
    dialog.submit()
    assert dialog.fields["email"].error.isVisibleTo(dialog)
    # The dialog grows by itself to show the messages (adjustSize would shrink it to Qt's
    # two thirds of the screen, and the fields would scroll).
    _not_clipped(dialog)
    capture(dialog, "first-run-errors", folder)


def test_main_window_with_personnel(
    qtbot: QtBot, main_window: MainWindow, ui_app: App, folder: Path
) -> None:
    _add_people(ui_app)
    page = main_window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    page.refresh()
    qtbot.waitUntil(lambda: page.model.total == len(PEOPLE) + 1 and not page.model.loading)
    page.table.selectRow(1)
    qtbot.waitUntil(lambda: page.editor.record is not None and not page.busy.running)
    capture(main_window, "main-window-personnel", folder)
    page.editor.edits["email"].setText("not an address")
    page.editor.edits["email"].textEdited.emit("not an address")
    page.save()
    qtbot.waitUntil(lambda: bool(page.editor.field_error("email")))
    capture(main_window, "personnel-invalid-email", folder)


@pytest.mark.not_hardened(
    "for the picture, locks the account of the administrator who is signed in; a locked "
    "person's sessions end, on a hardened server at once, so there the screen is signed out"
)
def test_personnel_security_box(
    qtbot: QtBot, main_window: MainWindow, ui_app: App, owner_db: Database, folder: Path
) -> None:
    _add_people(ui_app)
    service = PersonnelService(ui_app.context)
    target = service.find_by_login("jsmets")
    assert target is not None
    with owner_db.session() as s:  # a lockout, as the sign-in's own function records it
        now = ui_app.context.clock.now(s)
        person = s.get(Person, target.id)
        assert person is not None
        person.locked_until = now + timedelta(minutes=4)
        person.failed_logins = 10
    trusted = TrustedIpService(ui_app.context)
    trusted.trust_by_admin(Actor.system("screenshots"), target.id, "83.134.100.157")
    trusted.trust_by_admin(Actor.system("screenshots"), target.id, "192.0.2.44")
    page = main_window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    page.refresh()
    page.open_person(target.id)
    qtbot.waitUntil(lambda: page.editor.record is not None and not page.busy.running)
    scroll = page.findChild(QScrollArea, "editorScroll")
    assert scroll is not None
    settle()
    scroll.verticalScrollBar().setValue(scroll.verticalScrollBar().maximum())
    capture(main_window, "personnel-security", folder)
    page.editor.edit_address()
    dialog = page.editor.findChild(AddressDialog)
    assert dialog is not None
    qtbot.waitExposed(dialog)
    _not_clipped(dialog)
    capture(dialog, "personnel-address", folder)
    dialog.reject()


def test_conflict_message(
    qtbot: QtBot, main_window: MainWindow, ui_app: App, admin_id: int, folder: Path
) -> None:
    _add_people(ui_app)
    page = main_window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    target = PersonnelService(ui_app.context).find_by_login("jsmets")
    assert target is not None
    page.refresh()
    page.open_person(target.id)
    qtbot.waitUntil(lambda: page.editor.record is not None and not page.busy.running)
    page.editor.edits["phone"].setText("+32 9 234 56 78")
    page.editor.edits["number"].setText("A-17")
    service = PersonnelService(ui_app.context)
    other = service.get(Actor.system("other workstation"), target.id)
    service.update(
        Actor.system("other workstation"),
        target.id,
        other.version,
        PersonForm(**{**other.form.__dict__, "number": "B-99", "mobile": "+32 470 12 34 56"}),
    )
    page.editor.changed.emit()
    page.save()
    qtbot.waitUntil(lambda: page.conflict_dialog is not None)
    dialog = page.conflict_dialog
    assert isinstance(dialog, QDialog)
    qtbot.waitExposed(dialog)
    capture(dialog, "personnel-conflict", folder)
    capture(main_window, "personnel-conflict-window", folder)
    dialog.reject()


def test_personnel_helpdesk_code(
    qtbot: QtBot, main_window: MainWindow, ui_app: App, owner_db: Database, folder: Path
) -> None:
    """The helpdesk code dialog: its question with the reason missing, the code shown once,
    and the form at 1024×768 saying a code is live."""
    _add_people(ui_app)
    target = PersonnelService(ui_app.context).find_by_login("jsmets")
    with owner_db.session() as s:
        sofie = s.execute(select(Person).where(Person.last_name == "Peeters")).scalar_one()
        sofie.login, sofie.login_key = "speeters", "speeters"
        sofie_id = sofie.id
    assert target is not None
    main_window.resize(1024, 768)
    page = main_window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    page.refresh()
    page.open_person(sofie_id)
    qtbot.waitUntil(lambda: page.editor.record is not None and not page.busy.running)
    row = page.editor.helpdesk_row
    dialog = open_helpdesk_code(qtbot, page)
    dialog.issue_button.click()
    qtbot.waitUntil(lambda: dialog.boxes["reason"].error.isVisible())
    _not_clipped(dialog)
    capture(dialog, "personnel-helpdesk-code-reason", folder)
    dialog.reason_edit.setText("Ticket 4711: phone lost on a customer visit")
    dialog.issue_button.click()
    qtbot.waitUntil(lambda: dialog.pages.currentIndex() == 1)
    _not_clipped(dialog)
    capture(dialog, "personnel-helpdesk-code", folder)
    dialog.close_button.click()
    qtbot.waitUntil(
        lambda: (
            row.state_label.text().startswith("A helpdesk code is live") and not page.busy.running
        )
    )
    scroll = page.findChild(QScrollArea, "editorScroll")
    assert scroll is not None
    settle()
    scroll.ensureWidgetVisible(row)
    capture(main_window, "personnel-helpdesk-code-live", folder)
