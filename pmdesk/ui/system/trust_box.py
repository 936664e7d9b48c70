"""System → Security's "Trust and codes": how long an address stays trusted, a code stays
valid and a command-line session lasts, the addresses never trusted, and the helpdesk mailbox
that receives the trust alerts (issue 16 §4)."""

from __future__ import annotations

from typing import TypedDict

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.security import (
    CODE_TTL_MINUTES_RANGE,
    HELPDESK_MAILBOX_MAX_LENGTH,
    NEVER_TRUSTED_MAX_LENGTH,
    SESSION_HOURS_RANGE,
    TRUST_DAYS_RANGE,
    SecuritySettingsView,
)
from pmdesk.ui.icons import icon
from pmdesk.ui.system.common import form_layout, spin_box
from pmdesk.ui.system.field_texts import describe, field_error, relabel
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import FieldBox, MessageLabel, hint_label, make_primary


class TrustBox(Retranslating, QGroupBox):
    """The trust settings' fields; the page saves them (``save_requested``)."""

    #: Something was typed or changed (the message and the fields' errors are cleared).
    edited = Signal()
    save_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("trustBox")
        self._build_spins()
        self.never_trusted_box = self._build_never_trusted()
        self.helpdesk_box = self._build_helpdesk()
        # Made before them, the sessions spin sits below the address list: Tab goes down.
        QWidget.setTabOrder(self.never_trusted_edit, self.session_hours_spin)
        QWidget.setTabOrder(self.session_hours_spin, self.helpdesk_edit)
        trust_row = self._build_save_row()
        trust_form = self._build_form()
        trust_layout = QVBoxLayout(self)
        trust_layout.setSpacing(8)
        trust_layout.addLayout(trust_form)
        trust_layout.addLayout(trust_row)
        self.hint = hint_label("", self)
        trust_layout.addWidget(self.hint)
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("Trust and codes"))
        self.trust_days_spin.setSuffix(self.tr(" days"))
        self.code_ttl_spin.setSuffix(self.tr(" minutes"))
        self.session_hours_spin.setSuffix(self.tr(" hours"))
        session_help = self.tr(
            "How long `pmdesk login` keeps the command line signed in. The desktop app stays "
            "signed in while it is open."
        )
        self.session_hours_spin.setToolTip(session_help)
        self.session_hours_spin.setAccessibleDescription(session_help)
        describe(
            self.never_trusted_edit,
            self.tr("e.g. 10.0.0.5, 10.1.0.0/24"),
            self.tr(
                "Proxies and connection poolers: everyone behind them shares their address, "
                "so it is never trusted. IP addresses or networks, separated by commas."
            ),
        )
        describe(
            self.helpdesk_edit,
            self.tr("e.g. helpdesk@example.com (optional)"),
            self.tr(
                "When an address outside the office networks is trusted, the person gets an "
                'e-mail ("Not you? Call the helpdesk"); this mailbox gets a copy. One e-mail '
                "address; empty: only the person."
            ),
        )
        self.trust_save_button.setText(self.tr("Save"))
        rows = (
            (self.tr("Trust an address for"), self.trust_days_spin),
            (self.tr("A code is valid for"), self.code_ttl_spin),
            (self.tr("Never trust"), self.never_trusted_edit),
            (self.tr("Command-line sessions last"), self.session_hours_spin),
            (self.tr("Helpdesk mailbox"), self.helpdesk_edit),
        )
        for label, (text, editor) in zip(self.row_labels, rows, strict=True):
            relabel(label, text, editor)
        self.never_trusted_edit.setAccessibleName(self.tr("Never trust these addresses"))
        self.helpdesk_edit.setAccessibleName(self.tr("Helpdesk mailbox for trust alerts"))
        self.hint.setText(
            self.tr(
                "Trusted addresses are removed automatically when their time is up; a "
                "shorter period applies at once. On a shared database (PostgreSQL, "
                "MariaDB), loopback, link-local and local-socket connections are never "
                "trusted either. A trust outside the office networks is announced by e-mail "
                "to the person and the helpdesk mailbox."
            )
        )

    def _build_spins(self) -> None:
        """The three spin boxes (``self.*_spin``), each in its field box (``self.*_box``)."""
        self.trust_days_spin = spin_box(TRUST_DAYS_RANGE, "", self)
        self.trust_days_spin.setObjectName("trustDaysSpin")
        self.code_ttl_spin = spin_box(CODE_TTL_MINUTES_RANGE, "", self)
        self.code_ttl_spin.setObjectName("codeTtlSpin")
        self.session_hours_spin = spin_box(SESSION_HOURS_RANGE, "", self)
        self.session_hours_spin.setObjectName("sessionHoursSpin")
        self.trust_days_box = FieldBox(self.trust_days_spin, self)
        self.code_ttl_box = FieldBox(self.code_ttl_spin, self)
        self.session_hours_box = FieldBox(self.session_hours_spin, self)
        for spin in self.spins():
            spin.valueChanged.connect(self._edited)

    def _build_never_trusted(self) -> FieldBox:
        """The addresses never trusted (``self.never_trusted_edit``), in its field box."""
        self.never_trusted_edit, box = self._text_field(
            "neverTrustedEdit", NEVER_TRUSTED_MAX_LENGTH
        )
        return box

    def _build_helpdesk(self) -> FieldBox:
        """The helpdesk mailbox (``self.helpdesk_edit``), in its field box."""
        self.helpdesk_edit, box = self._text_field(
            "helpdeskMailboxEdit", HELPDESK_MAILBOX_MAX_LENGTH
        )
        return box

    def _text_field(self, name: str, max_length: int) -> tuple[QLineEdit, FieldBox]:
        """A line edit in its field box. Twice the column's length may be typed: the core
        refuses what is too long with a message rather than the field cutting it."""
        edit = QLineEdit(self)
        edit.setObjectName(name)
        edit.setMaxLength(max_length * 2)
        edit.textEdited.connect(self._edited)
        return edit, FieldBox(edit, self)

    def _build_save_row(self) -> QHBoxLayout:
        """The message (``self.trust_message``), then Save (``self.trust_save_button``)."""
        self.trust_save_button = make_primary(QPushButton(icon("save-light"), "", self))
        self.trust_save_button.setObjectName("saveTrustButton")
        self.trust_save_button.clicked.connect(self.save_requested)
        self.trust_message = MessageLabel(self)
        self.trust_message.setObjectName("trustMessage")
        trust_row = QHBoxLayout()
        trust_row.addWidget(self.trust_message, 3)
        trust_row.addStretch(1)  # Save keeps its own width while no message is shown
        trust_row.addWidget(self.trust_save_button, 0, Qt.AlignmentFlag.AlignTop)
        return trust_row

    def _build_form(self) -> QFormLayout:
        trust_form = form_layout()
        boxes = (
            self.trust_days_box,
            self.code_ttl_box,
            self.never_trusted_box,
            self.session_hours_box,
            self.helpdesk_box,
        )
        self.row_labels = [QLabel(self) for _box in boxes]
        for label, box in zip(self.row_labels, boxes, strict=True):
            trust_form.addRow(label, box)
        # The address list takes the width it needs; the spin boxes keep theirs.
        trust_form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.ExpandingFieldsGrow)
        return trust_form

    def spins(self) -> tuple[QSpinBox, QSpinBox, QSpinBox]:
        return (self.trust_days_spin, self.code_ttl_spin, self.session_hours_spin)

    def load(self, settings: SecuritySettingsView, *, editable: bool) -> None:
        """Show the saved settings (without announcing an edit)."""
        for spin, value in zip(self.spins(), _trust_values(settings), strict=True):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self.never_trusted_edit.setText(settings.never_trusted_addresses)
        self.helpdesk_edit.setText(settings.helpdesk_mailbox)
        self.clear_errors()
        self.set_editable(editable)

    def set_editable(self, editable: bool) -> None:
        for spin in self.spins():
            spin.setEnabled(editable)
        self.never_trusted_edit.setEnabled(editable)
        self.helpdesk_edit.setEnabled(editable)

    def is_dirty(self, settings: SecuritySettingsView) -> bool:
        return (
            [spin.value() for spin in self.spins()] != list(_trust_values(settings))
            or self.never_trusted_edit.text().strip() != settings.never_trusted_addresses
            or self.helpdesk_edit.text().strip() != settings.helpdesk_mailbox
        )

    def values(self) -> TrustValues:
        """What the fields hold, as ``SecurityService.update`` takes it."""
        days, minutes, hours = (spin.value() for spin in self.spins())
        return TrustValues(
            trust_days=days,
            code_ttl_minutes=minutes,
            never_trusted_addresses=self.never_trusted_edit.text(),
            session_hours=hours,
            helpdesk_mailbox=self.helpdesk_edit.text(),
        )

    def set_errors(self, errors: dict[str, str]) -> list[str]:
        """Each field's error under it; nothing is left for the message."""
        self.trust_days_box.set_error(field_error(errors, "trust_days"))
        self.code_ttl_box.set_error(field_error(errors, "code_ttl_minutes"))
        self.session_hours_box.set_error(field_error(errors, "session_hours"))
        self.never_trusted_box.set_error(field_error(errors, "never_trusted_addresses"))
        self.helpdesk_box.set_error(field_error(errors, "helpdesk_mailbox"))
        return []

    def clear_errors(self) -> None:
        for box in (
            self.trust_days_box,
            self.code_ttl_box,
            self.session_hours_box,
            self.never_trusted_box,
            self.helpdesk_box,
        ):
            box.set_error(None)

    def _edited(self, _value: object) -> None:
        self.trust_message.clear_message()
        self.clear_errors()
        self.edited.emit()


class TrustValues(TypedDict):
    """The box's fields, by ``SecurityService.update``'s names."""

    trust_days: int
    code_ttl_minutes: int
    never_trusted_addresses: str
    session_hours: int
    helpdesk_mailbox: str


def _trust_values(settings: SecuritySettingsView) -> tuple[int, int, int]:
    """The values of the Trust and codes spin boxes, in their order."""
    return (settings.trust_days, settings.code_ttl_minutes, settings.session_hours)
