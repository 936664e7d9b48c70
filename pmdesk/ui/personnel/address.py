"""The address dialog behind "Click here to change the address.": street, postcode, city,
country."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from pmdesk.ui.icons import app_icon
from pmdesk.ui.personnel.form_fields import field_labels, relabel
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import FieldBox, label_fields, make_primary

ADDRESS_FIELDS = ("street", "postcode", "city", "country")


@dataclass(frozen=True)
class Address:
    street: str = ""
    postcode: str = ""
    city: str = ""
    country: str = ""

    def summary(self) -> str:
        place = " ".join(p for p in (self.postcode.strip(), self.city.strip()) if p)
        return ", ".join(p for p in (self.street.strip(), place, self.country.strip()) if p)


class AddressDialog(Retranslating, QDialog):
    def __init__(
        self,
        address: Address,
        errors: Mapping[str, str] | None = None,
        parent: QWidget | None = None,
        *,
        read_only: bool = False,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("addressDialog")
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(420)
        errors = errors or {}
        self.edits: dict[str, QLineEdit] = {}
        self.boxes: dict[str, FieldBox] = {}
        labels = field_labels()
        self.labels: dict[str, QLabel] = {}
        form = QFormLayout()
        form.setVerticalSpacing(8)
        for name in ADDRESS_FIELDS:
            edit = QLineEdit(getattr(address, name), self)
            edit.setObjectName(f"{name}Edit")
            edit.setReadOnly(read_only)
            box = FieldBox(edit, self)
            box.set_error(errors.get(name))
            self.edits[name] = edit
            self.boxes[name] = box
            self.labels[name] = QLabel(labels[name], self)
            form.addRow(self.labels[name], box)
        label_fields(form)
        self.read_only = read_only
        if read_only:
            # Only Close: an OK (even a greyed one) next to read-only boxes still looks like
            # a form to fill in.
            buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        else:
            buttons = QDialogButtonBox(
                QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
            )
            make_primary(buttons.button(QDialogButtonBox.StandardButton.Ok))
            buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 16)
        layout.setSpacing(12)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self.edits["street"].setFocus()
        self.retranslate()

    def retranslate(self) -> None:
        self.setWindowTitle(
            self.tr("Address (view only)") if self.read_only else self.tr("Address")
        )
        labels = field_labels()
        for name, label in self.labels.items():
            relabel(label, labels[name])

    def address(self) -> Address:
        return Address(**{name: edit.text() for name, edit in self.edits.items()})
