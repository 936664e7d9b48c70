"""Qt helpers shared by the screen tests: answer a message box, read a column of a model, and
whether a page has nothing running."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractItemModel, Qt
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from pmdesk.ui.message_boxes import button_with_text
from pmdesk.ui.personnel.view import PersonnelPage
from pmdesk.ui.system.log import LogPage
from pmdesk.ui.system.permissions import PermissionsPage
from pmdesk.ui.system.security import SecurityPage


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


# ----- a page has nothing running ------------------------------------------------------------
# One per screen, as each says "busy" its own way; the tests wait for these.


def security_idle(page: SecurityPage) -> bool:
    """System → Security: no background call, no trusted-IP page loading, the settings in."""
    return page.tasks.is_idle() and not page.model.loading and page.loaded


def personnel_idle(page: PersonnelPage) -> bool:
    """Maintenance → Personnel: no operation, no list block loading, the form's lists in."""
    return not page.busy.running and not page.model.loading and page._lookups is not None


def permissions_idle(page: PermissionsPage) -> bool:
    """System → Permissions: no operation, no background call."""
    return not page.busy_now and page.tasks.is_idle()


def log_idle(page: LogPage) -> bool:
    """System → Log: no background call, no block of events loading."""
    return page.tasks.is_idle() and not page.model.loading
