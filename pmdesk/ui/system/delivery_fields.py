"""The fields of the Security screen's delivery form, one row per ``DeliverySettings`` field.

Which rows a method shows, their labels and their one-line hints come from the core
(``pmdesk.core.delivery.fields``); the form here only lays them out: ``arrange(settings)`` puts
the rows of ``settings.method`` in the form, in order, with the secret's row among them, and
hides the others. Values are read back with ``settings(baseline)``.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.delivery.base import DeliverySettings
from pmdesk.core.delivery.factory import PROVIDER_SMTP, secret_label
from pmdesk.core.delivery.fields import FIELD_HINTS, FIELD_LABELS, SECRET_HINTS, method_fields
from pmdesk.ui.system.common import form_layout, pad_spin_box
from pmdesk.ui.system.delivery_words import core_word
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import FieldBox, hint_label

if TYPE_CHECKING:
    from pmdesk.core.delivery.base import MicrosoftAuth, SmtpSecurity

LABEL_WIDTH = 118
SECRET = "secret"  # the row of the secret (it goes to the keyring, not to DeliverySettings)
_WITH_BUTTON = ("outbox_folder", SECRET)  # rows with a button beside the field

TEXT_FIELDS = (
    "outbox_folder",
    "smtp_host",
    "smtp_username",
    "smtp_from",
    "sms_url",
    "m365_tenant_id",
    "m365_client_id",
    "m365_thumbprint",
    "google_client_email",
    "sms_account",
    "sms_sender",
    "phone_region",
)
_PLACEHOLDERS = {
    "smtp_host": "smtp.example.com",
    "smtp_from": "pmdesk@example.com",
    "sms_url": "https://sms.example.com/send",
    "m365_tenant_id": "00000000-0000-0000-0000-000000000000",
    "m365_client_id": "00000000-0000-0000-0000-000000000000",
    "phone_region": "BE",
}
# The secret's row follows this field (None: it comes first).
_SECRET_AFTER: dict[str, str | None] = {
    "smtp": "smtp_username",
    "m365": "m365_auth",
    "graph": "m365_auth",
    "google": "smtp_from",
    "sms": "sms_url",
    "twilio": "sms_account",
    "vonage": "sms_account",
    "cm": None,
}
# Shorter labels where the core's would widen the label column (they say the same thing).
_SHORT_LABELS: dict[str, object] = {
    "phone_region": QT_TRANSLATE_NOOP("DeliveryFields", "Phone region"),
    "m365_thumbprint": QT_TRANSLATE_NOOP("DeliveryFields", "Thumbprint"),
}
_SECRET_LABELS: dict[str, object] = {
    "password": QT_TRANSLATE_NOOP("DeliveryFields", "Password"),
    "certificate private key (PEM)": QT_TRANSLATE_NOOP("DeliveryFields", "Private key (PEM)"),
    "service account JSON key": QT_TRANSLATE_NOOP("DeliveryFields", "JSON key"),
}
# Labels and hints that depend on the method (the core's cover all methods at once).
_METHOD_LABELS: dict[tuple[str, str], object] = {
    ("twilio", "sms_account"): QT_TRANSLATE_NOOP("DeliveryFields", "Account SID"),
    ("vonage", "sms_account"): QT_TRANSLATE_NOOP("DeliveryFields", "API key"),
}
_MAILBOX = QT_TRANSLATE_NOOP("DeliveryFields", "The mailbox that sends the codes.")
_SENDER = QT_TRANSLATE_NOOP(
    "DeliveryFields", "A number (+32…) or a name of up to 11 letters and digits."
)
_METHOD_HINTS: dict[tuple[str, str], object] = {
    ("smtp", "smtp_host"): QT_TRANSLATE_NOOP(
        "DeliveryFields", "The name of your mail server, such as smtp.example.com."
    ),
    ("smtp", "smtp_from"): QT_TRANSLATE_NOOP("DeliveryFields", "The address the codes come from."),
    ("m365", "smtp_from"): _MAILBOX,
    ("google", "smtp_from"): _MAILBOX,
    ("graph", "smtp_from"): _MAILBOX,
    ("twilio", "sms_account"): QT_TRANSLATE_NOOP(
        "DeliveryFields", "Twilio Console → Account Info → Account SID."
    ),
    ("vonage", "sms_account"): QT_TRANSLATE_NOOP(
        "DeliveryFields", "Vonage API Dashboard → API key."
    ),
    ("vonage", "sms_sender"): _SENDER,
    ("cm", "sms_sender"): _SENDER,
}
_ENTRA_SECRET = QT_TRANSLATE_NOOP(
    "DeliveryFields", "Certificates & secrets → the secret's Value (not its ID)."
)
_PEM_HINT = QT_TRANSLATE_NOOP(
    "DeliveryFields", "The certificate's PEM private key: paste it, or choose its .pem file."
)
_SECRET_HINTS: dict[tuple[str, str], object] = {
    ("m365", "secret"): _ENTRA_SECRET,
    ("graph", "secret"): _ENTRA_SECRET,
    ("m365", "certificate"): _PEM_HINT,
    ("graph", "certificate"): _PEM_HINT,
    ("google", "secret"): QT_TRANSLATE_NOOP(
        "DeliveryFields",
        "The service account's JSON key file, as downloaded: paste it or choose the file.",
    ),
}

translate = QCoreApplication.translate


def field_label(name: str, method: str = "") -> str:
    label = _METHOD_LABELS.get((method, name)) or _SHORT_LABELS.get(name) or FIELD_LABELS[name]
    return core_word(label)


def every_label() -> list[str]:
    """Every label the form can show (for one label column that does not move)."""
    names = [field_label(name) for name in FIELD_LABELS]
    names += [field_label(name, method) for method, name in _METHOD_LABELS]
    secrets = (DeliverySettings(method=m) for m in ("smtp", "google", "sms", "twilio", "cm"))
    names += [secret_name(s) for s in secrets]
    names.append(secret_name(DeliverySettings(method="m365", m365_auth="certificate")))
    return names


def secret_hint(settings: DeliverySettings) -> str:
    """The hint under the secret: where to find it, for the method (and Entra sign-in) chosen."""
    method = settings.method
    which = settings.m365_auth if method in {"m365", "graph"} else "secret"
    return core_word(_SECRET_HINTS.get((method, which)) or SECRET_HINTS.get(method, ""))


def field_hint(name: str, method: str) -> str:
    """The one-line hint under ``name`` for ``method``."""
    if name == "smtp_host" and method in PROVIDER_SMTP:
        return translate("DeliveryFields", "Empty: {host}.").format(host=PROVIDER_SMTP[method][0])
    if name == "phone_region":
        return translate(
            "DeliveryFields",
            "Numbers stored without a country code are read as this country's: BE, NL, …",
        )
    return core_word(_METHOD_HINTS.get((method, name)) or FIELD_HINTS.get(name, ""))


def secret_name(settings: DeliverySettings) -> str:
    """What the secret is called on its label: 'Password', 'Client secret', 'JSON key', …"""
    label = secret_label(settings)
    return core_word(_SECRET_LABELS.get(label) or label[:1].upper() + label[1:])


def secret_in_sentence(settings: DeliverySettings) -> str:
    """The secret's name inside a sentence ('password', 'client secret'); names and acronyms
    keep their capitals ('JSON key', 'Auth Token')."""
    name = secret_name(settings)
    words = name.split() or [""]
    if words[0].isupper() or (len(words) > 1 and all(w[:1].isupper() for w in words)):
        return name
    return name[:1].lower() + name[1:]


def key_in_a_file(settings: DeliverySettings) -> bool:
    """Whether the secret is a key file (a service account's JSON key, a PEM private key)."""
    microsoft = settings.method in {"m365", "graph"}
    return settings.method == "google" or (microsoft and settings.m365_auth == "certificate")


def rows(settings: DeliverySettings) -> list[str]:
    """The rows to show for these settings, in order, with ``SECRET`` among them."""
    names = [
        name
        for name in method_fields(settings.method)
        if name != "m365_thumbprint" or settings.m365_auth == "certificate"
    ]
    if settings.method in _SECRET_AFTER:
        after = _SECRET_AFTER[settings.method]
        names.insert(names.index(after) + 1 if after in names else 0, SECRET)
    return names


class DeliveryFields(Retranslating, QWidget):
    """The form's rows: ``edits`` (line edits by field name, and ``SECRET``), ``port_spin``,
    ``security_combo``, ``auth_combo``; ``boxes`` (each input with its error and hint)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        inputs = self._build_inputs()
        self._build_boxes(inputs)
        self.browse_button = _button("browseButton", self)
        # A JSON key or a PEM private key is a file: read it rather than paste it.
        self.key_file_button = _button("keyFileButton", self)
        self.buttons = {"outbox_folder": self.browse_button, SECRET: self.key_file_button}
        self.rows = {name: self._row_with_button(name) for name in _WITH_BUTTON}
        self.folder_row = self.rows["outbox_folder"]

        self.form: QFormLayout = form_layout()
        self.form.setContentsMargins(0, 0, 0, 0)
        self.setLayout(self.form)
        self.shown: list[str] = []
        for name in inputs:
            self.row_widget(name).hide()
            self.labels[name].hide()
        self._settings = DeliverySettings()
        self.retranslate()

    def retranslate(self) -> None:
        """The buttons and choices; the rows' labels and hints follow the method (``arrange``)."""
        self.browse_button.setText(translate("DeliveryFields", "Browse…"))
        self.key_file_button.setText(translate("DeliveryFields", "From file…"))
        self.edits["google_client_email"].setPlaceholderText(
            translate("DeliveryFields", "filled in from the JSON key")
        )
        for combo, texts in (
            (
                self.security_combo,
                (
                    translate("DeliveryFields", "STARTTLS (port 587)"),
                    translate("DeliveryFields", "TLS from the start (port 465)"),
                    translate("DeliveryFields", "None (local relay only)"),
                ),
            ),
            (
                self.auth_combo,
                (
                    translate("DeliveryFields", "Client secret"),
                    translate("DeliveryFields", "Certificate"),
                ),
            ),
        ):
            for index, text in enumerate(texts):
                combo.setItemText(index, text)
        self._label_rows(self._settings)

    def _build_inputs(self) -> dict[str, QWidget]:
        """Every input of every method, by field name."""
        self.edits: dict[str, QLineEdit] = {}
        for name in (*TEXT_FIELDS, SECRET):
            edit = QLineEdit(self)
            edit.setObjectName(f"{name}Edit")
            edit.setPlaceholderText(_PLACEHOLDERS.get(name, ""))
            self.edits[name] = edit
        self.edits[SECRET].setEchoMode(QLineEdit.EchoMode.Password)
        self.edits["google_client_email"].setReadOnly(True)
        region = self.edits["phone_region"]
        region.setMaxLength(3)
        region.setMaximumWidth(90)

        self.port_spin = QSpinBox(self)
        self.port_spin.setObjectName("smtpPortSpin")
        self.port_spin.setRange(1, 65535)
        self.port_spin.setValue(587)
        self.port_spin.setMaximumWidth(120)
        pad_spin_box(self.port_spin)
        self.security_combo = _combo(self, "smtpSecurityCombo", ("starttls", "tls", "none"))
        self.auth_combo = _combo(self, "m365AuthCombo", ("secret", "certificate"))
        return {
            **self.edits,
            "smtp_port": self.port_spin,
            "smtp_security": self.security_combo,
            "m365_auth": self.auth_combo,
        }

    def _build_boxes(self, inputs: dict[str, QWidget]) -> None:
        """Each input in its box (error and hint under it) with its label."""
        self.boxes: dict[str, FieldBox] = {}
        self.hints: dict[str, QLabel] = {}
        self.labels: dict[str, QLabel] = {}
        for name, editor in inputs.items():
            box = FieldBox(editor, self)
            hint = hint_label("", box)
            hint.setObjectName(f"{name}Hint")
            layout = box.layout()
            assert layout is not None
            if name not in _WITH_BUTTON:  # their hint goes under the button too
                layout.addWidget(hint)
            self.boxes[name] = box
            self.hints[name] = hint
            label = QLabel(self)
            label.setBuddy(editor)
            self.labels[name] = label

    def _row_with_button(self, name: str) -> QWidget:
        """The field with its button beside it, and the hint under both."""
        row = QWidget(self)
        line = QHBoxLayout()
        line.setSpacing(6)
        line.addWidget(self.boxes[name], 1)
        line.addWidget(self.buttons[name], 0, Qt.AlignmentFlag.AlignTop)
        column = QVBoxLayout(row)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addLayout(line)
        column.addWidget(self.hints[name])
        return row

    def row_widget(self, name: str) -> QWidget:
        """What the form shows for ``name``: its box, or the row with its button."""
        row = self.rows.get(name)
        return row if row is not None else self.boxes[name]

    def arrange(self, settings: DeliverySettings) -> None:
        """Lay out the rows of ``settings.method`` (labels and hints to match)."""
        wanted = rows(settings)
        if wanted != self.shown:
            while self.form.rowCount():
                taken = self.form.takeRow(0)
                # Delete the layout items (not their widgets): a widget keeps a pointer to
                # its first item, and the form would measure the new one from a stale cache.
                for item in (taken.labelItem, taken.fieldItem):
                    if item is not None:
                        shiboken6.delete(item)
            for name in self.shown:
                self.row_widget(name).hide()
                self.labels[name].hide()
            for name in wanted:
                self.form.addRow(self.labels[name], self.row_widget(name))
                self.labels[name].show()
                self.row_widget(name).show()
            self.shown = wanted
        self.key_file_button.setVisible(key_in_a_file(settings))
        provider = PROVIDER_SMTP.get(settings.method)
        self.edits["smtp_host"].setPlaceholderText(provider[0] if provider else "smtp.example.com")
        self._settings = settings
        self._label_rows(settings)

    def _label_rows(self, settings: DeliverySettings) -> None:
        """The labels and hints of the rows shown, for ``settings``' method."""
        for name in self.shown:
            text = secret_name(settings) if name == SECRET else field_label(name, settings.method)
            self.labels[name].setText(text)
            editor = self.boxes[name].editor
            editor.setAccessibleName(text)
            if name == SECRET:
                hint = secret_hint(settings)
            elif name == "outbox_folder":
                continue  # the box words it with the folder in it
            else:
                hint = field_hint(name, settings.method)
            self.set_hint(name, hint)

    def set_hint(self, name: str, text: str) -> None:
        hint = self.hints[name]
        hint.setText(text)
        hint.setVisible(bool(text))
        editor = self.boxes[name].editor
        if self.boxes[name].error.isHidden():
            editor.setAccessibleDescription(text)

    def inputs(self) -> list[QWidget]:
        """The inputs shown, top to bottom (for the tab order)."""
        found: list[QWidget] = []
        for name in self.shown:
            found.append(self.boxes[name].editor)
            button = self.buttons.get(name)
            if button is not None and not button.isHidden():
                found.append(button)
        return found

    def load(self, delivery: DeliverySettings) -> None:
        for name in TEXT_FIELDS:
            self.edits[name].setText(str(getattr(delivery, name)))
        self.edits[SECRET].clear()
        self.port_spin.setValue(delivery.smtp_port)
        self.security_combo.setCurrentIndex(
            max(0, self.security_combo.findData(delivery.smtp_security))
        )
        self.auth_combo.setCurrentIndex(max(0, self.auth_combo.findData(delivery.m365_auth)))

    def settings(self, baseline: DeliverySettings) -> DeliverySettings:
        """``baseline`` with the values typed (the method is the caller's)."""
        security: SmtpSecurity = str(self.security_combo.currentData())  # type: ignore[assignment]
        auth: MicrosoftAuth = str(self.auth_combo.currentData())  # type: ignore[assignment]
        texts = {name: self.edits[name].text() for name in TEXT_FIELDS}
        return replace(
            baseline,
            smtp_port=self.port_spin.value(),
            smtp_security=security,
            m365_auth=auth,
            **texts,  # type: ignore[arg-type]
        )


def comparable(delivery: DeliverySettings) -> DeliverySettings:
    """Settings as the core stores them, so that whitespace alone is no change."""
    values = {
        f.name: getattr(delivery, f.name).strip()
        for f in fields(DeliverySettings)
        if isinstance(getattr(delivery, f.name), str)
    }
    values["smtp_host"] = values["smtp_host"].lower()
    values["phone_region"] = values["phone_region"].upper()
    return replace(delivery, **values)


def _combo(parent: QWidget, name: str, values: tuple[str, ...]) -> QComboBox:
    """A choice of ``values`` (their texts are set by ``retranslate``)."""
    combo = QComboBox(parent)
    combo.setObjectName(name)
    for value in values:
        combo.addItem(value, value)
    compact(combo)
    combo.resize(combo.sizeHint())  # its size until a method shows it
    return combo


def _button(name: str, parent: QWidget) -> QPushButton:
    button = QPushButton(parent)
    button.setObjectName(name)
    button.setAutoDefault(False)
    return button


def compact(combo: QComboBox) -> None:
    """A combo box that does not widen its column to its longest item."""
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(14)
