"""The QApplication of pmdesk: its name, icon, style and the input rules of every widget.

The same for the app, the self-test and the tests (``configure_application``).
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QEvent, QObject, QPointF, Qt
from PySide6.QtGui import QFont, QKeyEvent, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QPushButton,
    QStyleFactory,
    QToolButton,
    QWidget,
)

from pmdesk import APP_NAME, __version__
from pmdesk.ui import main_thread_gc
from pmdesk.ui.icons import app_icon, style_sheet


class InputRules(QObject):
    """Keyboard and mouse-wheel rules for every widget of the app, present and future.

    - Spin boxes, date edits and combo boxes take the wheel only when they have the focus
      (``StrongFocus`` instead of ``WheelFocus``); otherwise the wheel goes on to the page, so
      scrolling a page never changes a value on the way.
    - Return or Enter on a focused push or tool button clicks it, as Space does. Buttons that
      Qt already clicks on Return (a dialog's auto-default buttons) are left to Qt.
    """

    NAME = "pmdeskInputRules"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(self.NAME)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Wheel:
            return self._wheel(watched, event)
        if kind == QEvent.Type.KeyPress:
            return self._key(watched, event)
        if kind == QEvent.Type.Polish:
            self._polished(watched)
        return False

    @staticmethod
    def _key(watched: QObject, event: QEvent) -> bool:
        if not isinstance(watched, QPushButton | QToolButton) or not isinstance(event, QKeyEvent):
            return False
        if event.key() not in (Qt.Key.Key_Return, Qt.Key.Key_Enter) or event.isAutoRepeat():
            return False
        if event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier:
            return False  # Ctrl+Return and the like are shortcuts, not a click
        if isinstance(watched, QPushButton) and watched.autoDefault():
            return False  # QPushButton clicks itself
        if not (watched.isEnabled() and watched.isVisible() and watched.hasFocus()):
            return False
        watched.click()
        return True

    @staticmethod
    def _wheel(watched: QObject, event: QEvent) -> bool:
        if (
            isinstance(watched, QAbstractSpinBox | QComboBox)
            and isinstance(event, QWheelEvent)
            and not watched.hasFocus()
        ):
            _pass_wheel_on(watched, event)
            return True
        return False

    @staticmethod
    def _polished(watched: QObject) -> None:
        if (
            isinstance(watched, QAbstractSpinBox | QComboBox)
            and watched.focusPolicy() == Qt.FocusPolicy.WheelFocus
        ):
            watched.setFocusPolicy(Qt.FocusPolicy.StrongFocus)


def _pass_wheel_on(widget: QWidget, event: QWheelEvent) -> None:
    """Offer ``event`` to the parents of ``widget`` in turn, as Qt does with an unhandled wheel
    event (done here because Qt does not pass on wheel events sent by the app itself)."""
    position = event.position()
    child, parent = widget, widget.parentWidget()
    while parent is not None:
        position = QPointF(child.mapToParent(position))
        passed = QWheelEvent(
            position,
            event.globalPosition(),
            event.pixelDelta(),
            event.angleDelta(),
            event.buttons(),
            event.modifiers(),
            event.phase(),
            event.inverted(),
            event.source(),
            event.pointingDevice(),
        )
        passed.ignore()
        QApplication.sendEvent(parent, passed)
        if passed.isAccepted() or parent.isWindow():
            break
        if parent.testAttribute(Qt.WidgetAttribute.WA_NoMousePropagation):
            break
        child, parent = parent, parent.parentWidget()
    event.accept()  # handled: Qt offers it to no one else


def configure_application(app: QApplication) -> None:
    """Name, icon, style, wheel and key rules: the same for the app, the self-test and the tests."""
    if app.findChild(QObject, InputRules.NAME) is None:
        app.installEventFilter(InputRules(app))
    main_thread_gc.install(app)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName("pmdesk")
    app.setOrganizationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setWindowIcon(app_icon())
    fusion = QStyleFactory.create("Fusion")
    if fusion is not None:
        app.setStyle(fusion)
    font = QFont(app.font())
    if font.pointSizeF() < 9.5:
        font.setPointSizeF(9.5)
        app.setFont(font)
    app.setStyleSheet(style_sheet())


def application() -> QApplication:
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    return QApplication([sys.argv[0] if sys.argv else APP_NAME])
