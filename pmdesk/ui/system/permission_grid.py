"""System → Permissions' grid (Read / Edit / Delete per module) and the group name dialog."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QRect, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.groups import GridRow, PermissionGrid
from pmdesk.core.modules import MODULES, Action, Module
from pmdesk.core.permissions import ACTION_NAMES
from pmdesk.ui.icons import app_icon
from pmdesk.ui.module_names import module_title
from pmdesk.ui.system.common import form_layout
from pmdesk.ui.translation import Retranslating, localize
from pmdesk.ui.widgets import (
    BusyIndicator,
    FieldBox,
    label_fields,
    make_primary,
)

translate = QCoreApplication.translate

ACTIONS: tuple[Action, ...] = (Action.READ, Action.EDIT, Action.DELETE)
Rights = tuple[bool, bool, bool]


def action_label(action: Action) -> str:
    """A right's name as the grid shows it: Read, Edit, Delete (the core's, translated)."""
    return localize(ACTION_NAMES[action])


class GroupNameDialog(Retranslating, QDialog):
    """Asks for a group name (New group, Rename); the page saves and reports errors back.

    ``submitted(name)`` is emitted on OK; the dialog stays open until the page calls
    ``accept()`` (saved) or ``set_error()`` (refused: the message goes under the field).
    """

    submitted = Signal(str)

    def __init__(
        self, title: str, ok_text: str, name: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("groupNameDialog")
        self.setWindowTitle(title)
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(380)
        self.name_edit = QLineEdit(name, self)
        self.name_edit.setObjectName("groupNameEdit")
        self.name_edit.setMaxLength(100)
        self.name_edit.selectAll()
        self.field = FieldBox(self.name_edit, self)
        self.busy = BusyIndicator(self)
        self.buttons = QDialogButtonBox(self)
        self.ok_button = make_primary(
            self.buttons.addButton(ok_text, QDialogButtonBox.ButtonRole.AcceptRole)
        )
        self.ok_button.setObjectName("okButton")
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._submit)
        self.buttons.rejected.connect(self.reject)
        self.name_edit.textEdited.connect(lambda _t: self.field.set_error(None))
        self.name_edit.textChanged.connect(self._update)

        form = form_layout()
        self.name_label = QLabel(self)
        self.name_label.setBuddy(self.name_edit)
        form.addRow(self.name_label, self.field)
        label_fields(form)
        bottom = QHBoxLayout()
        bottom.addWidget(self.busy)
        bottom.addStretch(1)
        bottom.addWidget(self.buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 12)
        layout.setSpacing(12)
        layout.addLayout(form)
        layout.addLayout(bottom)
        self._update()
        self.retranslate()

    def retranslate(self) -> None:
        """The dialog's own texts (its title and OK button come translated from the page)."""
        self.name_edit.setPlaceholderText(self.tr("e.g. Reception desk"))
        self.name_label.setText(self.tr("Name"))
        self.name_edit.setAccessibleName(self.name_label.text())

    def _update(self) -> None:
        self.ok_button.setEnabled(bool(self.name_edit.text().strip()) and not self.busy.running)

    def _submit(self) -> None:
        if not self.name_edit.text().strip() or self.busy.running:
            return
        self.field.set_error(None)
        self.busy.start(self.tr("Saving…"))
        self.name_edit.setEnabled(False)
        self._update()
        self.submitted.emit(self.name_edit.text())

    def set_error(self, message: str) -> None:
        self.busy.stop()
        self.name_edit.setEnabled(True)
        self.field.set_error(message)
        self.name_edit.setFocus()
        self._update()


class PermissionGridView(Retranslating, QFrame):
    """The 13 modules, each with Read / Edit / Delete check boxes, in the product's order."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("permissionGrid")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.checks: dict[tuple[str, Action], QCheckBox] = {}
        self.names: dict[str, QLabel] = {}
        self._baseline: dict[str, Rights] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 12, 0)
        grid.setHorizontalSpacing(16)
        grid.setVerticalSpacing(0)
        for row, module in enumerate(MODULES):
            name = QLabel(self)
            name.setObjectName(f"module_{module.key}")
            name.setMinimumHeight(30)
            name.setIndent(6)
            name.setWordWrap(True)  # a long name in French or Dutch takes two lines
            self.names[module.key] = name
            grid.addWidget(name, row, 0)
            for column, action in enumerate(ACTIONS, start=1):
                check = QCheckBox(self)
                check.setObjectName(f"{module.key}_{action.value}")
                check.toggled.connect(
                    lambda checked, key=module.key, act=action: self._toggled(key, act, checked)
                )
                self.checks[(module.key, action)] = check
                grid.addWidget(check, row, column)
        grid.setColumnStretch(0, 1)
        grid.setRowStretch(len(MODULES), 1)
        self.retranslate()

    def retranslate(self) -> None:
        """The rights' names, the modules' and the marks of unsaved rows, in the new language."""
        for (key, action), check in self.checks.items():
            module = module_title(key)
            check.setText(action_label(action))
            check.setAccessibleName(
                self.tr("{module}: {action}").format(module=module, action=action_label(action))
            )
            check.setToolTip(
                self.tr("{action} on {module}").format(action=action_label(action), module=module)
            )
        self._mark()

    def paintEvent(self, event: QPaintEvent) -> None:
        """Every other module on a faint stripe, so the eye follows a row to its boxes."""
        painter = QPainter(self)
        stripe = QColor("#f5f7fa")
        for row, module in enumerate(MODULES):
            if row % 2:
                continue
            name = self.names[module.key]
            painter.fillRect(QRect(0, name.y(), self.width(), name.height()), stripe)
        painter.end()
        super().paintEvent(event)

    def check(self, module: Module | str, action: Action) -> QCheckBox:
        key = module if isinstance(module, str) else module.key
        return self.checks[(key, action)]

    def rights(self, key: str) -> Rights:
        read, edit, delete = (self.checks[(key, a)].isChecked() for a in ACTIONS)
        return read, edit, delete

    def rows(self) -> list[GridRow]:
        return [GridRow(m.key, m.name, *self.rights(m.key)) for m in MODULES]

    def load(self, grid: PermissionGrid | None) -> None:
        """Show ``grid`` as saved (None: empty and disabled)."""
        self._baseline = (
            {r.module_key: (r.read, r.edit, r.delete) for r in grid.rows} if grid else {}
        )
        for module in MODULES:
            saved = self._baseline.get(module.key, (False, False, False))
            for action, value in zip(ACTIONS, saved, strict=True):
                check = self.checks[(module.key, action)]
                check.blockSignals(True)
                check.setChecked(value)
                check.blockSignals(False)
        self._mark()

    def mark_saved(self, grid: PermissionGrid) -> None:
        self._baseline = {r.module_key: (r.read, r.edit, r.delete) for r in grid.rows}
        self._mark()

    def changed_modules(self) -> list[str]:
        return [
            m.key
            for m in MODULES
            if self.rights(m.key) != self._baseline.get(m.key, (False, False, False))
        ]

    def is_dirty(self) -> bool:
        return bool(self._baseline) and bool(self.changed_modules())

    def set_editable(self, editable: bool) -> None:
        for check in self.checks.values():
            check.setEnabled(editable)

    def _toggled(self, key: str, action: Action, checked: bool) -> None:
        """Edit or Delete implies Read: ticking either ticks Read, unticking Read unticks both."""
        if action is Action.READ and not checked:
            implied = [self.checks[(key, a)] for a in (Action.EDIT, Action.DELETE)]
            value = False
        elif action is not Action.READ and checked:
            implied = [self.checks[(key, Action.READ)]]
            value = True
        else:
            implied = []
            value = checked
        for check in implied:
            check.blockSignals(True)
            check.setChecked(value)
            check.blockSignals(False)
        self._mark()
        self.changed.emit()

    def _mark(self) -> None:
        """Modules with unsaved ticks are shown in bold with a marker."""
        changed = set(self.changed_modules()) if self._baseline else set()
        for module in MODULES:
            label = self.names[module.key]
            is_changed = module.key in changed
            font = QFont(label.font())
            font.setBold(is_changed)
            label.setFont(font)
            label.setText(module_title(module) + ("  •" if is_changed else ""))
            label.setToolTip(self.tr("Changed, not saved yet") if is_changed else "")
