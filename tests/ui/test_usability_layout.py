"""Issue 19 (usability): the screens fit small screens (5, 6), Permissions' Read follows Edit and
Delete (17), the Log's CSV is what the screen shows (18), a group with people is refused before
asking (21), the status bar names the database in words (24), the login code box's placeholder
is not cut off (23)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QMessageBox, QStyle, QStyleOptionFrame
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.audit import csv_safe
from pmdesk.core.context import Actor
from pmdesk.core.groups import GroupService
from pmdesk.core.modules import Action
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.system.log import LogPage
from pmdesk.ui.system.permissions import PermissionsPage
from pmdesk.ui.tasks import TaskManager
from tests.helpers.staff import add_group, add_person
from tests.ui.conftest import click_check
from tests.ui.system_pages import open_page

OTHER = Actor.system("another workstation")


def _idle(page: PermissionsPage) -> bool:
    return not page.busy_now and page.tasks.is_idle()


@pytest.fixture
def permissions(qtbot: QtBot, main_window: MainWindow) -> PermissionsPage:
    widget = open_page(qtbot, main_window, "permissions")
    assert isinstance(widget, PermissionsPage)
    qtbot.waitUntil(lambda: _idle(widget) and widget.current_grid is not None)
    return widget


def _choose(qtbot: QtBot, page: PermissionsPage, name: str) -> None:
    page.reload()
    qtbot.waitUntil(lambda: _idle(page) and page.group_combo.findText(name) >= 0)
    page.group_combo.setCurrentIndex(page.group_combo.findText(name))
    qtbot.waitUntil(
        lambda: (
            _idle(page) and page.current_grid is not None and page.current_grid.group_name == name
        )
    )


# ----- 17: Edit or Delete implies Read ---------------------------------------------------------


def test_edit_or_delete_ticks_read_and_unticking_read_unticks_them(
    qtbot: QtBot, permissions: PermissionsPage, ui_app: App
) -> None:
    page = permissions
    add_group(ui_app.db, "Reception")
    _choose(qtbot, page, "Reception")
    grid = page.grid
    click_check(qtbot, grid.check("job", Action.EDIT))
    assert grid.rights("job") == (True, True, False)
    click_check(qtbot, grid.check("planning", Action.DELETE))
    assert grid.rights("planning") == (True, False, True)
    click_check(qtbot, grid.check("job", Action.DELETE))
    assert grid.rights("job") == (True, True, True)
    click_check(qtbot, grid.check("job", Action.READ))
    assert grid.rights("job") == (False, False, False)
    click_check(qtbot, grid.check("job", Action.EDIT))
    click_check(qtbot, grid.check("job", Action.EDIT))  # Edit off again: Read stays
    assert grid.rights("job") == (True, False, False)

    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _idle(page) and page.message.role == "success")
    group_id = page.current_grid.group_id if page.current_grid else 0
    stored = {r.module_key: r for r in GroupService(ui_app.context).grid(OTHER, group_id).rows}
    assert stored["planning"][2:] == (True, False, True)
    assert stored["job"][2:] == (True, False, False)


# ----- 21: a group with people is refused before asking --------------------------------------


def test_deleting_a_group_with_people_refuses_without_asking_first(
    qtbot: QtBot, permissions: PermissionsPage, ui_app: App
) -> None:
    page = permissions
    group_id = add_group(ui_app.db, "Planners", {"planning": "r"})
    add_person(ui_app.db, "ppeeters", group_id=group_id, last_name="Peeters")
    _choose(qtbot, page, "Planners")
    asked: list[QMessageBox] = []
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _idle(page) and page.message.role == "error")
    asked = [b for b in page.findChildren(QMessageBox) if b.isVisible()]
    assert asked == []
    assert page.message.text().startswith("The group 'Planners' cannot be deleted: 1 person")
    assert page.group_combo.findText("Planners") >= 0


# ----- 24: the database in words ----------------------------------------------------------------


def test_the_status_bar_names_the_database_in_words(main_window: MainWindow, ui_app: App) -> None:
    text = main_window.database_status.findChild(QLabel, "text")
    assert text is not None
    path = str(ui_app.db.url.database)
    assert text.text() == f"Embedded database ({path})"
    assert "sqlite+" not in text.text() and "://" not in text.text()


# ----- 23: the login code box's placeholder is not cut off ---------------------------------------


def _text_room(edit: QLineEdit) -> int:
    """The width a line edit has for its text (inside frame, padding and text margins)."""
    option = QStyleOptionFrame()
    edit.initStyleOption(option)
    rect = edit.style().subElementRect(QStyle.SubElement.SE_LineEditContents, option, edit)
    margins = edit.textMargins()
    return rect.width() - margins.left() - margins.right() - 4  # Qt's 2 px on each side


def test_the_code_boxs_placeholder_is_not_cut_off(qtbot: QtBot, tasks: TaskManager) -> None:
    dialog = LoginDialog(tasks)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.pages.setCurrentIndex(1)  # the code step's page
    edit = dialog.code_edit
    qtbot.waitUntil(edit.isVisible)
    text = edit.placeholderText()
    assert text
    needed = edit.fontMetrics().horizontalAdvance(text)
    assert _text_room(edit) >= needed, f"{_text_room(edit)} px for {needed} px of placeholder"
    # Also at the dialog's smallest size.
    dialog.resize(dialog.minimumSizeHint())
    qtbot.wait(10)
    assert _text_room(edit) >= needed


# ----- 18: the Log's CSV is what the screen shows, saved in Documents -------------------------


def test_the_logs_export_opens_in_documents_and_writes_what_the_list_shows(
    qtbot: QtBot,
    main_window: MainWindow,
    ui_app: App,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DOCUMENTS_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    page = open_page(qtbot, main_window, "log")
    assert isinstance(page, LogPage)
    qtbot.waitUntil(lambda: page.tasks.is_idle() and page.model.rowCount() > 0)
    qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.export_dialog is not None and page.export_dialog.isVisible())
    dialog = page.export_dialog
    assert dialog is not None
    assert Path(dialog.directory().absolutePath()) == home / "Documents"
    dialog.reject()

    target = home / "Documents" / "log.csv"
    page.export_to(target)
    qtbot.waitUntil(lambda: page.tasks.is_idle() and page.message.isVisible())
    with target.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    model = page.model
    columns = range(model.columnCount())
    assert rows[0] == [
        *(model.headerData(c, Qt.Orientation.Horizontal) for c in columns),
        "Time (UTC)",
    ]
    for number, row in enumerate(rows[1:]):
        shown = [str(model.data(model.index(number, c))) for c in columns]
        assert row[:7] == [shown[0], *(csv_safe(cell) for cell in shown[1:])]
        assert "." not in row[2] and "_" not in row[2], "an event name, not its code"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[7])
