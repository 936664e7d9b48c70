"""The Personnel edit form (docs/design.md §1), field by field as in the product.

The form holds what the user typed until a save succeeds: a refused or conflicting save never
clears it. Errors from ``ValidationError.errors`` are shown under the field they belong to.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QLocale, Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.personnel import ACCESS_FLAGS, Choice, Lookups, PersonForm, PersonRecord
from pmdesk.ui.personnel.access_box import PersonAccess
from pmdesk.ui.personnel.address import ADDRESS_FIELDS, Address, AddressDialog
from pmdesk.ui.personnel.address_row import PersonAddress
from pmdesk.ui.personnel.form_fields import (
    CHOICE_FIELDS,
    TEXT_FIELDS,
    align_labels,
    field_labels,
    fit_placeholder,
    password_help,
    relabel,
)
from pmdesk.ui.personnel.helpdesk_row import HelpdeskRow
from pmdesk.ui.personnel.lock_row import PersonLock
from pmdesk.ui.personnel.money import (
    hourly_cost_placeholder,
    hourly_cost_text,
    hourly_cost_value,
)
from pmdesk.ui.personnel.sessions_box import PersonSessions
from pmdesk.ui.personnel.trusted_box import PersonTrustedIps
from pmdesk.ui.system.common import form_layout
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import FieldBox, MessageLabel, hint_label, label_fields

if TYPE_CHECKING:
    from pmdesk.core.sessions import SessionRow
    from pmdesk.core.trusted_ip_row import TrustedIpRow


class PersonEditor(Retranslating, QWidget):
    """Edit one person; the page does the saving."""

    changed = Signal()
    unlock_requested = Signal()
    remove_ips_requested = Signal(object)  # list of trusted-IP ids
    end_sessions_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("personEditor")
        self.record: PersonRecord | None = None
        self._baseline = PersonForm()
        self._lookups = Lookups([], [], [], [])
        self._editable = True
        self._loading = False
        self._cost_locale = QLocale()  # the language the Hourly Cost box is written in
        self.labels = field_labels()
        self.row_labels: dict[str, QLabel] = {}  # each form row's label, by field name

        self.title_label = QLabel(self)
        self.title_label.setProperty("role", "title")
        self.title_label.setObjectName("editorTitle")

        data_box, left, right = self._build_data_box()
        security_box = self._build_security_box(left, right)
        self.ip_box = PersonTrustedIps(self)
        self.ip_box.remove_requested.connect(self.remove_ips_requested)
        self.ip_table = self.ip_box.ip_table  # tests read the rows here

        self.message = MessageLabel(self)
        self.message.setObjectName("editorMessage")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(10)
        layout.addWidget(self.title_label)
        layout.addWidget(self.message)
        layout.addWidget(data_box)
        layout.addWidget(security_box)
        layout.addWidget(self.ip_box)
        layout.addStretch(1)
        for first, second in pairwise(self.tab_chain()):
            QWidget.setTabOrder(first, second)
        self.clear_for_new()
        self.retranslate()

    def retranslate(self) -> None:
        """Every fixed text, the title, the hints and the field errors in the app's language."""
        self.labels.update(field_labels())  # shared with the conflict dialog
        self.data_box.setTitle(self.tr("Personnel data"))
        self.security_box.setTitle(self.tr("Security"))
        for name, label in self.row_labels.items():
            relabel(label, self.labels.get(name) or self._row_titles()[name])
        for name in TEXT_FIELDS:
            if name not in {"password", "password_confirm", "email", "phone", "mobile"}:
                self.edits[name].setPlaceholderText(self.labels[name])
        self.edits["hourly_cost"].setPlaceholderText(hourly_cost_placeholder())
        self.newsletter_check.setText(self.tr("Newsletter"))
        self.invoicing_check.setText(self.tr("Invoicing"))
        self.newsletter_check.setAccessibleName(self.labels["email_newsletter"])
        self.invoicing_check.setAccessibleName(self.labels["email_invoicing"])
        self.visible_check.setText(self.labels["visible"])
        self.visible_check.setToolTip(
            self.tr(
                "Whether this person is listed in the suite's separate apps. It has nothing to "
                "do with the password: pmdesk lists this person and lets them sign in either way."
            )
        )
        self.visible_check.setAccessibleDescription(self.visible_check.toolTip())
        self.edits["password_confirm"].setAccessibleName(self.tr("Confirm password"))
        if self.record is None:
            self.title_label.setText(self.tr("New person"))
        self._show_password_help()
        self.set_lookups(self._lookups)
        cost = self.edits["hourly_cost"]  # read as typed, before the switch; written anew
        cost.setText(hourly_cost_text(hourly_cost_value(cost.text(), self._cost_locale)))
        self._cost_locale = QLocale()
        align_labels(*self._aligned)

    def _row_titles(self) -> dict[str, str]:
        """The rows that are not a field of their own."""
        return {"address": self.tr("Address"), "use_for": self.tr("Use e-mail for")}

    def _build_data_box(self) -> tuple[QGroupBox, QFormLayout, QFormLayout]:
        """Personnel data: name, number, contact, address, group, team, cost."""
        self.data_box = data_box = QGroupBox(self)
        self.boxes: dict[str, FieldBox] = {}
        self.edits: dict[str, QLineEdit] = {}
        for name in TEXT_FIELDS:
            edit = QLineEdit(self)
            edit.setObjectName(f"{name}Edit")
            edit.textEdited.connect(self._edited)
            self.edits[name] = edit
        self.edits["password"].setEchoMode(QLineEdit.EchoMode.Password)
        self.edits["password_confirm"].setEchoMode(QLineEdit.EchoMode.Password)
        self.edits["email"].setPlaceholderText("name@example.com")
        self.edits["hourly_cost"].setAlignment(Qt.AlignmentFlag.AlignRight)
        self.edits["phone"].setPlaceholderText("+32 …")
        self.edits["mobile"].setPlaceholderText("+32 …")

        self.combos: dict[str, QComboBox] = {}
        for name in CHOICE_FIELDS:
            combo = QComboBox(self)
            combo.setObjectName(f"{name}Combo")
            combo.setMinimumContentsLength(10)
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.activated.connect(self._edited)
            self.combos[name] = combo

        for name in TEXT_FIELDS:
            self.boxes[name] = FieldBox(self.edits[name], self)
        for name in CHOICE_FIELDS:
            self.boxes[name] = FieldBox(self.combos[name], self)

        self.address_row = PersonAddress(self)
        self.address_row.edited.connect(self._edited)
        self.address_button = self.address_row.button
        self.address_label = self.address_row.label
        self.address_error = self.address_row.error

        self.newsletter_check = QCheckBox(self)
        self.newsletter_check.setObjectName("newsletterCheck")
        self.invoicing_check = QCheckBox(self)
        self.invoicing_check.setObjectName("invoicingCheck")
        use_for = QHBoxLayout()
        use_for.setSpacing(16)
        use_for.addWidget(self.newsletter_check)
        use_for.addWidget(self.invoicing_check)
        use_for.addStretch(1)

        left = form_layout(vertical_spacing=6)
        for name in ("last_name", "first_name", "number"):
            self._add_row(left, name, self.boxes[name])
        self._add_row(left, "address", self.address_row)
        for name in ("phone", "mobile", "email"):
            self._add_row(left, name, self.boxes[name])
        self._add_row(left, "use_for", use_for)

        cost = QHBoxLayout()
        cost.setSpacing(6)
        currency = QLabel("€", self)
        cost.addWidget(currency)
        cost.addWidget(self.boxes["hourly_cost"], 1)
        right = form_layout(vertical_spacing=6)
        right.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # long labels above
        for name in CHOICE_FIELDS:
            self._add_row(right, name, self.boxes[name])
        self._add_row(right, "hourly_cost", cost)

        data_grid = QGridLayout(data_box)
        data_grid.setHorizontalSpacing(24)
        data_grid.addLayout(left, 0, 0)
        data_grid.addLayout(right, 0, 1)
        data_grid.setColumnStretch(0, 3)
        data_grid.setColumnStretch(1, 2)
        return data_box, left, right

    def _add_row(self, form: QFormLayout, name: str, field: QWidget | QHBoxLayout) -> None:
        """A row labelled as ``field_labels`` (or ``_row_titles``) say, in the app's language."""
        label = QLabel(self.labels.get(name) or self._row_titles()[name], self)
        self.row_labels[name] = label
        form.addRow(label, field)

    def _build_security_box(self, left: QFormLayout, right: QFormLayout) -> QGroupBox:
        """Security: login, password, the flags, the lock state and the sessions (its labels
        line up with the data box's ``left`` and ``right`` columns)."""
        self.security_box = security_box = QGroupBox(self)
        # "Visible" alone, under Confirm, read as "show the password". pmdesk only stores it.
        self.visible_check = QCheckBox(self)
        self.visible_check.setObjectName("visibleCheck")
        self.access = PersonAccess(self)
        self.flag_checks = self.access.checks
        self.access_hint = self.access.hint
        self.checks: dict[str, QCheckBox] = {
            "email_newsletter": self.newsletter_check,
            "email_invoicing": self.invoicing_check,
            "visible": self.visible_check,
            **self.flag_checks,
        }
        for check in self.checks.values():
            check.clicked.connect(self._edited)

        sec_left = form_layout(vertical_spacing=6)
        self._add_row(sec_left, "password", self.boxes["password"])
        self._add_row(sec_left, "password_confirm", self.boxes["password_confirm"])
        sec_left.addRow("", self.visible_check)
        self._add_row(sec_left, "login", self.boxes["login"])
        self.password_hint = hint_label("", self)  # what it says depends on the person
        self.password_hint.setObjectName("passwordHint")
        sec_left.addRow("", self.password_hint)

        self.lock_row = PersonLock(self)
        self.lock_row.unlock_requested.connect(self.unlock_requested)
        self.lock_icon = self.lock_row.lock_icon
        self.lock_label = self.lock_row.lock_label
        self.unlock_button = self.lock_row.unlock_button

        self.helpdesk_row = HelpdeskRow(self)  # its buttons: PersonActions
        self.sessions_row = PersonSessions(self)
        self.sessions_row.end_requested.connect(self.end_sessions_requested)
        self.sessions_table = self.sessions_row.sessions_table
        self.sessions_empty = self.sessions_row.sessions_empty
        self.end_sessions_button = self.sessions_row.end_sessions_button

        self._aligned = (left, sec_left)
        align_labels(left, sec_left)
        for form in (left, right, sec_left):
            label_fields(form)
        security_grid = QGridLayout(security_box)
        security_grid.setHorizontalSpacing(24)
        security_grid.addLayout(sec_left, 0, 0)
        security_grid.addWidget(self.access, 0, 1)
        security_grid.addWidget(self.lock_row, 1, 0, 1, 2)
        security_grid.addWidget(self.helpdesk_row, 2, 0, 1, 2)
        security_grid.addWidget(self.sessions_row, 3, 0, 1, 2)
        security_grid.setColumnStretch(0, 3)
        security_grid.setColumnStretch(1, 2)
        return security_box

    def tab_chain(self) -> list[QWidget]:
        """The inputs in the order a reader meets them: down the left column of each box, then
        down its right column, then what spans the box (Qt's order was the order they were
        made in, which jumped from Email to Hourly Cost to Login). The red remove buttons of
        trusted addresses follow, in ``set_trusted_ips``."""
        return [
            self.edits["last_name"],
            self.edits["first_name"],
            self.edits["number"],
            self.address_button,
            self.edits["phone"],
            self.edits["mobile"],
            self.edits["email"],
            self.newsletter_check,
            self.invoicing_check,
            *(self.combos[name] for name in CHOICE_FIELDS),
            self.edits["hourly_cost"],
            self.edits["password"],
            self.edits["password_confirm"],
            self.visible_check,
            self.edits["login"],
            *(self.flag_checks[name] for name in ACCESS_FLAGS),  # down each column of the grid
            self.unlock_button,
            self.helpdesk_row.cancel_button,
            self.helpdesk_row.issue_button,
            self.end_sessions_button,
            self.sessions_table,
        ]

    # ----- lookups ------------------------------------------------------------------------

    def set_lookups(self, lookups: Lookups) -> None:
        current = {name: self._combo_value(name) for name in CHOICE_FIELDS}
        self._lookups = lookups
        sources: dict[str, tuple[Sequence[Choice], str]] = {
            "location_id": (lookups.locations, self.tr("select a location")),
            "group_id": (lookups.groups, self.tr("select a usergroup")),
            "language_id": (lookups.languages, self.tr("select a language")),
            "team_id": (lookups.teams, self.tr("select a team")),
        }
        for name, (choices, placeholder) in sources.items():
            combo = self.combos[name]
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(placeholder, None)
            for choice in choices:
                combo.addItem(choice.name, choice.id)
            fit_placeholder(combo, placeholder)
            combo.blockSignals(False)
            self._set_combo(name, current[name])

    def choice_name(self, name: str, value: int | None) -> str:
        if value is None:
            return ""
        combo = self.combos[name]
        index = combo.findData(value)
        return combo.itemText(index) if index >= 0 else f"#{value}"

    def _combo_value(self, name: str) -> int | None:
        value = self.combos[name].currentData()
        return int(value) if value is not None else None

    def _set_combo(self, name: str, value: int | None) -> None:
        combo = self.combos[name]
        index = combo.findData(value) if value is not None else 0
        if index < 0:
            combo.addItem(f"#{value}", value)
            index = combo.count() - 1
        combo.setCurrentIndex(max(index, 0))

    # ----- values -------------------------------------------------------------------------

    def form(self) -> PersonForm:
        """What is in the form now, as typed."""
        values: dict[str, Any] = {name: self.edits[name].text() for name in TEXT_FIELDS}
        values["hourly_cost"] = hourly_cost_value(values["hourly_cost"])
        values.update({name: self._combo_value(name) for name in CHOICE_FIELDS})
        values.update({name: check.isChecked() for name, check in self.checks.items()})
        values.update({name: getattr(self.address(), name) for name in ADDRESS_FIELDS})
        return PersonForm(**values)

    def set_form(self, form: PersonForm) -> None:
        """Fill the form (without changing which record it edits)."""
        self._loading = True
        try:
            for name in TEXT_FIELDS:
                self.edits[name].setText(str(getattr(form, name)))
            self.edits["hourly_cost"].setText(hourly_cost_text(form.hourly_cost))
            for name in CHOICE_FIELDS:
                self._set_combo(name, getattr(form, name))
            for name, check in self.checks.items():
                check.setChecked(bool(getattr(form, name)))
            address = Address(**{name: getattr(form, name) for name in ADDRESS_FIELDS})
            self.address_row.set_address(address)
        finally:
            self._loading = False

    def load(self, record: PersonRecord) -> None:
        """Show a person as stored; the form is clean afterwards."""
        self.record = record
        self.clear_errors()
        self.set_form(record.form)
        self._baseline = self.form()
        self.title_label.setText(record.display_name)
        self.ip_box.setVisible(True)
        self.lock_row.setVisible(True)
        self._show_password_help()
        self.changed.emit()

    def clear_for_new(self, defaults: PersonForm | None = None) -> None:
        """An empty form for a new person."""
        self.record = None
        self.clear_errors()
        self.set_form(defaults or PersonForm())
        self._baseline = self.form()
        self.title_label.setText(self.tr("New person"))
        self.ip_box.setVisible(False)
        self.lock_row.setVisible(False)
        self.helpdesk_row.show_state(None)
        self.set_trusted_ips([])
        self.set_sessions(None)
        self._show_password_help()
        self.changed.emit()

    def detach(self) -> None:
        """Keep what was typed but save it as a new person next time (the record is gone)."""
        self.record = None
        self.title_label.setText(self.tr("New person"))
        self.ip_box.setVisible(False)
        self.lock_row.setVisible(False)
        self.helpdesk_row.show_state(None)
        self._show_password_help()
        self.changed.emit()

    def _show_password_help(self) -> None:
        """Password and Confirm say what an empty box means for this person: "unchanged" only
        where there is a password to keep."""
        placeholders, hint = password_help(self.record, self._editable)
        self.edits["password"].setPlaceholderText(placeholders[0])
        self.edits["password_confirm"].setPlaceholderText(placeholders[1])
        self.password_hint.setText(hint)
        self.password_hint.setVisible(bool(hint))
        if self.boxes["password"].error.isHidden():  # else it comes back when the error goes
            self.edits["password"].setAccessibleDescription(hint)

    def mark_saved(self, record: PersonRecord) -> None:
        """After a successful save: the typed values are now the stored ones."""
        self.load(record)

    def is_dirty(self) -> bool:
        return self.form() != self._baseline

    # ----- errors -------------------------------------------------------------------------

    def set_errors(self, errors: Mapping[str, str], *, focus: bool = True) -> list[str]:
        """Show each message next to its field, in the app's language (and again in the next
        one); returns the messages without a field. ``focus``: the first field with a message
        takes the focus."""
        for name, box in self.boxes.items():
            box.set_error(errors.get(name))
        self.address_row.set_errors(errors)
        known = set(self.boxes) | set(ADDRESS_FIELDS)
        rest = [message for name, message in errors.items() if name not in known]
        first = next((self.boxes[n].editor for n in self.boxes if errors.get(n)), None)
        if first is None and self.address_row.errors:
            first = self.address_button
        if focus and first is not None:
            first.setFocus()
        return rest

    def clear_errors(self) -> None:
        """Clear the messages under the fields (the message above the form is the page's)."""
        self.set_errors({})

    def field_error(self, name: str) -> str:
        if name in ADDRESS_FIELDS:
            return self.address_row.errors.get(name, "")
        error = self.boxes[name].error
        return error.text() if not error.isHidden() else ""

    # ----- address ------------------------------------------------------------------------

    def edit_address(self) -> AddressDialog:
        return self.address_row.edit()

    def address(self) -> Address:
        return self.address_row.address()

    # ----- lock state and trusted addresses -----------------------------------------------

    def set_lock_state(self, locked_until: datetime | None, locked: bool, failed: int) -> None:
        self.lock_row.show_state(locked_until, locked, failed)

    def set_sessions(self, rows: Sequence[SessionRow] | None, *, can_end: bool = False) -> None:
        """This person's open sessions (None: not shown, e.g. a new person)."""
        self.sessions_row.show_rows(rows, can_end=can_end)

    def set_trusted_ips(self, rows: Sequence[TrustedIpRow], *, can_remove: bool = False) -> None:
        """This person's trusted addresses, each with a red remove button (Tab reaches them
        after the rest of the form)."""
        self.ip_box.show_rows(rows, can_remove=can_remove, after=self.sessions_table)

    # ----- editing ------------------------------------------------------------------------

    def set_editable(self, editable: bool) -> None:
        self._editable = editable
        self.address_row.set_editable(editable)
        self._show_password_help()
        for edit in self.edits.values():
            edit.setReadOnly(not editable)
        for combo in self.combos.values():
            combo.setEnabled(editable)
        for check in self.checks.values():
            check.setEnabled(editable)
        self.lock_row.set_editable(editable)

    def _edited(self, *_args: object) -> None:
        if not self._loading:
            self.changed.emit()
