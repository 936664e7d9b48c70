"""How security codes are delivered (System → Security): every method of the core, from the
outbox folder to Microsoft 365, Google Workspace, Microsoft Graph and the SMS providers.

A view only: the Security page loads and saves (on worker threads). The form shows the fields
the chosen method needs (``delivery_fields``, described by ``pmdesk.core.delivery.fields``),
each with its hint; errors appear under the field they belong to, as the user leaves it (the
core's ``validate_delivery``, a pure function) and again from the service on Save.

The secret (password, token, client secret, PEM private key or a service account's JSON key)
goes to this workstation's keyring (``ctx.secrets``) under ``factory.secret_key``; it is never
read back into the form: the field only says whether one is stored. A pasted JSON key fills in
the service account (``oauth.parse_service_account``).

When the configured method's recent sends failed, the box says so at its top
(``SecurityService.delivery_health``, read on a worker thread of the page's task pool).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from itertools import pairwise
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.delivery.base import (
    METHODS,
    DeliverySettings,
    is_sms,
)
from pmdesk.core.delivery.factory import secret_key
from pmdesk.core.delivery.smtp import DEFAULT_PORTS
from pmdesk.core.screens import SecretState
from pmdesk.core.security import DeliveryHealthReport
from pmdesk.ui.icons import icon
from pmdesk.ui.query import Query
from pmdesk.ui.system.common import form_layout
from pmdesk.ui.system.delivery_checks import DeliveryChecks
from pmdesk.ui.system.delivery_fields import (
    LABEL_WIDTH,
    SECRET,
    DeliveryFields,
    compact,
    comparable,
    every_label,
    secret_in_sentence,
)
from pmdesk.ui.system.delivery_secret import (
    breakable,
    keyring_text,
    method_description,
    method_name,
    read_key,
    secret_placeholder,
    secret_problem,
)
from pmdesk.ui.system.delivery_support import (
    DeliveryHealthLabel,
    KeepInView,
    open_folder_dialog,
    open_key_file_dialog,
)
from pmdesk.ui.system.delivery_test import DeliveryTest, test_failure_text
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import Retranslating, localize
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
    from pmdesk.core.delivery.base import Method

__all__ = ["MailSettingsBox", "SecretState", "secret_key"]

REVEAL_MS = 2000  # how long a field just marked is kept in view while the page settles


class MailSettingsBox(Retranslating, QGroupBox):
    """``save_requested`` and ``test_requested(address)`` are handled by the page."""

    save_requested = Signal()
    test_requested = Signal(str)
    changed = Signal()

    def __init__(
        self,
        tasks: TaskManager,
        read_health: Callable[[], DeliveryHealthReport],
        parent: QWidget | None = None,
    ) -> None:
        """``read_health()`` (blocking, run on a worker of ``tasks``): how recent sends went."""
        super().__init__(parent)
        self.setObjectName("mailSettings")
        self._key_reading = Query(self, tasks, label="key file", failed=self._key_not_read)
        self._baseline = DeliverySettings()
        self._secret: SecretState = SecretState()
        self._loading = False
        self._editable = True
        self._busy = False
        self._testing = False
        self._keep_in_view = KeepInView(self, REVEAL_MS)
        self.outbox_default = ""

        self.health = DeliveryHealthLabel(tasks, read_health, self)
        method_form = self._build_method()
        self._build_fields()
        save_row = self._build_save()
        self.tester = DeliveryTest(self)
        self.test_edit, self.test_button = self.tester.test_edit, self.tester.test_button
        self.test_hint = self.tester.test_hint
        self.message = MessageLabel(self)
        self.message.setObjectName("deliveryMessage")
        self._layout_box(method_form, save_row, self.tester)
        self._connect_fields()
        self.retranslate()

    def retranslate(self) -> None:
        """The box's texts in the language just chosen; the rows follow the method shown."""
        self.setTitle(self.tr("Code delivery"))
        for index in range(self.method_combo.count()):
            self.method_combo.setItemText(index, method_name(self.method_combo.itemData(index)))
        self.method_label.setText(self.tr("Send codes by"))
        self.method_combo.setAccessibleName(self.method_label.text())
        self.save_button.setText(self.tr("Save delivery settings"))
        self._align_labels()
        self.health.show_warning(self.health.warning)
        self._show_method()

    def _build_method(self) -> QFormLayout:
        self.method_combo = QComboBox(self)
        self.method_combo.setObjectName("methodCombo")
        for method in METHODS:
            self.method_combo.addItem(method, method)
        compact(self.method_combo)
        self.method_box = FieldBox(self.method_combo, self)
        # The core's longer description of the method chosen, under the list.
        self.method_hint = hint_label("", self.method_box)
        self.method_hint.setObjectName("methodHint")
        method_layout = self.method_box.layout()
        assert method_layout is not None
        method_layout.addWidget(self.method_hint)
        method_form = _form()
        self.method_label = _label(self)
        self.method_label.setBuddy(self.method_combo)
        method_form.addRow(self.method_label, self.method_box)
        label_fields(method_form)
        return method_form

    def _build_fields(self) -> None:
        """The fields of every method (``delivery_fields``), under the names tests and the
        page use."""
        self.fields = DeliveryFields(self)
        self.edits = dict(self.fields.edits)
        self.port_spin = self.fields.port_spin
        self.security_combo = self.fields.security_combo
        self.auth_combo = self.fields.auth_combo
        self.browse_button = self.fields.browse_button
        self.boxes: dict[str, FieldBox] = {**self.fields.boxes, "method": self.method_box}
        # The secret's row under the name it had when only SMTP had one.
        self.edits["smtp_password"] = self.edits[SECRET]
        self.boxes["smtp_password"] = self.boxes[SECRET]
        self.secret_hint = hint_label("", self)
        self.secret_hint.setObjectName("secretHint")
        reveal, typed = self._keep_in_view.reveal, self.secret_typed
        self.checks = DeliveryChecks(
            self.fields, self.boxes, self.edits, self.delivery, typed, reveal
        )

    def _build_save(self) -> QHBoxLayout:
        self.busy = BusyIndicator(self)
        self.save_button = make_primary(QPushButton(icon("save-light"), "", self))
        self.save_button.setObjectName("saveDeliveryButton")
        save_row = QHBoxLayout()
        save_row.addWidget(self.busy)
        save_row.addStretch(1)
        save_row.addWidget(self.save_button)
        return save_row

    def _layout_box(
        self, method_form: QFormLayout, save_row: QHBoxLayout, tester: DeliveryTest
    ) -> None:
        line = QFrame(self)
        line.setFrameShape(QFrame.Shape.HLine)
        line.setStyleSheet("color: #e3e8ee;")
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addWidget(self.health)
        layout.addLayout(method_form)
        layout.addWidget(self.fields)
        layout.addWidget(self.secret_hint)
        layout.addLayout(save_row)
        layout.addWidget(line)
        layout.addWidget(tester)
        layout.addWidget(self.message)

    def _connect_fields(self) -> None:
        self.method_combo.currentIndexChanged.connect(self._method_changed)
        for name, edit in self.fields.edits.items():
            edit.textEdited.connect(self._edited)
            edit.textEdited.connect(lambda _text, n=name: self._recheck(n))
            edit.editingFinished.connect(lambda n=name: self._left(n))
        self.edits[SECRET].textEdited.connect(self._secret_edited)
        self.port_spin.valueChanged.connect(self._edited)
        self.port_spin.valueChanged.connect(lambda _value: self._recheck("smtp_port"))
        self.security_combo.currentIndexChanged.connect(self._security_changed)
        self.auth_combo.currentIndexChanged.connect(self._auth_changed)
        self.browse_button.clicked.connect(self._browse)
        self.fields.key_file_button.clicked.connect(self._choose_key_file)
        self.save_button.clicked.connect(self._save_clicked)
        self.test_edit.textChanged.connect(lambda _t: self._update())
        self.tester.requested.connect(self._test_requested)

    def _follow_visual_tab_order(self) -> None:
        """Tab goes through the fields shown, top to bottom as they are laid out."""
        order: list[QWidget] = [
            self.method_combo,
            *self.fields.inputs(),
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
        return replace(self.fields.settings(self._baseline), method=method)

    def secret_typed(self) -> str:
        """The secret typed for the method shown ('' when none); a PEM key or JSON key
        without the blank lines around it."""
        if self.method == "outbox":
            return ""
        text = self.edits[SECRET].text()
        return text.strip() if "\n" in text else text

    def secret_name(self) -> str:
        """The secret's name inside a sentence ('client secret', 'JSON key', …)."""
        return secret_in_sentence(self.delivery())

    def visible_fields(self) -> list[str]:
        """The rows shown for the chosen method, in order (``SECRET`` for the secret)."""
        return list(self.fields.shown)

    def is_dirty(self) -> bool:
        return comparable(self.delivery()) != comparable(self._baseline) or bool(
            self.secret_typed()
        )

    def load(self, delivery: DeliverySettings, secret: SecretState, outbox_default: str) -> None:
        """Show the saved settings (what is typed is replaced; secrets are never shown)."""
        self._loading = True
        self._baseline = delivery
        self._secret = secret
        self.outbox_default = outbox_default
        self.method_combo.setCurrentIndex(max(0, self.method_combo.findData(delivery.method)))
        self.fields.load(delivery)
        self.edits["outbox_folder"].setPlaceholderText(outbox_default)
        self.checks.clear()
        self._loading = False
        self._show_method()
        self.refresh_health()

    def mark_saved(self, delivery: DeliverySettings, secret: SecretState) -> None:
        self.load(delivery, secret, self.outbox_default)

    def keep_secret(self, secret: str, problem: str) -> None:
        """The settings were saved but the keyring refused the secret: put what was typed
        back in its field (Save tries again) with ``problem`` under it."""
        self.edits[SECRET].setText(secret)
        self.boxes[SECRET].set_error(problem)
        self._update()
        self._keep_in_view.reveal(self.boxes[SECRET])

    def set_errors(self, errors: dict[str, str]) -> list[str]:
        """Show each error under its field; returns the messages that have no field here."""
        return self.checks.set_errors(errors)

    def field_error(self, name: str) -> str:
        return self.checks.field_error(name)

    def show_test_failure(self, exc: BaseException) -> None:
        """Say why "Send test code" failed, with the step (token, connect, …) in front."""
        self.message.show_error(self.test_failure_text(exc))

    def test_failure_text(self, exc: BaseException) -> str:
        """A failed test in words, with the step that failed (token, connect, …) in front."""
        return test_failure_text(exc)

    def set_editable(self, editable: bool) -> None:
        self._editable = editable
        self._update()

    def set_busy(self, busy: bool, text: str = "") -> None:
        self._busy = busy
        if busy:
            self.busy.start(text)
        else:
            self.busy.stop()
            if self._testing:  # a test's outcome is part of the delivery health
                self._testing = False
                self.refresh_health()
        self._update()

    # ----- delivery health ----------------------------------------------------------------

    def refresh_health(self) -> None:
        """Read the delivery health on a worker thread and show its warning (nothing when the
        recent sends worked, or when it cannot be read)."""
        self.health.refresh()

    def show_health(self, warning: str | None) -> None:
        self.health.show_warning(warning)

    # ----- reacting -----------------------------------------------------------------------

    def _method_changed(self, _index: int) -> None:
        self._show_method()
        self.boxes["method"].set_error(None)
        self._edited()

    def _auth_changed(self, _index: int) -> None:
        self._show_method()
        self._left("m365_auth")
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

    def _secret_edited(self, _text: str) -> None:
        if self.checks.secret_edited():
            self._update()

    def _left(self, name: str) -> None:
        if not self._loading:
            self.checks.left(name)

    def _recheck(self, name: str) -> None:
        if not self._loading:
            self.checks.recheck(name)

    def _show_method(self) -> None:
        settings = self.delivery()
        self.fields.arrange(settings)
        self._follow_visual_tab_order()
        self.method_hint.setText(method_description(settings.method))
        self.method_hint.setVisible(bool(self.method_hint.text()))
        self.method_combo.setAccessibleDescription(self.method_hint.text())
        sms = is_sms(settings.method)
        self.test_edit.setPlaceholderText(
            self.tr("mobile number") if sms else self.tr("e-mail address")
        )
        self._update()

    def _align_labels(self) -> None:
        """One label column for the method and its fields, as wide as the widest label any
        method shows: the fields do not move sideways when another method is chosen."""
        metrics = self.method_label.fontMetrics()
        texts = [self.method_label.text(), *every_label()]
        width = max(LABEL_WIDTH, *(metrics.horizontalAdvance(text) + 4 for text in texts))
        for label in (self.method_label, *self.fields.labels.values()):
            label.setMinimumWidth(width)

    def _update(self) -> None:
        can = self._editable and not self._busy
        for widget in (
            self.method_combo,
            self.port_spin,
            self.security_combo,
            self.auth_combo,
            self.browse_button,
            self.fields.key_file_button,
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
        self.fields.set_hint(
            "outbox_folder",
            self.tr(
                "Each code is written as an .eml file to {folder}; nothing leaves this computer. "
                "For trying pmdesk out, not for real use."
            ).format(folder=breakable(folder) or self.tr("the default outbox")),
        )
        self.secret_hint.setText(keyring_text(self.delivery(), self._secret))
        self.secret_hint.setVisible(bool(self.secret_hint.text()))
        self.edits[SECRET].setPlaceholderText(secret_placeholder(self.delivery(), self._secret))

    def _save_clicked(self) -> None:
        if not self.save_button.isEnabled():
            return
        problem = secret_problem(self.delivery(), self.secret_typed())
        if problem:
            self.boxes[SECRET].set_error(problem)
            self.message.show_error(self.tr("Not saved: correct the fields marked in red."))
            self.edits[SECRET].setFocus()
            return
        self.save_requested.emit()

    def _test_requested(self, address: str) -> None:
        self._testing = True
        self.test_requested.emit(address)

    def _choose_key_file(self) -> None:
        """Read the JSON key or PEM private key from a file (on a worker thread: it may be on
        a network share) into the secret field, as if it had been pasted."""
        open_key_file_dialog(self, self.method == "google", self.read_key_file)

    def read_key_file(self, path: str) -> None:
        def done(text: str) -> None:
            self.edits[SECRET].setText(text)
            self._secret_edited(text)
            self._left(SECRET)
            self._edited()

        self._key_reading.restart()  # the file chosen last wins
        self._key_reading.run(lambda: read_key(path), done)

    def _key_not_read(self, exc: BaseException) -> None:
        problem = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        self.boxes[SECRET].set_error(
            self.tr("The file could not be read: {problem}").format(problem=localize(problem))
        )

    def _browse(self) -> None:
        current = self.edits["outbox_folder"].text().strip() or self.outbox_default

        def chosen(folder: str) -> None:
            self.edits["outbox_folder"].setText(folder)
            set_invalid(self.edits["outbox_folder"], False)
            self._left("outbox_folder")
            self._edited()

        open_folder_dialog(self, current, chosen)


def _form(parent: QWidget | None = None) -> QFormLayout:
    layout = form_layout()
    layout.setContentsMargins(0, 0, 0, 0)
    if parent is not None:
        parent.setLayout(layout)
    return layout


def _label(parent: QWidget) -> QLabel:
    label = QLabel(parent)
    label.setMinimumWidth(LABEL_WIDTH)
    return label
