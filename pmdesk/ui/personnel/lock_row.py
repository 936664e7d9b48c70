"""The lock state of the person in the Personnel form, and Unlock."""

from __future__ import annotations

from datetime import datetime

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from pmdesk.ui.icons import icon, pixmap
from pmdesk.ui.system.common import local_number, local_time
from pmdesk.ui.translation import Retranslating


class PersonLock(Retranslating, QWidget):
    """Whether the person is locked out after failed logins; ``unlock_requested`` when Unlock
    is clicked (the page unlocks)."""

    unlock_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._editable = True
        self._state: tuple[datetime | None, bool, int] | None = None  # what show_state shows
        self.lock_icon = QLabel(self)
        self.lock_label = QLabel(self)
        self.lock_label.setObjectName("lockLabel")
        self.lock_label.setWordWrap(True)
        self.unlock_button = QPushButton(icon("unlock"), "", self)
        self.unlock_button.setObjectName("unlockButton")
        self.unlock_button.setAutoDefault(False)
        self.unlock_button.clicked.connect(self.unlock_requested)
        lock_row = QHBoxLayout(self)
        lock_row.setSpacing(8)
        lock_row.addWidget(self.lock_icon)
        lock_row.addWidget(self.lock_label, 1)
        lock_row.addWidget(self.unlock_button)
        lock_row.setContentsMargins(0, 4, 0, 0)
        self.retranslate()

    def retranslate(self) -> None:
        self.unlock_button.setText(self.tr("Unlock"))
        if self._state is not None:
            self.show_state(*self._state)

    def show_state(self, locked_until: datetime | None, locked: bool, failed: int) -> None:
        self._state = (locked_until, locked, failed)
        if locked and locked_until is not None:
            when = local_time(locked_until)
            self.lock_label.setText(
                self.tr("Locked until {time} after {n} failed logins.").format(
                    time=when, n=local_number(failed)
                )
            )
            self.lock_icon.setPixmap(pixmap("lock", 18, self.devicePixelRatioF()))
        else:
            text = self.tr("Not locked.")
            if failed:
                text += " " + self.tr("{n} failed logins since the last success.").format(
                    n=local_number(failed)
                )
            self.lock_label.setText(text)
            self.lock_icon.setPixmap(pixmap("unlock", 18, self.devicePixelRatioF()))
        self.unlock_button.setVisible(locked)
        self.unlock_button.setEnabled(self._editable)

    def set_editable(self, editable: bool) -> None:
        self._editable = editable
        self.unlock_button.setEnabled(editable)
