"""Personnel and the login dialog in Dutch and French (issue 15): the header's language switch
applies at once to an open screen, and money is typed the language's way.

These read the shipped catalogues (``pmdesk/resources/i18n/*.qm``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal

import pytest
from PySide6.QtCore import QLocale, Qt
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.models import Person
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.personnel.view import PersonnelPage
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import install_translation
from tests.helpers.qt import personnel_idle

Switch = Callable[[str], None]


@pytest.fixture
def language(qapp: QApplication) -> Iterator[Switch]:
    """Switch the app's language as the header does; English and the locale come back after."""
    before = QLocale()

    def switch(code: str) -> None:
        assert install_translation(code)
        QApplication.processEvents()  # Qt posts LanguageChange to each window

    yield switch
    install_translation("en-GB")
    QApplication.processEvents()
    QLocale.setDefault(before)


@pytest.fixture
def page(qtbot: QtBot, main_window: MainWindow) -> PersonnelPage:
    widget = main_window.show_page("personnel")
    assert isinstance(widget, PersonnelPage)
    qtbot.waitUntil(lambda: personnel_idle(widget) and widget.editor.record is not None)
    return widget


def _header(page: PersonnelPage, column: int) -> str:
    return str(page.model.headerData(column, Qt.Orientation.Horizontal))


def _switched(qtbot: QtBot, check: Callable[[], bool]) -> None:
    qtbot.waitUntil(check, timeout=5_000)


def test_an_open_personnel_screen_switches_language_at_once(
    qtbot: QtBot, page: PersonnelPage, language: Switch
) -> None:
    editor = page.editor
    assert _header(page, 0) == "Lastname"
    assert editor.row_labels["last_name"].text() == "Lastname"

    language("fr-BE")
    _switched(qtbot, lambda: editor.row_labels["last_name"].text() == "Nom")
    assert [_header(page, c) for c in range(3)] == ["Nom", "Prénom", "Numéro"]
    assert editor.row_labels["group_id"].text() == "Groupe d'utilisateurs"
    assert editor.row_labels["login"].text() == "Identifiant"
    assert editor.edits["last_name"].accessibleName() == "Nom"  # screen readers follow
    assert page.save_button.text() == "Enregistrer"
    assert page.new_button.text() == "Nouveau"
    assert page.count_label.text() == "1 personne"
    assert editor.flag_checks["access_reception"].text() == "Accueil"
    assert editor.combos["group_id"].itemText(0) == "choisir un groupe"
    assert not editor.is_dirty()  # retranslating changes no value

    language("nl-BE")
    _switched(qtbot, lambda: editor.row_labels["last_name"].text() == "Naam")
    assert _header(page, 5) == "Gebruikersgroep"
    assert editor.row_labels["hourly_cost"].text() == "Uurkost"
    assert page.save_button.text() == "Opslaan"

    language("en-GB")
    _switched(qtbot, lambda: editor.row_labels["last_name"].text() == "Lastname")
    assert _header(page, 0) == "Lastname"
    assert page.save_button.text() == "Save"
    assert editor.edits["last_name"].accessibleName() == "Lastname"


def test_the_login_dialog_switches_language_at_once(
    qtbot: QtBot, tasks: TaskManager, language: Switch
) -> None:
    login = LoginDialog(tasks)
    qtbot.addWidget(login)
    login.show()
    assert login.username_label.text() == "Login"
    assert login.busy.text == "Opening database…"

    language("nl-BE")
    _switched(qtbot, lambda: login.username_label.text() == "Gebruikersnaam")
    assert login.password_label.text() == "Wachtwoord"
    assert login.login_button.text() == "Aanmelden"
    assert login.cancel_button.text() == "Annuleren"
    assert login.trust_check.text() == "Dit IP-adres vertrouwen"  # the code step too
    assert login.busy.text == "Databank openen…"

    language("fr-BE")
    _switched(qtbot, lambda: login.username_label.text() == "Identifiant")
    assert login.password_label.text() == "Mot de passe"
    assert login.windowTitle() == "Connexion"

    language("en-GB")
    _switched(qtbot, lambda: login.username_label.text() == "Login")
    assert login.login_button.text() == "Login"


def test_hourly_cost_typed_the_dutch_way_is_saved_as_an_amount(
    qtbot: QtBot, page: PersonnelPage, ui_app: App, language: Switch
) -> None:
    language("nl-BE")
    editor = page.editor
    _switched(qtbot, lambda: page.save_button.text() == "Opslaan")
    assert editor.edits["hourly_cost"].placeholderText() == "0,00"
    cost = editor.edits["hourly_cost"]
    cost.selectAll()
    qtbot.keyClick(cost, Qt.Key.Key_Delete)
    qtbot.keyClicks(cost, "1.234,50")
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: personnel_idle(page) and editor.message.isVisible())
    assert editor.message.text().endswith("opgeslagen.")
    record = editor.record
    assert record is not None
    with ui_app.db.session() as session:
        person = session.get(Person, record.id)
        assert person is not None
        assert person.hourly_cost == Decimal("1234.50")
    qtbot.waitUntil(lambda: cost.text() == "1234,50")  # shown again the Dutch way

    cost.selectAll()
    qtbot.keyClick(cost, Qt.Key.Key_Delete)
    qtbot.keyClicks(cost, "12,50")
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: personnel_idle(page) and editor.record.form.hourly_cost == "12.50")
    assert cost.text() == "12,50"

    language("en-GB")  # the typed amount follows the language: "12,50" becomes "12.50"
    _switched(qtbot, lambda: cost.text() == "12.50")
    assert not editor.is_dirty()


def test_an_amount_typed_before_a_switch_keeps_its_value(
    qtbot: QtBot, page: PersonnelPage, language: Switch
) -> None:
    """ "1.234" typed in Dutch is one thousand two hundred and thirty-four: after a switch to
    English the box says so ("1234"), not 1.234 read the English way."""
    language("nl-BE")
    editor = page.editor
    _switched(qtbot, lambda: page.save_button.text() == "Opslaan")
    cost = editor.edits["hourly_cost"]
    cost.selectAll()
    qtbot.keyClick(cost, Qt.Key.Key_Delete)
    qtbot.keyClicks(cost, "1.234")
    language("en-GB")
    _switched(qtbot, lambda: page.save_button.text() == "Save")
    assert cost.text() == "1234"
    assert editor.form().hourly_cost == "1234"
