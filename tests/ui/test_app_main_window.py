"""The main window: tabs as the group allows, status bar, language, sign out, geometry."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QTabWidget, QWidget
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.config import load_settings
from pmdesk.core.db import describe_for_people
from pmdesk.core.modules import SYSTEM_LOG, SYSTEM_SECURITY, SYSTEM_VAULT
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.message_boxes import button_with_text
from pmdesk.ui.module_names import module_title
from pmdesk.ui.page_context import PageContext, Session
from pmdesk.ui.personnel.view import PersonnelPage
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import install_translation
from tests.helpers.login import cheap_passwords
from tests.helpers.staff import add_group
from tests.ui.conftest import add_login

SessionFor = Callable[[int, str, str], Session]


def _window(
    qtbot: QtBot, app: App, session: Session, tasks: TaskManager, *, install: bool = True
) -> MainWindow:
    window = MainWindow(app, session, tasks, install=install, passwords=cheap_passwords())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def _person_in_group(app: App, rights: dict[str, str], login: str = "someone") -> int:
    group = add_group(app.db, f"Group of {login}", rights)
    return add_login(app, login, "a long secret", last_name=login.capitalize(), group_id=group)


def _status_text(window: MainWindow, box: QWidget) -> str:
    label = box.findChild(QLabel, "text")
    assert label is not None
    return label.text()


def test_administrator_sees_maintenance_organisation_personnel(
    main_window: MainWindow, ui_app: App
) -> None:
    assert main_window.area_visible("maintenance")
    assert main_window.top_tabs.tabText(0) == "Maintenance"
    organisation = main_window.findChild(QWidget, "organisationTabs")
    assert organisation is not None
    page = main_window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    assert _status_text(main_window, main_window.user_status) == (
        "Signed in as Jean-Marie Smets (jsmets)  ·  from 192.0.2.10"
    )
    assert main_window.database_status.toolTip().splitlines()[0] == describe_for_people(
        ui_app.db.url
    )
    assert main_window.windowTitle() == "Jean-Marie Smets"


def test_a_group_without_maintenance_read_sees_no_maintenance_tab(
    qtbot: QtBot, ui_app: App, tasks: TaskManager, session_for: SessionFor
) -> None:
    person = _person_in_group(ui_app, {"system.log": "r"}, "auditor")
    window = _window(qtbot, ui_app, session_for(person, "auditor", "Auditor"), tasks)
    assert not window.area_visible("maintenance")
    assert "Maintenance" not in window.visible_area_titles()
    assert "personnel" not in window.pages


def test_a_group_with_no_rights_gets_a_friendly_empty_window(
    qtbot: QtBot, ui_app: App, tasks: TaskManager, session_for: SessionFor
) -> None:
    person = _person_in_group(ui_app, {}, "nobody")
    window = _window(qtbot, ui_app, session_for(person, "nobody", "Nobody"), tasks)
    assert window.visible_area_titles() == []
    assert window.empty_label.isVisible()
    assert "Ask an administrator" in window.empty_label.text()


def test_system_pages_are_added_through_the_api_as_rights_allow(
    qtbot: QtBot, ui_app: App, tasks: TaskManager, session_for: SessionFor
) -> None:
    person = _person_in_group(ui_app, {"system.security": "r", "system.log": "r"}, "helpdesk")
    window = _window(
        qtbot, ui_app, session_for(person, "helpdesk", "Helpdesk"), tasks, install=False
    )
    assert window.visible_area_titles() == []  # no page registered: no System tab either
    built: list[str] = []

    def factory(name: str) -> Callable[[PageContext], QWidget]:
        def make(context: PageContext) -> QWidget:
            assert context.session.login == "helpdesk" and context.tasks is tasks
            built.append(name)
            label = QLabel(f"{name} page")
            label.setObjectName(f"{name}Content")
            return label

        return make

    assert window.add_system_page("security", "Security", factory("security"), SYSTEM_SECURITY)
    assert window.add_system_page("log", "Log", factory("log"), SYSTEM_LOG)
    assert not window.add_system_page("vault", "Vault", factory("vault"), SYSTEM_VAULT)
    assert window.visible_area_titles() == ["System"]
    assert "vault" not in window.pages
    system_tabs = window.findChild(QTabWidget, "systemTabs")
    assert system_tabs is not None and system_tabs.isVisible()
    assert [system_tabs.tabText(i) for i in range(system_tabs.count())] == ["Security", "Log"]
    assert built == ["security"]  # the page on view; Log is built when first shown
    shown = window.show_page("log")
    assert shown.objectName() == "logContent"
    assert built == ["security", "log"]
    assert system_tabs.currentIndex() == 1


def test_sign_out_asks_about_unsaved_changes(
    qtbot: QtBot, main_window: MainWindow, ui_app: App
) -> None:
    page = main_window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    qtbot.waitUntil(lambda: page._lookups is not None and not page.busy.running)
    qtbot.mouseClick(page.new_button, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(page.editor.edits["last_name"], "Unsaved")
    signed_out: list[bool] = []
    main_window.signed_out.connect(lambda: signed_out.append(True))

    qtbot.mouseClick(main_window.sign_out_button, Qt.MouseButton.LeftButton)
    box = main_window.findChild(QMessageBox)
    assert box is not None
    qtbot.waitUntil(box.isVisible)
    assert "not saved" in box.text()
    qtbot.mouseClick(button_with_text(box, "Cancel"), Qt.MouseButton.LeftButton)
    assert signed_out == []
    assert page.editor.edits["last_name"].text() == "Unsaved"

    qtbot.mouseClick(main_window.sign_out_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: any(b.isVisible() for b in main_window.findChildren(QMessageBox)))
    box = next(b for b in main_window.findChildren(QMessageBox) if b.isVisible())
    qtbot.mouseClick(button_with_text(box, "Discard changes"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: signed_out == [True])
    assert not main_window.isVisible()


def test_window_geometry_is_remembered(
    qtbot: QtBot, ui_app: App, admin_session: Session, tasks: TaskManager
) -> None:
    window = _window(qtbot, ui_app, admin_session, tasks)
    window.resize(710, 530)  # within the offscreen screen (800 x 600): restore clamps to it
    qtbot.waitUntil(lambda: window.width() == 710)
    window.close()
    saved = load_settings(ui_app.paths.config_file)
    assert saved.window_geometry
    again = _window(qtbot, ui_app, admin_session, tasks)
    assert (again.width(), again.height()) == (710, 530)


def test_language_selector_offers_the_three_languages_and_remembers_the_choice(
    main_window: MainWindow, ui_app: App
) -> None:
    combo = main_window.language_combo
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "English (United Kingdom)",
        "Nederlands (België)",
        "Français (Belgique)",
    ]
    assert combo.currentText() == "English (United Kingdom)"
    combo.setCurrentIndex(1)
    assert load_settings(ui_app.paths.config_file).language == "nl-BE"
    assert "Nederlands (België)" in main_window.statusBar().currentMessage()


def _texts(window: MainWindow) -> dict[str, str]:
    system = window.findChild(QTabWidget, "systemTabs")
    assert system is not None
    return {
        "areas": " | ".join(window.visible_area_titles()),
        "system": " | ".join(system.tabText(i) for i in range(system.count())),
        "sign out": window.sign_out_button.text(),
        "status": _status_text(window, window.user_status),
    }


def test_a_language_change_retranslates_the_open_window_at_once(
    qtbot: QtBot, main_window: MainWindow
) -> None:
    english = _texts(main_window)
    assert english == {
        "areas": "Maintenance | System",
        "system": "Permissions | Log | Security",
        "sign out": "Sign out",
        "status": "Signed in as Jean-Marie Smets (jsmets)  ·  from 192.0.2.10",
    }

    assert install_translation("nl-BE")
    qtbot.waitUntil(lambda: main_window.sign_out_button.text() == "Afmelden")
    assert _texts(main_window) == {
        "areas": "Onderhoud | Systeem",
        "system": "Machtigingen | Logboek | Beveiliging",
        "sign out": "Afmelden",
        "status": "Aangemeld als Jean-Marie Smets (jsmets)  ·  vanaf 192.0.2.10",
    }
    assert main_window.language_combo.toolTip() == "Taal"

    assert install_translation("fr-BE")
    qtbot.waitUntil(lambda: main_window.sign_out_button.text() == "Se déconnecter")
    assert _texts(main_window)["system"] == "Autorisations | Journal | Sécurité"

    assert install_translation("en-GB")
    qtbot.waitUntil(lambda: main_window.sign_out_button.text() == "Sign out")
    assert _texts(main_window) == english


def test_the_empty_state_follows_the_language(
    qtbot: QtBot, ui_app: App, tasks: TaskManager, session_for: SessionFor
) -> None:
    person = _person_in_group(ui_app, {}, "nobody")
    window = _window(qtbot, ui_app, session_for(person, "nobody", "Nobody"), tasks)
    assert install_translation("fr-BE")
    qtbot.waitUntil(lambda: "administrateur" in window.empty_label.text())
    assert "Système → Autorisations" in window.empty_label.text()


def test_module_titles_follow_the_language(qtbot: QtBot) -> None:
    assert install_translation("nl-BE")
    assert module_title(SYSTEM_SECURITY) == "Systeem → Beveiliging"
    assert install_translation("en-GB")
    assert module_title(SYSTEM_SECURITY) == "System → Security"
