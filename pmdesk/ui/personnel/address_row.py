"""The address row of the Personnel form: a summary, the link that opens the address dialog,
and the message under it."""

from __future__ import annotations

from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from pmdesk.core.errors import joined
from pmdesk.ui.icons import icon
from pmdesk.ui.personnel.address import ADDRESS_FIELDS, Address, AddressDialog
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import FieldError, link_button


class PersonAddress(Retranslating, QWidget):
    """The person's address as typed; ``edited`` when the dialog changed it."""

    edited = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._address = Address()
        self.errors: dict[str, str] = {}
        self._editable = True
        self.button = link_button("", self)
        self.button.setObjectName("addressButton")
        self.button.setIcon(icon("address"))
        self.button.clicked.connect(self.edit)
        self.label = QLabel(self)
        self.label.setObjectName("addressLabel")
        self.label.setProperty("role", "muted")
        self.label.setWordWrap(True)
        self.error = FieldError(self, self.button)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.button, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(self.label)
        column.addWidget(self.error)
        self.retranslate()

    def retranslate(self) -> None:
        # A read-only user is not invited to change what they cannot save.
        self.button.setText(
            self.tr("Click here to change the address.")
            if self._editable
            else self.tr("Click here to see the whole address.")
        )
        self.label.setText(self._address.summary() or self.tr("No address yet"))

    def address(self) -> Address:
        return self._address

    def set_address(self, address: Address) -> None:
        self._address = address
        self.retranslate()

    def set_errors(self, errors: Mapping[str, str]) -> None:
        """Keep the messages of the address fields in ``errors`` and show them under the link."""
        self.errors = {k: v for k, v in errors.items() if k in ADDRESS_FIELDS}
        self.error.set_error(joined(list(self.errors.values())) or None)

    def set_editable(self, editable: bool) -> None:
        self._editable = editable
        self.retranslate()

    def edit(self) -> AddressDialog:
        dialog = AddressDialog(self._address, self.errors, self, read_only=not self._editable)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def accepted() -> None:
            new = dialog.address()
            if new != self._address:
                self.set_address(new)
                self.set_errors({})
                self.edited.emit()

        dialog.accepted.connect(accepted)
        dialog.open()
        return dialog
