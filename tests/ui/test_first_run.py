"""First run: no users yet, so the app asks for the first administrator, then for a login."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.context import Actor
from pmdesk.core.db import sqlite_url
from pmdesk.core.personnel import PersonnelService
from pmdesk.secrets import MemoryStore
from pmdesk.ui.app import Launcher
from pmdesk.ui.first_run import FirstRunDialog
from pmdesk.ui.tasks import TaskManager
from tests.helpers.login import cheap_passwords


def _fill(qtbot: QtBot, dialog: FirstRunDialog, values: dict[str, str]) -> None:
    for name, text in values.items():
        edit = dialog.editor(name)
        edit.clear()
        qtbot.keyClicks(edit, text)


def test_first_run_creates_the_administrator_and_login_follows(
    qtbot: QtBot, tasks: TaskManager, tmp_path: Path
) -> None:
    (tmp_path / "first.sqlite3").touch()  # away from the default location pmdesk makes none
    url = str(sqlite_url(tmp_path / "first.sqlite3"))
    launcher = Launcher(url, secrets=MemoryStore(), tasks=tasks)
    qtbot.addWidget(launcher.login)
    launcher.start()
    qtbot.waitUntil(lambda: launcher.first_run is not None, timeout=20_000)
    dialog = launcher.first_run
    assert dialog is not None
    qtbot.waitExposed(dialog)
    assert dialog.focusWidget() is dialog.editor("login")
    # Sized to its text at its width: no empty band above the buttons.
    assert dialog.height() <= dialog.heightForWidth(dialog.width()) + 2

    _fill(
        qtbot,
        dialog,
        {
            "login": "jsmets",
            "first_name": "Jean-Marie",
            "last_name": "Smets",
            "email": "jm@insypro.com",
            "password": "a long secret",
            "password_confirm": "a long secret",
        },
    )
    with qtbot.waitSignal(dialog.created, timeout=20_000) as created:
        qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    assert created.args == ["jsmets"]
    qtbot.waitUntil(lambda: launcher.first_run is None)

    login = launcher.login
    assert login.username_edit.text() == "jsmets"
    assert "Administrator jsmets created" in login.message.text()
    assert login.focusWidget() is login.password_edit
    assert launcher.opened is not None
    stored = PersonnelService(launcher.opened.app.context).find_by_login("jsmets")
    assert stored is not None
    assert stored.group_name == "Administrator"
    assert stored.form.email == "jm@insypro.com"
    assert stored.has_password

    # The new administrator signs in (two-step authentication is off on a new database).
    qtbot.keyClicks(login.password_edit, "a long secret")
    qtbot.keyClick(login.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: launcher.window is not None, timeout=20_000)
    window = launcher.window
    assert window is not None
    qtbot.waitExposed(window)
    assert not login.isVisible()
    assert "Maintenance" in window.visible_area_titles()
    window.close()
    launcher.opened.app.db.dispose()


def test_invalid_input_is_shown_next_to_each_field_and_kept(
    qtbot: QtBot, ui_app: App, tasks: TaskManager
) -> None:
    dialog = FirstRunDialog(ui_app.context, 1, tasks, passwords=cheap_passwords())
    qtbot.addWidget(dialog)
    dialog.show()
    _fill(
        qtbot,
        dialog,
        {
            "login": "j smets",
            "email": "jm@insypro",
            "password": "short",
            "password_confirm": "short",
        },
    )
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    errors = {name: box.error for name, box in dialog.fields.items()}
    assert "Login may use letters" in errors["login"].text()
    assert errors["login"].isVisibleTo(dialog)
    assert "not a valid e-mail address" in errors["email"].text()
    assert "at least 8 characters" in errors["password"].text()
    assert "last name or a forename" in errors["last_name"].text()
    assert not errors["first_name"].isVisibleTo(dialog)
    # Nothing typed is lost, and nothing was created.
    assert dialog.editor("email").text() == "jm@insypro"
    assert dialog.editor("login").text() == "j smets"
    assert dialog.focusWidget() is dialog.editor("login")
    assert not PersonnelService(ui_app.context).has_users()

    # Fixing one field clears its message on the next try.
    dialog.editor("login").clear()
    qtbot.keyClicks(dialog.editor("login"), "jsmets")
    qtbot.keyClick(dialog.editor("login"), Qt.Key.Key_Return)
    assert not errors["login"].isVisibleTo(dialog)
    assert errors["email"].isVisibleTo(dialog)


def test_mismatched_confirmation_is_reported_on_confirm(
    qtbot: QtBot, ui_app: App, tasks: TaskManager
) -> None:
    dialog = FirstRunDialog(ui_app.context, 1, tasks, passwords=cheap_passwords())
    qtbot.addWidget(dialog)
    dialog.show()
    _fill(
        qtbot,
        dialog,
        {
            "login": "jsmets",
            "last_name": "Smets",
            "password": "a long secret",
            "password_confirm": "a long secrets",
        },
    )
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    assert "match" in dialog.fields["password_confirm"].error.text()
    assert not dialog.fields["password"].error.isVisibleTo(dialog)


def test_another_workstation_was_first(qtbot: QtBot, ui_app: App, tasks: TaskManager) -> None:
    from tests.helpers.login import add_user

    dialog = FirstRunDialog(ui_app.context, 1, tasks, passwords=cheap_passwords())
    qtbot.addWidget(dialog)
    dialog.show()
    _fill(
        qtbot,
        dialog,
        {
            "login": "second",
            "last_name": "Second",
            "password": "a long secret",
            "password_confirm": "a long secret",
        },
    )
    add_user(ui_app.context, "first", "another secret")
    with qtbot.waitSignal(dialog.created, timeout=20_000) as created:
        qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    assert created.args == [""]
    service = PersonnelService(ui_app.context)
    assert service.find_by_login("second") is None
    assert service.count(Actor.system("test")) == 1
