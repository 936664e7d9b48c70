"""Shared screen pieces follow a language change: the search field's icon buttons, a failed
call's generic line and the start-up failure texts."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QToolButton, QWidget
from pytestqt.qtbot import QtBot

from pmdesk.config import ConfigError
from pmdesk.ui.errors import error_text
from pmdesk.ui.lists import search_box
from pmdesk.ui.startup import describe_failure
from pmdesk.ui.translation import install_translation


def _names(parent: QWidget) -> set[str]:
    return {b.toolTip() for b in parent.findChildren(QToolButton) if b.toolTip()}


def test_the_search_fields_buttons_are_named_again_in_the_new_language(
    qtbot: QtBot, qapp: object
) -> None:
    parent = QWidget()
    qtbot.addWidget(parent)
    edit, _timer = search_box(parent, "search", 300, lambda: None)
    parent.show()
    assert _names(edit) >= {"Search"}
    assert install_translation("nl-BE")
    qtbot.waitUntil(lambda: "Zoeken" in _names(edit))
    assert install_translation("en-GB")
    qtbot.waitUntil(lambda: "Search" in _names(edit))


def test_failures_are_said_in_the_chosen_language(qapp: object) -> None:
    assert install_translation("fr-BE")
    failure = describe_failure(ConfigError("broken"))
    assert failure.title == "Le fichier de paramètres est illisible"
    assert failure.advice == "Corrigez ou supprimez le fichier, puis relancez pmdesk."
    assert install_translation("en-GB")
    assert describe_failure(ConfigError("broken")).title == "The settings file cannot be read"


def test_an_unexpected_error_gets_the_generic_line(
    qapp: object, caplog: pytest.LogCaptureFixture
) -> None:
    assert install_translation("nl-BE")
    with caplog.at_level("CRITICAL"):
        said = error_text(KeyError("x"), "Dat is niet gelukt")
    assert said == "Dat is niet gelukt (KeyError)."
