"""Scroll areas that keep the keyboard focus, or a result just shown, in view (issue 19)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt, QTimer, Slot
from PySide6.QtWidgets import QApplication, QScrollArea, QWidget


class _FocusFollower(QObject):
    """Scrolls its scroll area to the widget that receives the keyboard focus inside it.

    A child of the scroll area: Qt disconnects it from ``focusChanged`` when the area goes.
    """

    def __init__(self, scroll: QScrollArea) -> None:
        super().__init__(scroll)
        self._scroll = scroll
        app = QApplication.instance()
        if isinstance(app, QApplication):
            app.focusChanged.connect(self._focus_changed)

    @Slot(QWidget, QWidget)
    def _focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        content = self._scroll.widget()
        if new is not None and content is not None and content.isAncestorOf(new):
            self._scroll.ensureWidgetVisible(new, 12, 12)


def follow_focus(scroll: QScrollArea) -> QScrollArea:
    """Make ``scroll`` show the widget that has the keyboard focus (Tab, a shortcut or a
    program moving it): no control is ever focused while scrolled out of view. Use on every
    QScrollArea of the app."""
    if scroll.property("followsFocus") is not True:
        scroll.setProperty("followsFocus", True)
        _FocusFollower(scroll)
        # Not a Tab stop of its own: an invisible stop between two controls (it would only
        # scroll, which following the focus already does).
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return scroll


def reveal(scroll: QScrollArea, widget: QWidget) -> None:
    """Scroll ``scroll`` so that ``widget`` (a result just shown inside it) is in view, once the
    layout has made room for it: a result below the visible part looks like nothing happened."""

    def show() -> None:
        holder = scroll.widget()
        layout = holder.layout() if holder is not None else None
        if layout is not None:
            layout.activate()
        if widget.isVisible():
            scroll.ensureWidgetVisible(widget, 0, 12)

    QTimer.singleShot(0, scroll, show)
