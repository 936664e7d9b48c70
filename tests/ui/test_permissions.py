"""System → Permissions, driven as a user would: tick, save, reload; groups; refusals."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.context import Actor
from pmdesk.core.groups import GroupService
from pmdesk.core.modules import MODULES, SYSTEM, SYSTEM_SECURITY, Action
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.page_context import Session
from pmdesk.ui.system.permission_grid import GroupNameDialog
from pmdesk.ui.system.permissions import PermissionsPage
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import install_translation
from tests.helpers.qt import answer, permissions_idle
from tests.helpers.staff import add_group, add_person
from tests.ui.conftest import click_check
from tests.ui.screenshots import capture, screenshot_dir
from tests.ui.system_pages import not_clipped, open_page

OTHER = Actor.system("another workstation")

SEED_NAMES = [
    "Job",
    "Invoicing",
    "Workshop",
    "Maintenance",
    "Planning",
    "Car Fleet",
    "Report",
    "System",
    "System → Custom Fields",
    "System → Log",
    "System → Shortcut",
    "System → Vault",
    "System → Security",
]


@pytest.fixture
def page(qtbot: QtBot, main_window: MainWindow) -> PermissionsPage:
    widget = open_page(qtbot, main_window, "permissions")
    assert isinstance(widget, PermissionsPage)
    qtbot.waitUntil(lambda: permissions_idle(widget) and widget.current_grid is not None)
    return widget


def _choose(qtbot: QtBot, page: PermissionsPage, name: str) -> None:
    index = page.group_combo.findText(name)
    assert index >= 0, f"{name} not in the selector"
    page.group_combo.setCurrentIndex(index)
    qtbot.waitUntil(
        lambda: (
            permissions_idle(page)
            and page.current_grid is not None
            and page.current_grid.group_name == name
        )
    )


def _save(qtbot: QtBot, page: PermissionsPage) -> None:
    assert page.save_button.isEnabled()
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: permissions_idle(page) and page.message.isVisible())


def _name_dialog(qtbot: QtBot, page: PermissionsPage) -> GroupNameDialog:
    qtbot.waitUntil(lambda: page.name_dialog is not None and page.name_dialog.isVisible())
    dialog = page.name_dialog
    assert dialog is not None
    return dialog


def _type_name(qtbot: QtBot, dialog: GroupNameDialog, name: str) -> None:
    dialog.name_edit.selectAll()
    qtbot.keyClick(dialog.name_edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(dialog.name_edit, name)
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)


def test_grid_lists_the_modules_in_the_products_order(page: PermissionsPage) -> None:
    assert [page.grid.names[m.key].text() for m in MODULES] == SEED_NAMES
    assert page.group_combo.currentText() == "Administrator"
    assert page.members_label.text() == "1 person is in this group."
    assert all(check.isChecked() for check in page.grid.checks.values())
    assert page.grid.check(SYSTEM_SECURITY, Action.DELETE).text() == "Delete"
    assert not page.save_button.isEnabled()  # nothing to save yet


def test_tick_save_and_reload_shows_it(
    qtbot: QtBot, page: PermissionsPage, main_window: MainWindow, ui_app: App
) -> None:
    add_group(ui_app.db, "Reception", {"job": "r"})
    page.reload()
    qtbot.waitUntil(lambda: permissions_idle(page) and page.group_combo.findText("Reception") >= 0)
    _choose(qtbot, page, "Reception")
    assert page.grid.check("job", Action.READ).isChecked()
    assert not page.grid.check("planning", Action.READ).isChecked()

    click_check(qtbot, page.grid.check("planning", Action.READ))
    click_check(qtbot, page.grid.check("planning", Action.EDIT))
    assert page.has_unsaved_changes()
    assert main_window.unsaved_pages() == ["permissions"]
    assert page.unsaved_label.text() == "1 module changed, not saved yet."
    assert page.grid.names["planning"].font().bold()

    _save(qtbot, page)
    assert page.message.role == "success"
    assert page.message.text() == "Permissions of Reception saved."
    assert not page.has_unsaved_changes()
    assert main_window.unsaved_pages() == []

    group_id = page.current_grid.group_id if page.current_grid else 0
    stored = GroupService(ui_app.context).grid(OTHER, group_id)
    planning = next(r for r in stored.rows if r.module_key == "planning")
    assert (planning.read, planning.edit, planning.delete) == (True, True, False)

    page.reload()
    qtbot.waitUntil(lambda: permissions_idle(page) and page.current_grid is not None)
    assert page.group_combo.currentText() == "Reception"
    assert page.grid.check("planning", Action.EDIT).isChecked()
    assert not page.grid.check("planning", Action.DELETE).isChecked()


def test_last_administrator_refusal_keeps_the_ticks(
    qtbot: QtBot, page: PermissionsPage, ui_app: App
) -> None:
    click_check(qtbot, page.grid.check(SYSTEM_SECURITY, Action.EDIT))
    click_check(qtbot, page.grid.check("job", Action.DELETE))
    _save(qtbot, page)
    assert page.message.role == "error"
    assert "would leave nobody able to administer System → Security" in page.message.text()
    # Nothing lost: the ticks are as the user left them, still unsaved.
    assert not page.grid.check(SYSTEM_SECURITY, Action.EDIT).isChecked()
    assert not page.grid.check("job", Action.DELETE).isChecked()
    assert page.has_unsaved_changes()
    assert page.save_button.isEnabled()
    stored = GroupService(ui_app.context).grid(OTHER, 1)
    assert all(r.read and r.edit and r.delete for r in stored.rows)


def test_conflict_says_so_and_reloads(qtbot: QtBot, page: PermissionsPage, ui_app: App) -> None:
    service = GroupService(ui_app.context)
    theirs = service.grid(OTHER, 1)
    rows = [r._replace(delete=False) if r.module_key == "job" else r for r in theirs.rows]
    service.save_grid(OTHER, 1, theirs.version, rows)  # another workstation, meanwhile

    click_check(qtbot, page.grid.check("report", Action.DELETE))
    _save(qtbot, page)
    assert "changed on another workstation" in page.message.text()
    assert not page.grid.check("report", Action.DELETE).isChecked()  # mine kept for now
    answer(qtbot, page, "Reload")
    qtbot.waitUntil(lambda: permissions_idle(page) and not page.has_unsaved_changes())
    assert not page.grid.check("job", Action.DELETE).isChecked()  # theirs
    assert page.grid.check("report", Action.DELETE).isChecked()


def test_switching_group_with_unsaved_ticks_asks(
    qtbot: QtBot, page: PermissionsPage, ui_app: App
) -> None:
    add_group(ui_app.db, "Workshop staff", {"workshop": "re"})
    page.reload()
    qtbot.waitUntil(
        lambda: permissions_idle(page) and page.group_combo.findText("Workshop staff") >= 0
    )
    click_check(qtbot, page.grid.check("job", Action.DELETE))
    page.group_combo.setCurrentIndex(page.group_combo.findText("Workshop staff"))
    answer(qtbot, page, "Keep editing")
    assert page.group_combo.currentText() == "Administrator"
    assert not page.grid.check("job", Action.DELETE).isChecked()

    page.group_combo.setCurrentIndex(page.group_combo.findText("Workshop staff"))
    answer(qtbot, page, "Discard changes")
    qtbot.waitUntil(
        lambda: (
            permissions_idle(page)
            and page.current_grid is not None
            and page.current_grid.group_name == "Workshop staff"
        )
    )
    assert page.grid.check("workshop", Action.EDIT).isChecked()
    assert not page.has_unsaved_changes()


def test_create_rename_and_delete_a_group(qtbot: QtBot, page: PermissionsPage, ui_app: App) -> None:
    qtbot.mouseClick(page.new_button, Qt.MouseButton.LeftButton)
    dialog = _name_dialog(qtbot, page)
    _type_name(qtbot, dialog, "administrator")  # taken (names are case-insensitive)
    qtbot.waitUntil(lambda: bool(dialog.field.error.text()))
    assert dialog.field.error.text() == "There is already a group called 'Administrator'."
    assert dialog.isVisible()
    _type_name(qtbot, dialog, "Helpdesk")
    qtbot.waitUntil(
        lambda: (
            page.name_dialog is None
            and permissions_idle(page)
            and page.current_grid is not None
            and page.current_grid.group_name == "Helpdesk"
        )
    )
    assert page.group_combo.currentText() == "Helpdesk"
    assert not any(check.isChecked() for check in page.grid.checks.values())
    assert "Group Helpdesk created" in page.message.text()

    click_check(qtbot, page.grid.check(SYSTEM_SECURITY, Action.READ))  # unsaved tick survives
    qtbot.mouseClick(page.rename_button, Qt.MouseButton.LeftButton)
    dialog = _name_dialog(qtbot, page)
    assert dialog.name_edit.text() == "Helpdesk"
    _type_name(qtbot, dialog, "Helpdesk team")
    qtbot.waitUntil(lambda: page.name_dialog is None and page.message.role == "success")
    assert page.group_combo.currentText() == "Helpdesk team"
    assert page.message.text() == "Group renamed to Helpdesk team."
    assert page.grid.check(SYSTEM_SECURITY, Action.READ).isChecked()
    _save(qtbot, page)  # the rename did not make the grid's version stale
    assert page.message.role == "success"

    names = [g.name for g in GroupService(ui_app.context).list(OTHER)]
    assert "Helpdesk team" in names and "Helpdesk" not in names

    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    question = answer(qtbot, page, "Delete group")
    assert question == "Delete the group Helpdesk team?"
    qtbot.waitUntil(
        lambda: permissions_idle(page) and page.group_combo.findText("Helpdesk team") < 0
    )
    assert page.message.text() == "Group Helpdesk team deleted."
    assert page.group_combo.currentText() == "Administrator"
    names = [g.name for g in GroupService(ui_app.context).list(OTHER)]
    assert "Helpdesk team" not in names


def test_a_group_with_people_is_not_deleted(
    qtbot: QtBot, page: PermissionsPage, ui_app: App
) -> None:
    group_id = add_group(ui_app.db, "Planners", {"planning": "red"})
    add_person(ui_app.db, "ppeeters", group_id=group_id, last_name="Peeters")
    add_person(ui_app.db, "lmaes", group_id=group_id, last_name="Maes")
    page.reload()
    qtbot.waitUntil(lambda: permissions_idle(page) and page.group_combo.findText("Planners") >= 0)
    _choose(qtbot, page, "Planners")
    assert page.members_label.text() == "2 people are in this group."
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    # Refused at once, without first asking to confirm (issue 19, item 21).
    qtbot.waitUntil(lambda: permissions_idle(page) and page.message.role == "error")
    assert not [b for b in page.findChildren(QMessageBox) if b.isVisible()]
    assert page.message.text() == (
        "The group 'Planners' cannot be deleted: 2 people are still in it. Move them to another "
        "group in Maintenance → Personnel first."
    )
    assert page.group_combo.findText("Planners") >= 0


def test_read_only_group_sees_but_cannot_change(
    qtbot: QtBot,
    ui_app: App,
    admin_id: int,
    tasks: TaskManager,
    session_for: Callable[[int, str, str], Session],
) -> None:
    group_id = add_group(ui_app.db, "Auditors", {SYSTEM.key: "r"})
    person = add_person(ui_app.db, "auditor", group_id=group_id, last_name="Auditor")
    window = MainWindow(ui_app, session_for(person, "auditor", "An Auditor"), tasks)
    qtbot.addWidget(window)
    window.show()
    widget = open_page(qtbot, window, "permissions")
    assert isinstance(widget, PermissionsPage)
    qtbot.waitUntil(lambda: permissions_idle(widget) and widget.current_grid is not None)
    assert not any(check.isEnabled() for check in widget.grid.checks.values())
    for button in (widget.new_button, widget.rename_button, widget.delete_button):
        assert not button.isEnabled()
    assert widget.new_button.toolTip() == "Your user group needs System Edit for this."
    assert "security" not in window.pages  # no System → Security Read


def test_screenshot(qtbot: QtBot, page: PermissionsPage, ui_app: App, tmp_path: Path) -> None:
    """docs/screenshots/permissions.png (with PMDESK_SCREENSHOTS=1): a group with unsaved ticks."""
    add_group(ui_app.db, "Reception", {"job": "re", "planning": "r", "car_fleet": "red"})
    page.reload()
    qtbot.waitUntil(lambda: permissions_idle(page) and page.group_combo.findText("Reception") >= 0)
    _choose(qtbot, page, "Reception")
    click_check(qtbot, page.grid.check("workshop", Action.READ))
    window = page.window()
    capture(window, "permissions", screenshot_dir(tmp_path / "screenshots"))
    not_clipped(window)


def test_changes_elsewhere_reload_unless_editing(
    qtbot: QtBot, page: PermissionsPage, ui_app: App
) -> None:
    add_group(ui_app.db, "Made elsewhere", {"job": "r"})
    page.permissions_changed_elsewhere()  # what BackgroundServices.permissions_changed calls
    qtbot.waitUntil(
        lambda: permissions_idle(page) and page.group_combo.findText("Made elsewhere") >= 0
    )
    assert page.group_combo.currentText() == "Administrator"

    click_check(qtbot, page.grid.check("job", Action.DELETE))
    add_group(ui_app.db, "Another one")
    page.permissions_changed_elsewhere()
    assert page.message.role == "notice"
    assert page.group_combo.findText("Another one") < 0  # nothing reloaded under the user
    assert not page.grid.check("job", Action.DELETE).isChecked()


def test_the_open_grid_switches_language_at_once(qtbot: QtBot, page: PermissionsPage) -> None:
    """The header's language switch: the rights, buttons and the selector's texts change at
    once on the open screen, and back again."""
    read = page.grid.check(MODULES[0], Action.READ)
    try:
        assert install_translation("nl-BE")
        qtbot.waitUntil(lambda: read.text() == "Bekijken")
        assert page.grid.check(MODULES[0], Action.EDIT).text() == "Bewerken"
        assert page.grid.check(MODULES[0], Action.DELETE).text() == "Verwijderen"
        assert page.save_button.text() == "Machtigingen opslaan"
        assert page.selector.title() == "Gebruikersgroep kiezen"
        assert page.new_button.text() == "Nieuwe groep"
        assert install_translation("fr-BE")
        qtbot.waitUntil(lambda: read.text() == "Consulter")
        assert page.delete_button.text() == "Supprimer"
    finally:
        install_translation("en-GB")
    qtbot.waitUntil(lambda: read.text() == "Read")
    assert page.save_button.text() == "Save Permissions"
