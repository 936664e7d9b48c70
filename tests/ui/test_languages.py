"""The app's language follows the person and the workstation (issue 15 §2): the header's switch
applies at once and is saved for the signed-in person (their Personnel "Language") and for the
workstation, whose language the next login dialog shows; a sign-in switches to the person's.

These tests need the shipped Dutch and French catalogues (pmdesk/resources/i18n)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QLocale, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from pmdesk.bootstrap import App
from pmdesk.config import Settings, load_settings, save_settings
from pmdesk.core import migrate
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database, sqlite_url
from pmdesk.core.models import Language, Person
from pmdesk.paths import app_paths
from pmdesk.secrets import MemoryStore
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.translation import current_language, install_translation
from tests.helpers.databases import stage
from tests.helpers.login import add_user
from tests.ui import test_app

# The launcher's fixtures: a Launcher closed after the test, an empty database file.
launcher_for = test_app.launcher_for
database_file = test_app.database_file


def _language_of(db: Database, person_id: int) -> str | None:
    with stage(db) as s:
        person = s.get(Person, person_id)
        assert person is not None
        return person.language.code if person.language is not None else None


def test_the_header_switch_applies_at_once_and_is_saved_for_the_person_and_the_workstation(
    qtbot: QtBot, main_window: MainWindow, ui_app: App
) -> None:
    combo = main_window.language_combo
    person = main_window.session.person_id

    combo.setCurrentIndex(combo.findData("fr-BE"))

    assert current_language() == "fr-BE"
    assert main_window.statusBar().currentMessage() == (
        "pmdesk utilise désormais Français (Belgique), pour vous et sur ce poste de travail."
    )
    qtbot.waitUntil(lambda: _language_of(ui_app.db, person) == "fr-BE", timeout=10_000)
    assert load_settings(ui_app.paths.config_file).language == "fr-BE"
    assert ui_app.context.language == "fr-BE"  # mail to people without a language: French

    combo.setCurrentIndex(combo.findData("en-GB"))

    assert current_language() == "en-GB"
    assert main_window.statusBar().currentMessage() == (
        "pmdesk now uses English (United Kingdom), for you and on this workstation."
    )
    qtbot.waitUntil(lambda: _language_of(ui_app.db, person) == "en-GB", timeout=10_000)


def test_the_next_login_dialog_shows_in_the_workstations_language(
    launcher_for: object, database_file: Path
) -> None:
    paths = app_paths()
    paths.ensure()
    save_settings(paths.config_file, Settings(language="nl-BE"))

    launcher = launcher_for(str(sqlite_url(database_file)), secrets=MemoryStore())  # type: ignore[operator]

    assert current_language() == "nl-BE"
    assert QApplication.translate("mail", "Hello,") == "Goedendag,"
    assert launcher.login is not None
    assert launcher.login.username_label.text() == "Gebruikersnaam"
    assert launcher.login.login_button.text() == "Aanmelden"


def test_a_dutch_workstation_on_a_dutch_system_opens_in_dutch(
    launcher_for: object, database_file: Path
) -> None:
    """The system's locale is not the app's language: on a Dutch computer nothing is
    translated until pmdesk installs its translation."""
    QLocale.setDefault(QLocale("nl_BE"))  # as the system would have it
    paths = app_paths()
    paths.ensure()
    save_settings(paths.config_file, Settings(language="nl-BE"))

    launcher = launcher_for(str(sqlite_url(database_file)), secrets=MemoryStore())  # type: ignore[operator]

    assert launcher.login.username_label.text() == "Gebruikersnaam"


def test_signing_in_switches_to_the_persons_language_and_remembers_it(
    qtbot: QtBot, launcher_for: object, database_file: Path, tmp_path: Path
) -> None:
    url = sqlite_url(database_file)
    db = Database(url)
    migrate.upgrade(db)
    anne = add_user(CoreContext(db, MemoryStore(), tmp_path), "anne", "anne's long secret")
    with stage(db) as s:
        person = s.get(Person, anne)
        assert person is not None
        person.language_id = s.scalar(select(Language.id).where(Language.code == "nl-BE"))
    db.dispose()
    launcher = launcher_for(str(url), secrets=MemoryStore(), check_keyring=False)  # type: ignore[operator]
    assert current_language() == "en-GB"
    launcher.start()
    qtbot.waitUntil(lambda: launcher.login.ready, timeout=20_000)
    launcher.login.username_edit.setText("anne")
    launcher.login.password_edit.setText("anne's long secret")
    qtbot.mouseClick(launcher.login.login_button, Qt.MouseButton.LeftButton)  # type: ignore[no-untyped-call]
    qtbot.waitUntil(lambda: launcher.window is not None, timeout=20_000)

    assert current_language() == "nl-BE"
    assert launcher.window.language_combo.currentData() == "nl-BE"
    assert launcher.opened.app.context.language == "nl-BE"
    assert load_settings(app_paths().config_file).language == "nl-BE"


def test_the_header_list_shows_the_language_however_it_was_chosen(
    qtbot: QtBot, main_window: MainWindow
) -> None:
    combo = main_window.language_combo
    install_translation("fr-BE")  # as a sign-in applies the person's language
    qtbot.waitUntil(lambda: combo.currentData() == "fr-BE")
    assert combo.currentText() == "Français (Belgique)"
    install_translation("en-GB")
    qtbot.waitUntil(lambda: combo.currentData() == "en-GB")
