"""A non-modal bar "Removed 3 trusted addresses. [Undo]" that goes away by itself.

It asks nothing and blocks nothing: the list stays usable while it shows. ``duration_ms``
(10 s by default) is how long Undo is offered; tests give a short one instead of sleeping.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QWidget

from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import MessageLabel

UNDO_DURATION_MS = 10_000


class UndoBar(Retranslating, QWidget):
    """``offer(text)`` shows the text and Undo; a click emits ``undo_requested`` once."""

    undo_requested = Signal()

    def __init__(self, parent: QWidget | None = None, *, duration_ms: int = UNDO_DURATION_MS):
        super().__init__(parent)
        self.setObjectName("undoBar")
        self.duration_ms = duration_ms
        self.message = MessageLabel(self)
        self.message.setObjectName("undoMessage")
        self.undo_button = QPushButton(self)
        self.undo_button.setObjectName("undoButton")
        self.undo_button.setAutoDefault(False)
        self.undo_button.clicked.connect(self._undo)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.dismiss)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.message, 1)
        layout.addWidget(self.undo_button)
        self.hide()
        self.retranslate()

    def retranslate(self) -> None:
        self.undo_button.setText(self.tr("Undo"))

    def offer(self, text: str, accessible_undo: str) -> None:
        """Show ``text`` with Undo for ``duration_ms``; a newer offer replaces an older one."""
        self.message.show_success(text)
        self.undo_button.setAccessibleName(accessible_undo)
        self.undo_button.setToolTip(accessible_undo)
        self.show()
        self._timer.start(self.duration_ms)

    @property
    def offered(self) -> bool:
        parent = self.parentWidget()
        return self.isVisibleTo(parent) if parent is not None else self.isVisible()

    def dismiss(self) -> None:
        self._timer.stop()
        self.hide()

    def _undo(self) -> None:
        self.dismiss()
        self.undo_requested.emit()
