"""First run: no users yet, so the app asks for the first administrator, then for a login."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.context import Actor
from pmdesk.core.db import sqlite_url
from pmdesk.core.personnel import PersonnelService
from pmdesk.secrets import MemoryStore
from pmdesk.ui.app import Launcher
from pmdesk.ui.first_run import FirstRunDialog
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import install_translation
from tests.helpers.login import cheap_passwords


@pytest.fixture
def dialog(qtbot: QtBot, ui_app: App, tasks: TaskManager) -> FirstRunDialog:
    shown = FirstRunDialog(ui_app.context, 1, tasks, passwords=cheap_passwords())
    qtbot.addWidget(shown)
    shown.show()
    return shown


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
    qtbot: QtBot, ui_app: App, dialog: FirstRunDialog
) -> None:
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

    # Fixing a field clears its message as it is typed, before the next try; the others stay.
    dialog.editor("login").selectAll()
    qtbot.keyClicks(dialog.editor("login"), "jsmets")
    assert not errors["login"].isVisibleTo(dialog)
    assert not dialog.editor("login").property("invalid")
    assert errors["email"].isVisibleTo(dialog)
    qtbot.keyClicks(dialog.editor("email"), ".com")
    assert not errors["email"].isVisibleTo(dialog)
    # "A last name or a forename": a forename fixes the Lastname message.
    qtbot.keyClicks(dialog.editor("first_name"), "Jean-Marie")
    assert not errors["last_name"].isVisibleTo(dialog)
    # Still too short after one more letter: the message stays.
    qtbot.keyClicks(dialog.editor("password"), "r")
    assert "at least 8 characters" in errors["password"].text()
    assert errors["password"].isVisibleTo(dialog)
    qtbot.keyClicks(dialog.editor("password"), " secret")
    assert not errors["password"].isVisibleTo(dialog)
    # Confirm was not marked: it is not checked (and not marked) until the next try.
    assert not errors["password_confirm"].isVisibleTo(dialog)
    qtbot.keyClick(dialog.editor("login"), Qt.Key.Key_Return)
    assert "match" in errors["password_confirm"].text()
    assert errors["password_confirm"].isVisibleTo(dialog)
    assert dialog.focusWidget() is dialog.editor("password_confirm")


def _rect_in(dialog: QWidget, widget: QWidget) -> QRect:
    return QRect(widget.mapTo(dialog, QPoint(0, 0)), widget.size())


def test_messages_of_empty_fields_are_fully_readable(qtbot: QtBot, dialog: FirstRunDialog) -> None:
    """Issue 19, item 7: each red message sat half under the next field (the dialog kept its
    height and the layout squeezed the rows)."""
    qtbot.waitExposed(dialog)
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    shown = {name for name, box in dialog.fields.items() if box.error.isVisibleTo(dialog)}
    assert shown == {"login", "last_name", "password"}
    dialog.grab().save("/tmp/first-run-empty.png")
    inputs = [box.editor for box in dialog.fields.values()]
    inputs += [dialog.create_button, dialog.cancel_button]
    for name in shown:
        error = dialog.fields[name].error
        where = _rect_in(dialog, error)
        # As tall as its text needs, inside the dialog, and nothing is drawn over it.
        assert error.height() >= error.heightForWidth(error.width()), name
        assert dialog.rect().contains(where), (name, where, dialog.rect())
        for widget in inputs:
            assert not where.intersects(_rect_in(dialog, widget)), (name, widget.objectName())
        # The field above it keeps its full height too.
        editor = dialog.fields[name].editor
        assert editor.height() >= editor.sizeHint().height(), name


def test_on_a_small_screen_every_message_fits_and_the_fields_scroll(
    qtbot: QtBot, dialog: FirstRunDialog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five messages at once on 1280 x 800 at 150 % (533 logical pixels high): the dialog stays
    on the screen, no message is squeezed, and the fields scroll, following the focus."""
    monkeypatch.setattr(dialog, "screen_room", lambda: 533)
    qtbot.waitExposed(dialog)
    _fill(
        qtbot,
        dialog,
        {
            "login": "has space",
            "email": "not-an-address",
            "password": "short",
            "password_confirm": "other",
        },
    )
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    shown = [name for name, box in dialog.fields.items() if box.error.isVisibleTo(dialog)]
    assert len(shown) >= 5, shown
    assert dialog.frameGeometry().height() <= 533
    bar = dialog.scroll_area.verticalScrollBar()
    assert bar.maximum() > 0, "the fields scroll instead of being squeezed"
    for name in shown:
        error = dialog.fields[name].error
        assert error.height() >= error.heightForWidth(error.width()), name
    assert dialog.create_button.isVisible() and dialog.cancel_button.isVisible()
    # Tab to the last field: it is scrolled into view.
    last = dialog.editor("password_confirm")
    last.setFocus()
    qtbot.waitUntil(lambda: last.hasFocus())
    viewport = dialog.scroll_area.viewport()
    where = QRect(last.mapTo(viewport, QPoint(0, 0)), last.size())
    assert viewport.rect().contains(where), (where, viewport.rect())


def test_a_short_password_and_a_mismatch_are_reported_at_once(
    qtbot: QtBot, ui_app: App, dialog: FirstRunDialog
) -> None:
    _fill(
        qtbot,
        dialog,
        {"login": "jsmets", "last_name": "Smets", "password": "short", "password_confirm": "shirt"},
    )
    qtbot.mouseClick(dialog.create_button, Qt.MouseButton.LeftButton)
    password, confirm = dialog.fields["password"].error, dialog.fields["password_confirm"].error
    assert "at least 8 characters" in password.text() and password.isVisibleTo(dialog)
    assert "do not match" in confirm.text() and confirm.isVisibleTo(dialog)
    # Making them match leaves only the length.
    dialog.editor("password_confirm").selectAll()
    qtbot.keyClicks(dialog.editor("password_confirm"), "short")
    assert not confirm.isVisibleTo(dialog)
    assert password.isVisibleTo(dialog)
    assert not PersonnelService(ui_app.context).has_users()


def test_mismatched_confirmation_is_reported_on_confirm(
    qtbot: QtBot, dialog: FirstRunDialog
) -> None:
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


def test_another_workstation_was_first(qtbot: QtBot, ui_app: App, dialog: FirstRunDialog) -> None:
    from tests.helpers.login import add_user

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


def test_the_dialog_follows_a_language_change(qtbot: QtBot, dialog: FirstRunDialog) -> None:
    try:
        assert install_translation("fr-BE")
        qtbot.waitUntil(lambda: dialog.windowTitle() == "Premier administrateur")
        assert dialog.create_button.text() == "Créer l'administrateur"
        assert dialog.labels["last_name"].text() == "Nom"
        assert dialog.editor("password_confirm").accessibleName() == "Confirmer le mot de passe"
    finally:
        install_translation("en-GB")
    qtbot.waitUntil(lambda: dialog.windowTitle() == "First administrator")
    assert dialog.create_button.text() == "Create administrator"
    assert dialog.labels["last_name"].text() == "Lastname"
