"""Qt helpers shared by the screen tests: answer a message box, read a column of a model."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from pmdesk.ui.message_boxes import button_with_text


def visible_box(qtbot: QtBot, parent: QWidget) -> QMessageBox:
    """The message box ``parent`` shows (waits for it)."""

    def box() -> QMessageBox | None:
        for child in parent.findChildren(QMessageBox):
            if child.isVisible():
                return child
        return None

    qtbot.waitUntil(lambda: box() is not None)
    found = box()
    assert found is not None
    return found


def answer(qtbot: QtBot, parent: QWidget, button_text: str) -> str:
    """Click ``button_text`` in the message box ``parent`` shows; returns the box's text."""
    box = visible_box(qtbot, parent)
    text = box.text()
    qtbot.mouseClick(button_with_text(box, button_text), Qt.MouseButton.LeftButton)
    return text


def column(model: QAbstractItemModel, number: int) -> list[Any]:
    """What ``model`` shows in column ``number``, row by row."""
    return [model.data(model.index(row, number)) for row in range(model.rowCount())]
