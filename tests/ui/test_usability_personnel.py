"""Issue 19, the Personnel and first-run items: lists that follow changes (2), Personnel's
starting state (14), the Access line (15), combo texts that fit (23), wording (25) and a way back
to setup after cancelling first run (26). First-run errors (7) are in test_first_run.py, tab
order (9) in test_tab_order.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QStyle,
    QStyleOptionComboBox,
    QWidget,
)
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.db import sqlite_url
from pmdesk.core.errors import ValidationError
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.secrets import MemoryStore
from pmdesk.ui.app import Launcher
from pmdesk.ui.first_run import FirstRunDialog
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.page_context import Session
from pmdesk.ui.personnel.address import AddressDialog
from pmdesk.ui.personnel.form import PersonEditor
from pmdesk.ui.personnel.view import PersonnelPage
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.window_geometry import DEFAULT_SIZE
from tests.helpers.login import cheap_passwords
from tests.helpers.qt import personnel_idle
from tests.helpers.staff import add_group
from tests.ui.conftest import add_login
from tests.ui.test_personnel import STAFF, _add_staff, _open


def _label_of(form_owner: QWidget, field: QWidget) -> str:
    for label in form_owner.findChildren(QLabel):
        if label.buddy() is field:
            return label.text()
    return ""


# ----- 25: wording -------------------------------------------------------------------------


def test_wording_is_the_same_everywhere(
    qtbot: QtBot, ui_app: App, tasks: TaskManager, main_window: MainWindow
) -> None:
    login = LoginDialog(tasks)
    qtbot.addWidget(login)
    first_run = FirstRunDialog(ui_app.context, 1, tasks, passwords=cheap_passwords())
    qtbot.addWidget(first_run)
    # One name for the login name: "Login", as Personnel's field and first run call it.
    assert _label_of(login, login.username_edit) == "Login"
    assert _label_of(first_run, first_run.editor("login")) == "Login"
    # The platform adds the application's name to a window title: titles do not repeat it.
    for window in (login, first_run, main_window):
        assert "pmdesk" not in window.windowTitle(), window.windowTitle()
    # Field names are not capitalised in the middle of a sentence.
    try:
        PersonnelService(ui_app.context).validate(
            PersonForm(login="someone", password="a long secret", password_confirm="x"),
            creating=True,
        )
    except ValidationError as exc:
        errors = exc.errors
    assert errors["last_name"] == "Enter a last name or a forename."
    for message in errors.values():
        for word in ("Lastname", "Forename", "Usergroup"):
            assert word not in message.split(" ", 1)[-1], message


# ----- 26: a way back to setup -------------------------------------------------------------


def test_cancelled_first_run_can_be_opened_again_from_the_login_dialog(
    qtbot: QtBot, tasks: TaskManager, tmp_path: Path
) -> None:
    (tmp_path / "first.sqlite3").touch()
    launcher = Launcher(
        str(sqlite_url(tmp_path / "first.sqlite3")), secrets=MemoryStore(), tasks=tasks
    )
    qtbot.addWidget(launcher.login)
    launcher.start()
    qtbot.waitUntil(lambda: launcher.first_run is not None, timeout=20_000)
    first = launcher.first_run
    assert first is not None
    login = launcher.login
    assert not login.setup_button.isVisible()
    qtbot.mouseClick(first.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: launcher.first_run is None)
    assert login.setup_button.isVisible()
    assert "Set up pmdesk" in login.message.text()
    login.grab().save(str(tmp_path / "login-setup.png"))

    qtbot.mouseClick(login.setup_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: launcher.first_run is not None and launcher.first_run.isVisible())
    assert not login.setup_button.isVisible()
    again = launcher.first_run
    assert again is not None
    values = {
        "login": "jsmets",
        "last_name": "Smets",
        "password": "a long secret",
        "password_confirm": "a long secret",
    }
    for name, value in values.items():
        qtbot.keyClicks(again.editor(name), value)
    with qtbot.waitSignal(again.created, timeout=20_000):
        qtbot.mouseClick(again.create_button, Qt.MouseButton.LeftButton)
    assert login.username_edit.text() == "jsmets"
    assert not login.setup_button.isVisible()
    tasks.cancel_all()
    tasks.wait()
    assert launcher.opened is not None
    launcher.opened.app.db.dispose()


# ----- Personnel ---------------------------------------------------------------------------


@pytest.fixture
def staff(ui_app: App, admin_id: int) -> dict[str, int]:
    ids = _add_staff(ui_app)
    ids["Smets"] = admin_id
    return ids


@pytest.fixture
def page(qtbot: QtBot, staff: dict[str, int], main_window: MainWindow) -> PersonnelPage:
    widget = main_window.show_page("personnel")
    assert isinstance(widget, PersonnelPage)
    qtbot.waitUntil(lambda: personnel_idle(widget) and widget.model.total == len(STAFF))
    return widget


def _combo_text_room(combo: QComboBox) -> int:
    option = QStyleOptionComboBox()
    combo.initStyleOption(option)
    field = combo.style().subControlRect(
        QStyle.ComplexControl.CC_ComboBox, option, QStyle.SubControl.SC_ComboBoxEditField, combo
    )
    return field.width()


def test_no_combo_text_is_cut_off_at_the_default_size(qtbot: QtBot, page: PersonnelPage) -> None:
    """Item 23: "select a usergrou" was cut off (at the default size and the smallest)."""
    editor = page.editor
    window = page.window()
    for size in (DEFAULT_SIZE, (1024, 768)):
        window.resize(*size)
        qtbot.wait(50)
        _combos_fit(editor)
    window.grab().save("/tmp/personnel-combos.png")


def _combos_fit(editor: PersonEditor) -> None:
    for name, combo in editor.combos.items():
        texts = [combo.itemText(i) for i in range(combo.count())]
        assert texts, name
        room = _combo_text_room(combo)
        if combo.width() < combo.sizeHint().width():
            # The offscreen screen (800 x 600) clamps the window: squeezed below its minimum
            # only there (item 5/6); check the width the combo asks for.
            combo.resize(combo.sizeHint())
            room = _combo_text_room(combo)
        for text in [*texts[:1], combo.currentText()]:
            width = combo.fontMetrics().horizontalAdvance(text)
            assert width <= room, (name, text, width, room)


def _group_names(page: PersonnelPage) -> list[str]:
    combo = page.editor.combos["group_id"]
    return [combo.itemText(i) for i in range(1, combo.count())]


class _FakeBackground(QObject):
    changed = Signal(object)

    def stop(self) -> None:
        pass


def test_usergroup_list_follows_new_groups(
    qtbot: QtBot, ui_app: App, staff: dict[str, int], admin_session: Session, tasks: TaskManager
) -> None:
    """Item 2: a group made in Permissions (or on another workstation) is offered at once."""
    main_window = MainWindow(ui_app, admin_session, tasks, passwords=cheap_passwords())
    qtbot.addWidget(main_window)
    background = _FakeBackground()
    main_window.background = background  # type: ignore[assignment]  # as the app does
    main_window.show()
    page = main_window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    qtbot.waitUntil(lambda: personnel_idle(page) and page.model.total == len(STAFF))
    assert "Workshop" not in _group_names(page)

    # Reload (F5) reloads the lists too.
    add_group(ui_app.db, "Workshop")
    qtbot.mouseClick(page.refresh_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Workshop" in _group_names(page))

    # Another workstation: the change listener names the table.
    add_group(ui_app.db, "Bodywork")
    background.changed.emit(frozenset({"user_groups"}))
    qtbot.waitUntil(lambda: "Bodywork" in _group_names(page))

    # Made here in System → Permissions, then back to Personnel.
    add_group(ui_app.db, "Paint shop")
    main_window.show_page("permissions")
    main_window.show_page("personnel")
    qtbot.waitUntil(lambda: "Paint shop" in _group_names(page))
    qtbot.waitUntil(lambda: personnel_idle(page))
    main_window.background = None
    main_window.close()


def test_access_flags_say_what_they_grant(page: PersonnelPage) -> None:
    """Item 15: one line next to Planning … Reception, unlike group rights."""
    hint = page.editor.access_hint
    assert hint.isVisible()
    assert "separate apps" in hint.text()
    assert "System → Permissions" in hint.text()
    for check in page.editor.flag_checks.values():
        assert check.accessibleDescription() == hint.text()
    page.editor.grab().save("/tmp/personnel-access.png")


# ----- 14: Personnel's starting state ------------------------------------------------------


def test_personnel_opens_on_the_first_person(qtbot: QtBot, page: PersonnelPage) -> None:
    """Not an empty "New person" form with Delete enabled."""
    editor = page.editor
    qtbot.waitUntil(lambda: editor.record is not None and personnel_idle(page))
    assert editor.record is not None
    assert editor.title_label.text() == "Camille Dubois"  # first by last name
    assert page.table.selectionModel().currentIndex().row() == 0
    assert page.delete_button.isEnabled()
    assert not page.empty_label.isVisible()
    assert editor.isVisible()


def test_new_person_password_boxes_say_what_they_are_for(qtbot: QtBot, page: PersonnelPage) -> None:
    editor = page.editor
    qtbot.mouseClick(page.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: editor.record is None)
    assert editor.title_label.text() == "New person"
    assert not page.delete_button.isEnabled()
    password, confirm = editor.edits["password"], editor.edits["password_confirm"]
    shown = [password.placeholderText(), confirm.placeholderText(), editor.password_hint.text()]
    for text in shown:
        assert "unchanged" not in text and "keep the current password" not in text, text
    assert password.placeholderText() == "at least 8 characters"
    assert "needs a password" in editor.password_hint.text()
    assert password.accessibleDescription() == editor.password_hint.text()
    page.grab().save("/tmp/personnel-new-person.png")

    # Someone with a password: empty keeps it, and the form says so.
    _open(qtbot, page, "Smets")
    assert password.placeholderText() == "unchanged"
    assert editor.password_hint.text().startswith("Leave empty to keep the current password.")
    # Someone without one: nothing to keep.
    _open(qtbot, page, "Maes")
    assert password.placeholderText() != "unchanged"
    assert editor.password_hint.text().startswith("No password yet")


def test_the_visible_tick_is_not_about_the_password(page: PersonnelPage) -> None:
    """Under Confirm, "Visible" read as "show the password". pmdesk only stores the flag: it
    neither hides anybody nor refuses a sign-in."""
    check = page.editor.visible_check
    assert check.text() == "Visible in the suite's apps"
    assert "nothing to do with the password" in check.toolTip()
    assert check.accessibleDescription() == check.toolTip()
    # Ticking it does not unmask the password.
    check.setChecked(not check.isChecked())
    assert page.editor.edits["password"].echoMode() == QLineEdit.EchoMode.Password
    assert page.editor.labels["visible"] == check.text()  # the conflict table says the same


def test_a_read_only_user_is_told_and_gets_no_editable_address_dialog(
    qtbot: QtBot,
    ui_app: App,
    staff: dict[str, int],
    tasks: TaskManager,
    session_for: Callable[[int, str, str], Session],
    main_window: MainWindow,
) -> None:
    # An administrator is not told anything.
    admin_page = main_window.show_page("personnel")
    assert isinstance(admin_page, PersonnelPage)
    assert not admin_page.view_only_message.isVisible()

    group = add_group(ui_app.db, "Reception", {"maintenance": "r"})
    person_id = add_login(ui_app, "viewer", "a long secret", last_name="Viewer", group_id=group)
    window = MainWindow(
        ui_app, session_for(person_id, "viewer", "Viewer"), tasks, passwords=cheap_passwords()
    )
    qtbot.addWidget(window)
    window.resize(1280, 820)
    window.show()
    page = window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    qtbot.waitUntil(lambda: personnel_idle(page) and page.editor.record is not None)
    notice = page.view_only_message
    assert notice.isVisible()
    assert notice.text().startswith("View only: you have Read rights on Maintenance.")
    editor = page.editor
    assert "change" not in editor.address_button.text()
    assert not editor.password_hint.isVisible()  # no advice on setting a password
    window.grab().save("/tmp/personnel-view-only.png")

    qtbot.mouseClick(editor.address_button, Qt.MouseButton.LeftButton)
    dialog = editor.findChild(AddressDialog)
    assert dialog is not None
    qtbot.waitExposed(dialog)
    assert all(edit.isReadOnly() for edit in dialog.edits.values())
    buttons = [b.text().replace("&", "") for b in dialog.findChildren(QPushButton)]
    assert buttons == ["Close"]
    dialog.grab().save("/tmp/personnel-view-only-address.png")
    dialog.close()
    window.close()
