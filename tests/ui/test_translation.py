"""Switching the app's language (pmdesk.ui.translation; issue 15, points 2 and 4)."""

from __future__ import annotations

from datetime import UTC, datetime

from PySide6.QtCore import QLocale
from PySide6.QtWidgets import QDialogButtonBox, QLabel, QLineEdit, QWidget
from pytestqt.qtbot import QtBot

from pmdesk.core.errors import ValidationError
from pmdesk.core.i18n import translate
from pmdesk.ui.system.common import local_money, local_number, local_time
from pmdesk.ui.translation import (
    Retranslating,
    current_language,
    error_text,
    install_translation,
    localize,
)
from pmdesk.ui.widgets import FieldError, MessageLabel


class Caption(Retranslating, QLabel):
    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.retranslate()

    def retranslate(self) -> None:
        self.setText(QDialogButtonBox.tr("Cancel"))
        self.setToolTip(local_time(datetime(2026, 12, 2, 14, 5, tzinfo=UTC)))


def test_qts_own_buttons_follow_the_language(qtbot: QtBot) -> None:
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
    )
    qtbot.addWidget(box)
    install_translation("fr-BE")
    french = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
    )
    qtbot.addWidget(french)
    assert sorted(b.text() for b in french.buttons()) == ["Annuler", "Enregistrer"]
    install_translation("nl-BE")
    dutch = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
    )
    qtbot.addWidget(dutch)
    assert sorted(b.text() for b in dutch.buttons()) == ["Annuleren", "Opslaan"]
    assert current_language() == "nl-BE"


def test_an_open_widget_retranslates_at_once(qtbot: QtBot) -> None:
    window = QWidget()
    qtbot.addWidget(window)
    caption = Caption(window)
    window.show()
    assert caption.toolTip() == "2 Dec 2026 14:05"
    install_translation("fr-BE")
    qtbot.waitUntil(lambda: caption.toolTip() == "2 déc. 2026 14:05")
    install_translation("en-GB")
    qtbot.waitUntil(lambda: caption.toolTip() == "2 Dec 2026 14:05")
    assert current_language() == "en-GB"


def test_numbers_and_money_follow_the_language(qtbot: QtBot) -> None:
    install_translation("nl-BE")
    assert (local_number(1234.5, 2), local_money(1234.5)) == ("1.234,50", "€\xa01.234,50")
    install_translation("fr-BE")
    group = QLocale().groupSeparator()
    assert local_money(1234.5) == f"1{group}234,50\xa0€"  # no line break inside an amount
    install_translation("en-GB")
    assert (local_number(1234.5, 2), local_money(1234.5)) == ("1,234.50", "€1,234.50")


def test_a_core_sentence_without_a_translation_shows_in_english(qtbot: QtBot) -> None:
    install_translation("fr-BE")
    text = translate("no such context", "Nothing for {who} here.").format(who="An")
    assert localize(text) == "Nothing for An here."
    error = ValidationError({"name": text})
    assert localize(error.errors["name"]) == "Nothing for An here."
    assert error_text(RuntimeError("plain")) == "plain"


def test_a_core_sentence_already_shown_follows_a_language_switch(qtbot: QtBot) -> None:
    """Under a field and above a form: the widgets keep what they were given, so a message
    from the core is shown again in the new language (no screen keeps a copy to re-show)."""
    window = QWidget()
    qtbot.addWidget(window)
    edit = QLineEdit(window)
    under_field = FieldError(window, edit)
    above_form = MessageLabel(window)
    taken = translate("personnel", "This login is already taken.")
    under_field.set_error(taken)
    above_form.show_error(taken)
    window.show()
    assert under_field.text() == above_form.text() == "This login is already taken."
    install_translation("nl-BE")
    dutch = "Deze gebruikersnaam is al in gebruik."
    qtbot.waitUntil(lambda: under_field.text() == dutch and above_form.text() == dutch)
    assert edit.accessibleDescription() == dutch
    under_field.set_error(None)
    above_form.clear_message()
    install_translation("en-GB")
    qtbot.waitUntil(lambda: current_language() == "en-GB")
    assert (under_field.text(), above_form.text()) == ("", "")
    assert under_field.isHidden() and above_form.isHidden()
