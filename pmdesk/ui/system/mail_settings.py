"""How security codes are delivered (System → Security): outbox folder, SMTP e-mail or SMS gateway.

A view only: the Security page loads and saves (on worker threads). Each method shows the fields
it needs; errors appear under the field they belong to, as the user leaves it (the core's
``validate_delivery``, a pure function) and again from the service on Save.

The SMTP password and the SMS token go to this workstation's keyring (``ctx.secrets``) under
``smtp_key`` / ``sms_key``; they are never read back into the form: the field only says whether
one is stored.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.delivery.base import DeliverySettings
from pmdesk.core.delivery.factory import secret_key
from pmdesk.core.delivery.smtp import DEFAULT_PORTS
from pmdesk.core.errors import ValidationError
from pmdesk.core.screens import SecretState
from pmdesk.core.security import validate_delivery
from pmdesk.ui.icons import icon
from pmdesk.ui.system.common import form_layout, pad_spin_box
from pmdesk.ui.widgets import (
    BusyIndicator,
    FieldBox,
    MessageLabel,
    hint_label,
    label_fields,
    make_primary,
    set_invalid,
)

if TYPE_CHECKING:
    from pmdesk.core.delivery.base import Method, SmtpSecurity

LABEL_WIDTH = 118


class MailSettingsBox(QGroupBox):
    """``save_requested`` and ``test_requested(address)`` are handled by the page."""

    save_requested = Signal()
    test_requested = Signal(str)
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(self.tr("Code delivery"), parent)
        self.setObjectName("mailSettings")
        self._baseline = DeliverySettings()
        self._secret = SecretState()
        self._loading = False
        self._editable = True
        self._busy = False
        self._touched: set[str] = set()
        self.outbox_default = ""

        self.method_combo = QComboBox(self)
        self.method_combo.setObjectName("methodCombo")
        for method, text in (
            ("outbox", self.tr("Outbox folder (nothing is sent)")),
            ("smtp", self.tr("E-mail (SMTP server)")),
            ("sms", self.tr("SMS gateway")),
        ):
            self.method_combo.addItem(text, method)
        self.method_combo.currentIndexChanged.connect(self._method_changed)
        _compact(self.method_combo)

        # ----- the fields of each method -----
        self.edits: dict[str, QLineEdit] = {}
        for name, placeholder in (
            ("outbox_folder", ""),
            ("smtp_host", "smtp.example.com"),
            ("smtp_username", self.tr("only if the server needs a login")),
            ("smtp_password", ""),
            ("smtp_from", "pmdesk@example.com"),
            ("sms_url", "https://sms.example.com/send"),
            ("sms_token", ""),
        ):
            edit = QLineEdit(self)
            edit.setObjectName(f"{name}Edit")
            edit.setPlaceholderText(placeholder)
            edit.textEdited.connect(self._edited)
            edit.textEdited.connect(lambda _text, n=name: self._recheck(n))
            edit.editingFinished.connect(lambda n=name: self._left(n))
            self.edits[name] = edit
        for secret in ("smtp_password", "sms_token"):
            self.edits[secret].setEchoMode(QLineEdit.EchoMode.Password)
            self.edits[secret].setClearButtonEnabled(False)
        self.port_spin = QSpinBox(self)
        self.port_spin.setObjectName("smtpPortSpin")
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(587)
        self.port_spin.setMaximumWidth(120)
        pad_spin_box(self.port_spin)
        self.port_spin.valueChanged.connect(self._edited)
        self.port_spin.valueChanged.connect(lambda _value: self._recheck("smtp_port"))
        self.security_combo = QComboBox(self)
        self.security_combo.setObjectName("smtpSecurityCombo")
        for value, text in (
            ("starttls", self.tr("STARTTLS (port 587)")),
            ("tls", self.tr("TLS from the start (port 465)")),
            ("none", self.tr("None (local relay only)")),
        ):
            self.security_combo.addItem(text, value)
        self.security_combo.currentIndexChanged.connect(self._security_changed)
        _compact(self.security_combo)

        self.boxes: dict[str, FieldBox] = {
            name: FieldBox(edit, self) for name, edit in self.edits.items()
        }
        self.boxes["smtp_port"] = FieldBox(self.port_spin, self)
        self.boxes["smtp_security"] = FieldBox(self.security_combo, self)
        self.boxes["method"] = FieldBox(self.method_combo, self)

        self.browse_button = QPushButton(self.tr("Browse…"), self)
        self.browse_button.setObjectName("browseButton")
        self.browse_button.setAutoDefault(False)
        self.browse_button.clicked.connect(self._browse)
        folder_row = QHBoxLayout()
        folder_row.setSpacing(6)
        folder_row.addWidget(self.boxes["outbox_folder"], 1)
        folder_row.addWidget(self.browse_button, 0, Qt.AlignmentFlag.AlignTop)

        self.outbox_form = QWidget(self)
        outbox = _form(self.outbox_form)
        outbox.addRow(_label(self.tr("Folder"), self), folder_row)
        self.outbox_hint = hint_label("", self)
        outbox.addRow("", self.outbox_hint)

        self.smtp_form = QWidget(self)
        smtp = _form(self.smtp_form)
        smtp.addRow(_label(self.tr("Server"), self), self.boxes["smtp_host"])
        smtp.addRow(_label(self.tr("Port"), self), self.boxes["smtp_port"])
        smtp.addRow(_label(self.tr("Security"), self), self.boxes["smtp_security"])
        smtp.addRow(_label(self.tr("User name"), self), self.boxes["smtp_username"])
        smtp.addRow(_label(self.tr("Password"), self), self.boxes["smtp_password"])
        smtp.addRow(_label(self.tr("From"), self), self.boxes["smtp_from"])

        self.sms_form = QWidget(self)
        sms = _form(self.sms_form)
        sms.addRow(_label(self.tr("Gateway URL"), self), self.boxes["sms_url"])
        sms.addRow(_label(self.tr("Token"), self), self.boxes["sms_token"])

        self.secret_hint = hint_label("", self)
        self.secret_hint.setObjectName("secretHint")

        self.busy = BusyIndicator(self)
        self.save_button = make_primary(
            QPushButton(icon("save-light"), self.tr("Save delivery settings"), self)
        )
        self.save_button.setObjectName("saveDeliveryButton")
        self.save_button.clicked.connect(self._save_clicked)
        save_row = QHBoxLayout()
        save_row.addWidget(self.busy)
        save_row.addStretch(1)
        save_row.addWidget(self.save_button)

        line = QFrame(self)
        line.setFrameShape(QFrame.Shape.HLine)
        line.setStyleSheet("color: #e3e8ee;")
        self.test_edit = QLineEdit(self)
        self.test_edit.setObjectName("testAddressEdit")
        self.test_edit.setPlaceholderText(self.tr("your e-mail address"))
        self.test_edit.textChanged.connect(lambda _t: self._update())
        self.test_edit.returnPressed.connect(self._test_clicked)
        self.test_button = QPushButton(icon("mail"), self.tr("Send test code"), self)
        self.test_button.setObjectName("sendTestButton")
        self.test_button.setAutoDefault(False)
        self.test_button.clicked.connect(self._test_clicked)
        test_row = QHBoxLayout()
        test_row.setSpacing(6)
        test_row.addWidget(self.test_edit, 1)
        test_row.addWidget(self.test_button)
        test_form = _form()
        test_form.addRow(_label(self.tr("Send a test to"), self), test_row)
        self.test_hint = hint_label(
            self.tr("Uses the saved settings; the code in it is valid nowhere."), self
        )
        test_form.addRow("", self.test_hint)
        self.message = MessageLabel(self)
        self.message.setObjectName("deliveryMessage")

        method_form = _form()
        method_form.addRow(_label(self.tr("Send codes by"), self), self.boxes["method"])
        for form in (outbox, smtp, sms, test_form, method_form):
            label_fields(form)
        self.test_edit.setAccessibleDescription(self.test_hint.text())

        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addLayout(method_form)
        layout.addWidget(self.outbox_form)
        layout.addWidget(self.smtp_form)
        layout.addWidget(self.sms_form)
        layout.addWidget(self.secret_hint)
        layout.addLayout(save_row)
        layout.addWidget(line)
        layout.addLayout(test_form)
        layout.addWidget(self.message)
        self._follow_visual_tab_order()
        self._show_method("outbox")
        self._update()

    def _follow_visual_tab_order(self) -> None:
        """Tab goes through the fields top to bottom as they are laid out (they were made in
        another order: Server was followed by User name, not Port)."""
        order: list[QWidget] = [
            self.method_combo,
            self.edits["outbox_folder"],
            self.browse_button,
            self.edits["smtp_host"],
            self.port_spin,
            self.security_combo,
            self.edits["smtp_username"],
            self.edits["smtp_password"],
            self.edits["smtp_from"],
            self.edits["sms_url"],
            self.edits["sms_token"],
            self.save_button,
            self.test_edit,
            self.test_button,
        ]
        for first, second in pairwise(order):
            QWidget.setTabOrder(first, second)

    # ----- values -------------------------------------------------------------------------

    @property
    def method(self) -> str:
        return str(self.method_combo.currentData() or "outbox")

    def delivery(self) -> DeliverySettings:
        """The settings as typed (for Save); fields of the other methods keep their values."""
        method: Method = self.method  # type: ignore[assignment]
        security: SmtpSecurity = str(self.security_combo.currentData())  # type: ignore[assignment]
        return replace(
            self._baseline,
            method=method,
            outbox_folder=self.edits["outbox_folder"].text(),
            smtp_host=self.edits["smtp_host"].text(),
            smtp_port=self.port_spin.value(),
            smtp_security=security,
            smtp_username=self.edits["smtp_username"].text(),
            smtp_from=self.edits["smtp_from"].text(),
            sms_url=self.edits["sms_url"].text(),
        )

    def secret_typed(self) -> str:
        """The password (SMTP) or token (SMS) typed for the method shown; '' when none."""
        if self.method == "smtp":
            return self.edits["smtp_password"].text()
        if self.method == "sms":
            return self.edits["sms_token"].text()
        return ""

    def is_dirty(self) -> bool:
        return _comparable(self.delivery()) != _comparable(self._baseline) or bool(
            self.secret_typed()
        )

    def load(self, delivery: DeliverySettings, secret: SecretState, outbox_default: str) -> None:
        """Show the saved settings (what is typed is replaced; passwords are never shown)."""
        self._loading = True
        self._baseline = delivery
        self._secret = secret
        self.outbox_default = outbox_default
        self._touched.clear()
        self.method_combo.setCurrentIndex(max(0, self.method_combo.findData(delivery.method)))
        self.edits["outbox_folder"].setText(delivery.outbox_folder)
        self.edits["smtp_host"].setText(delivery.smtp_host)
        self.port_spin.setValue(delivery.smtp_port)
        self.security_combo.setCurrentIndex(
            max(0, self.security_combo.findData(delivery.smtp_security))
        )
        self.edits["smtp_username"].setText(delivery.smtp_username)
        self.edits["smtp_from"].setText(delivery.smtp_from)
        self.edits["sms_url"].setText(delivery.sms_url)
        self.edits["smtp_password"].clear()
        self.edits["sms_token"].clear()
        self.edits["outbox_folder"].setPlaceholderText(outbox_default)
        for box in self.boxes.values():
            box.set_error(None)
        self._loading = False
        self._show_method(delivery.method)
        self._update()

    def mark_saved(self, delivery: DeliverySettings, secret: SecretState) -> None:
        self.load(delivery, secret, self.outbox_default)

    def keep_secret(self, secret: str, problem: str) -> None:
        """The settings were saved but the keyring refused the password/token: put what was
        typed back in its field (Save tries again) with ``problem`` under it."""
        name = "sms_token" if self.method == "sms" else "smtp_password"
        self.edits[name].setText(secret)
        self.boxes[name].set_error(problem)
        self._update()

    def set_errors(self, errors: dict[str, str]) -> list[str]:
        """Show each error under its field; returns the messages that have no field here."""
        rest = []
        for name, text in errors.items():
            box = self.boxes.get(name)
            if box is None:
                rest.append(text)
            else:
                box.set_error(text)
                self._touched.add(name)  # checked again as it is corrected
        return rest

    def field_error(self, name: str) -> str:
        box = self.boxes[name]
        return box.error.text() if not box.error.isHidden() else ""

    def set_editable(self, editable: bool) -> None:
        self._editable = editable
        self._update()

    def set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        if busy:
            self.busy.start(text)
        else:
            self.busy.stop()
        self._update()

    # ----- reacting -----------------------------------------------------------------------

    def _method_changed(self, _index: int) -> None:
        self._show_method(self.method)
        self.boxes["method"].set_error(None)
        self._edited()

    def _security_changed(self, _index: int) -> None:
        if self._loading:
            return
        # Follow the usual port of the new security, unless the user chose another one.
        if self.port_spin.value() in DEFAULT_PORTS.values():
            self.port_spin.setValue(DEFAULT_PORTS[str(self.security_combo.currentData())])
        self._left("smtp_security")
        self._edited()

    def _edited(self, *_args: object) -> None:
        if self._loading:
            return
        self.message.clear_message()
        self._update()
        self.changed.emit()

    def _left(self, name: str) -> None:
        """Check the fields already visited as the user leaves one (no database involved)."""
        if self._loading:
            return
        self._touched.add(name)
        try:
            validate_delivery(self.delivery())
            errors: dict[str, str] = {}
        except ValidationError as exc:
            errors = exc.errors
        for field in self._touched:
            box = self.boxes.get(field)
            if box is not None and field not in {"smtp_password", "sms_token"}:
                box.set_error(errors.get(field))

    def _recheck(self, name: str) -> None:
        """A field marked in red is checked again as it is typed in: the error goes as soon as
        the value is valid (or says what is still wrong), without waiting for the user to
        leave the field or press Save."""
        if self._loading or not self.field_error(name) or name in {"smtp_password", "sms_token"}:
            return
        try:
            validate_delivery(self.delivery())
        except ValidationError as exc:
            self.boxes[name].set_error(exc.errors.get(name))
        else:
            self.boxes[name].set_error(None)

    def _show_method(self, method: str) -> None:
        self.outbox_form.setVisible(method == "outbox")
        self.smtp_form.setVisible(method == "smtp")
        self.sms_form.setVisible(method == "sms")
        self.test_edit.setPlaceholderText(
            self.tr("mobile number") if method == "sms" else self.tr("e-mail address")
        )
        self._update()

    def _update(self) -> None:
        method = self.method
        can = self._editable and not self._busy
        for widget in (
            self.method_combo,
            self.port_spin,
            self.security_combo,
            self.browse_button,
            *self.edits.values(),
        ):
            widget.setEnabled(self._editable)
        dirty = self.is_dirty()
        self.save_button.setEnabled(can and dirty)
        self.test_button.setEnabled(can and not dirty and bool(self.test_edit.text().strip()))
        self.test_edit.setEnabled(self._editable)
        self.test_button.setToolTip(
            self.tr("Save the settings first: the test uses the saved ones.") if dirty else ""
        )
        folder = self.edits["outbox_folder"].text().strip() or self.outbox_default
        self.outbox_hint.setText(
            self.tr(
                "Each code is written as an .eml file to {folder}; nothing leaves this computer. "
                "For trying pmdesk out, not for real use."
            ).format(folder=folder or self.tr("the default outbox"))
        )
        self.secret_hint.setText(self._secret_text(method))
        self.secret_hint.setVisible(bool(self.secret_hint.text()))
        placeholder = self._secret_placeholder()
        self.edits["smtp_password"].setPlaceholderText(placeholder)
        self.edits["sms_token"].setPlaceholderText(placeholder)

    def _secret_placeholder(self) -> str:
        key = secret_key(self.delivery())
        if key is None:
            return ""
        if key == self._secret.key and self._secret.stored:
            return self.tr("stored in the keyring; type to replace")
        return self.tr("not stored on this computer yet")

    def _secret_text(self, method: str) -> str:
        if method == "outbox":
            return ""
        key = secret_key(self.delivery())
        what = self.tr("password") if method == "smtp" else self.tr("token")
        if self._secret.problem and key == self._secret.key:
            return self.tr("The keyring could not be read: {problem}").format(
                problem=self._secret.problem
            )
        if method == "smtp" and key is None:
            return self.tr("No user name: the server is used without a login.")
        return self.tr(
            "The {what} is kept in this computer's keyring, never in the database: every "
            "workstation that sends codes needs it once."
        ).format(what=what)

    def _save_clicked(self) -> None:
        if self.save_button.isEnabled():
            self.save_requested.emit()

    def _test_clicked(self) -> None:
        if self.test_button.isEnabled():
            self.test_requested.emit(self.test_edit.text().strip())

    def _browse(self) -> None:
        dialog = QFileDialog(self, self.tr("Outbox folder"))
        dialog.setObjectName("outboxFolderDialog")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        current = self.edits["outbox_folder"].text().strip() or self.outbox_default
        if current:
            dialog.setDirectory(current)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def chosen(folder: str) -> None:
            self.edits["outbox_folder"].setText(folder)
            set_invalid(self.edits["outbox_folder"], False)
            self._left("outbox_folder")
            self._edited()

        dialog.fileSelected.connect(chosen)
        dialog.open()


def _comparable(delivery: DeliverySettings) -> DeliverySettings:
    """Settings as the core stores them, so that whitespace alone is no change."""
    return replace(
        delivery,
        outbox_folder=delivery.outbox_folder.strip(),
        smtp_host=delivery.smtp_host.strip().lower(),
        smtp_username=delivery.smtp_username.strip(),
        smtp_from=delivery.smtp_from.strip(),
        sms_url=delivery.sms_url.strip(),
    )


def _form(parent: QWidget | None = None) -> QFormLayout:
    layout = form_layout()
    layout.setContentsMargins(0, 0, 0, 0)
    if parent is not None:
        parent.setLayout(layout)
    return layout


def _label(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setMinimumWidth(LABEL_WIDTH)
    return label


def _compact(combo: QComboBox) -> None:
    """A combo box that does not widen its column to its longest item."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(14)
