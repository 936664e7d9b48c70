"""Helpers for the System screens' tests."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QAbstractButton, QLabel, QScrollArea, QTabWidget, QWidget
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.page_context import Session
from pmdesk.ui.system.security import SecurityPage
from pmdesk.ui.tasks import TaskManager


def security_page_of(
    qtbot: QtBot, app: App, session: Session, tasks: TaskManager, size: tuple[int, int]
) -> SecurityPage:
    """A main window of its own for ``session`` (another user), showing System → Security."""
    window = MainWindow(app, session, tasks)
    qtbot.addWidget(window)
    window.resize(*size)
    window.show()
    page = open_page(qtbot, window, "security")
    assert isinstance(page, SecurityPage)
    return page


def open_page(qtbot: QtBot, window: MainWindow, key: str) -> QWidget:
    """Select every tab leading to page ``key`` (as a user clicks System, then the screen) and
    return the page's widget, built and visible."""
    lazy = window.pages[key]
    child: QWidget = lazy
    parent = lazy.parentWidget()
    while parent is not None and parent is not window:
        if isinstance(parent, QTabWidget) and parent.indexOf(child) >= 0:
            parent.setCurrentWidget(child)
            child = parent
        parent = parent.parentWidget()
    widget = lazy.build()
    qtbot.waitUntil(widget.isVisible)
    return widget


def not_clipped(top: QWidget) -> None:
    """Every visible label and button fits inside the window, and shows its whole text."""
    bounds = QRect(QPoint(0, 0), top.size())
    for widget in top.findChildren(QWidget):
        if not isinstance(widget, QLabel | QAbstractButton) or not widget.isVisibleTo(top):
            continue
        if not widget.text():
            continue
        where = QRect(widget.mapTo(top, QPoint(0, 0)), widget.size())
        scroll = _scroll_area_of(widget, top)
        if scroll is None:
            assert bounds.contains(where), f"{widget.text()[:40]!r} sticks out of the window"
        else:
            # Inside a scroll area: may be scrolled out of view, but never wider than it.
            view = scroll.viewport()
            left = view.mapTo(top, QPoint(0, 0)).x()
            assert left <= where.left() and where.right() <= left + view.width(), (
                f"{widget.text()[:40]!r} is wider than its scroll area"
            )
        if isinstance(widget, QLabel) and widget.wordWrap():
            continue
        hint = widget.minimumSizeHint() if isinstance(widget, QLabel) else widget.sizeHint()
        assert widget.width() >= hint.width() - 1, f"{widget.text()[:40]!r} is cut off"


def _scroll_area_of(widget: QWidget, top: QWidget) -> QScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None and parent is not top:
        if isinstance(parent, QScrollArea):
            return parent
        parent = parent.parentWidget()
    return None
