"""System → Security's "Lockout": failures from one address before that address is locked for
the person, and how long the first and the longest lock last (pmdesk.core.lockout). The core
checks the numbers (and the longest against the first) and each error shows under its field,
with what was typed kept. The box saves on the settings' version the page shows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core import lockout
from pmdesk.core.changes import SECURITY_SETTINGS
from pmdesk.core.security import SecurityService, SecuritySettingsView
from pmdesk.ui.icons import icon
from pmdesk.ui.ops import Operations, indicator
from pmdesk.ui.system.common import form_layout, local_number, spin_box
from pmdesk.ui.system.field_texts import field_error, other_errors, relabel
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import (
    BusyIndicator,
    FieldBox,
    MessageLabel,
    hint_label,
    make_primary,
)

if TYPE_CHECKING:
    from pmdesk.core.context import Actor
    from pmdesk.ui.page_context import ChangeHub
    from pmdesk.ui.tasks import TaskManager

#: The settings' names, in the order of the spin boxes.
FIELDS = ("lock_after_failures", "first_lock_minutes", "max_lock_minutes")


class LockoutBox(Retranslating, QGroupBox):
    """The lockout's three numbers and their Save (see the module)."""

    #: Saved: the settings as they are now (their new version), for the page.
    settings_saved = Signal(object)

    def __init__(
        self,
        security: SecurityService,
        actor: Actor,
        tasks: TaskManager,
        *,
        can_edit: bool,
        changes: ChangeHub | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("lockoutBox")
        self._security = security
        self._actor = actor
        self._can_edit = can_edit
        self.settings: SecuritySettingsView | None = None
        self._build_fields()
        self.save_button = make_primary(QPushButton(icon("save-light"), "", self))
        self.save_button.setObjectName("saveLockoutButton")
        self.save_button.clicked.connect(self.save)
        self.message = MessageLabel(self)
        self.message.setObjectName("lockoutMessage")
        self.busy = BusyIndicator(self)
        self.saving = Operations(
            self, tasks, message=self.message, busy=indicator(self.busy, self._update_buttons),
            changes=changes,
        ).make(
            "lockout settings", busy_text=self.tr("Saving…"), failure=self.tr("Not saved"),
            fields=self.set_errors, announces=(SECURITY_SETTINGS,),
        )  # fmt: skip
        self._layout()
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("Lockout"))
        self.save_button.setText(self.tr("Save"))
        self.lock_after_spin.setSuffix(self.tr(" failures"))
        self.first_lock_spin.setSuffix(self.tr(" min"))
        self.max_lock_spin.setSuffix(self.tr(" min"))
        rows = (self.tr("Failures before a lock"), self.tr("First lock"), self.tr("Longest lock"))
        for label, text, spin in zip(self.row_labels, rows, self.spins(), strict=True):
            relabel(label, text, spin)
        self.hint.setText(
            self.tr(
                "Failures are counted per person and address: a guesser at one address "
                "locks the person out from there only. Each later lock doubles, up to the "
                "longest. {cap} failures from anywhere lock the person everywhere "
                "(NIST's cap)."
            ).format(cap=local_number(lockout.PERSON_CAP))
        )
        self._update_buttons()

    def _build_fields(self) -> None:
        low, high = lockout.LOCK_AFTER_RANGE
        self.lock_after_spin = spin_box((low, high), "", self)
        self.lock_after_spin.setObjectName("lockAfterSpin")
        longest = (1, lockout.MAX_LOCK_MINUTES_LIMIT)
        self.first_lock_spin = spin_box(lockout.FIRST_LOCK_MINUTES_RANGE, "", self)
        self.first_lock_spin.setObjectName("firstLockSpin")
        self.max_lock_spin = spin_box(longest, "", self)
        self.max_lock_spin.setObjectName("maxLockSpin")
        self.boxes = {
            name: FieldBox(spin, self) for name, spin in zip(FIELDS, self.spins(), strict=True)
        }
        for spin in self.spins():
            spin.valueChanged.connect(self._edited)

    def _layout(self) -> None:
        form = form_layout()
        self.row_labels = [QLabel(self) for _name in FIELDS]
        for label, name in zip(self.row_labels, FIELDS, strict=True):
            form.addRow(label, self.boxes[name])
        row = QHBoxLayout()
        row.addWidget(self.busy)
        row.addWidget(self.message, 3)
        row.addStretch(1)
        row.addWidget(self.save_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addLayout(form)
        layout.addLayout(row)
        self.hint = hint_label("", self)
        layout.addWidget(self.hint)

    def spins(self) -> tuple[QSpinBox, QSpinBox, QSpinBox]:
        return (self.lock_after_spin, self.first_lock_spin, self.max_lock_spin)

    def values(self) -> tuple[int, int, int]:
        return (
            self.lock_after_spin.value(),
            self.first_lock_spin.value(),
            self.max_lock_spin.value(),
        )

    def show_settings(self, settings: SecuritySettingsView) -> None:
        """The saved numbers and the version to save on; what is typed and unsaved stays."""
        dirty = self.is_dirty()
        self.settings = settings
        if not dirty:
            for spin, value in zip(self.spins(), _saved(settings), strict=True):
                spin.blockSignals(True)
                spin.setValue(value)
                spin.blockSignals(False)
            self.set_errors({})
        self._update_buttons()

    def is_dirty(self) -> bool:
        return self.settings is not None and self.values() != _saved(self.settings)

    def save(self) -> None:
        settings = self.settings
        if settings is None or not self._can_edit or self.saving.running or not self.is_dirty():
            return
        security, actor, version = self._security, self._actor, settings.version
        after, first, longest = self.values()

        def saved(view: SecuritySettingsView) -> None:
            self.settings = None  # shown anew, not kept as typed
            self.show_settings(view)
            self.message.show_success(self.tr("Saved."))
            self.settings_saved.emit(view)

        self.message.clear_message()
        self.saving.run(
            lambda: security.update(
                actor,
                version,
                lock_after_failures=after,
                first_lock_minutes=first,
                max_lock_minutes=longest,
            ),
            saved,
        )

    def set_errors(self, errors: dict[str, str]) -> list[str]:
        """Each field's error under it; what no field shows goes to the message."""
        for name, box in self.boxes.items():
            box.set_error(field_error(errors, name))
        return other_errors(errors, self.boxes)

    def _edited(self, _value: int) -> None:
        self.message.clear_message()
        self.set_errors({})
        self._update_buttons()

    def _update_buttons(self) -> None:
        idle = not self.saving.running
        for spin in self.spins():
            spin.setEnabled(self._can_edit and self.settings is not None)
        self.save_button.setEnabled(self._can_edit and idle and self.is_dirty())
        if not self._can_edit:
            self.save_button.setToolTip(
                self.tr("Your user group needs System → Security Edit to change this.")
            )


def _saved(settings: SecuritySettingsView) -> tuple[int, int, int]:
    return (settings.lock_after_failures, settings.first_lock_minutes, settings.max_lock_minutes)
