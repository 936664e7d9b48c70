"""Send test code, under the Code delivery form: the address (or mobile number) to send to, the
button, and a failed test in words."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from pmdesk.core.delivery.base import DeliveryError, failure_text
from pmdesk.ui.errors import error_text
from pmdesk.ui.icons import icon
from pmdesk.ui.translation import Retranslating, localize
from pmdesk.ui.widgets import hint_label

translate = QCoreApplication.translate


def test_failure_text(exc: BaseException) -> str:
    """A failed test in words, with the step that failed (token, connect, …) in front: the
    core's ``failure_text``, in the app's language."""
    if isinstance(exc, DeliveryError):
        return localize(failure_text(exc))
    return error_text(exc, translate("MailSettingsBox", "The test code could not be sent"))


class DeliveryTest(Retranslating, QWidget):
    """``requested(address)`` when Send test code is clicked (or Enter pressed) while it may
    be; the address gets the whole width of the box, the button beside it."""

    requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.test_edit = QLineEdit(self)
        self.test_edit.setObjectName("testAddressEdit")
        self.test_button = QPushButton(icon("mail"), "", self)
        self.test_button.setObjectName("sendTestButton")
        self.test_button.setAutoDefault(False)
        self.test_label = QLabel(self)
        self.test_label.setBuddy(self.test_edit)
        self.test_hint = hint_label("", self)
        self.test_edit.returnPressed.connect(self._clicked)
        self.test_button.clicked.connect(self._clicked)
        self._layout_row()
        self.retranslate()

    def retranslate(self) -> None:
        self.test_button.setText(self.tr("Send test code"))
        self.test_label.setText(self.tr("Send a test code to"))
        self.test_edit.setAccessibleName(self.test_label.text())
        self.test_hint.setText(self.tr("Uses the saved settings; the code in it is valid nowhere."))
        self.test_edit.setAccessibleDescription(self.test_hint.text())

    def _layout_row(self) -> None:
        test_row = QHBoxLayout()
        test_row.setSpacing(6)
        test_row.addWidget(self.test_edit, 1)
        test_row.addWidget(self.test_button)
        test_form = QVBoxLayout(self)
        test_form.setContentsMargins(0, 0, 0, 0)
        test_form.setSpacing(4)
        test_form.addWidget(self.test_label)
        test_form.addLayout(test_row)
        test_form.addWidget(self.test_hint)

    def address(self) -> str:
        return self.test_edit.text().strip()

    def _clicked(self) -> None:
        if self.test_button.isEnabled():
            self.requested.emit(self.address())
