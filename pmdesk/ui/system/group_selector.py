"""System → Permissions' Usergroup Selector and the dialog that names a group.

``GroupSelector`` holds the group list (with Reload), how many people are in the chosen group,
and New / Rename / Delete; the page connects them to its actions. ``ask_group_name`` opens the
name dialog for New group and Rename and saves the name as one ``Operation``: what the core
refuses (an empty or taken name, a group renamed meanwhile) stays in the dialog.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.changes import USER_GROUPS
from pmdesk.core.errors import ConflictError, ValidationError
from pmdesk.core.groups import GroupSummary
from pmdesk.core.modules import Action
from pmdesk.ui.errors import error_text
from pmdesk.ui.icons import icon
from pmdesk.ui.lists import reload_button
from pmdesk.ui.ops import Operation
from pmdesk.ui.page_context import ChangeHub
from pmdesk.ui.system.common import form_layout, local_number
from pmdesk.ui.system.permission_grid import GroupNameDialog, action_label
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import Retranslating, localize
from pmdesk.ui.translation import error_text as core_error_text
from pmdesk.ui.widgets import label_fields, make_danger

translate = QCoreApplication.translate


class GroupSelector(Retranslating, QGroupBox):
    """The group (a combo box), its members, Reload, and New / Rename / Delete group."""

    def __init__(
        self, reload: Callable[[], None], tasks: TaskManager, changes: ChangeHub, parent: QWidget
    ) -> None:
        super().__init__(parent)
        self.setObjectName("groupSelector")
        self._tasks = tasks
        self._changes = changes
        # The name dialog (New group, Rename) while it is open.
        self.name_dialog: GroupNameDialog | None = None
        self._members: GroupSummary | None = None
        self._build(reload)
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("Usergroup Selector"))
        self.reload_button.setToolTip(self.tr("Reload the groups and their rights (F5)"))
        self.reload_button.setAccessibleName(self.tr("Reload the groups"))
        self.new_button.setText(self.tr("New group"))
        self.rename_button.setText(self.tr("Rename"))
        self.delete_button.setText(self.tr("Delete group"))
        self.name_label.setText(self.tr("Name"))
        self.combo.setAccessibleName(self.name_label.text())
        self.show_members(self._members)

    def _build(self, reload: Callable[[], None]) -> None:
        self.combo = QComboBox(self)
        self.combo.setObjectName("groupCombo")
        self.combo.setMinimumContentsLength(16)
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.reload_button = reload_button(self, "reloadButton", reload)
        combo_row = QHBoxLayout()
        combo_row.setSpacing(6)
        combo_row.addWidget(self.combo, 1)
        combo_row.addWidget(self.reload_button)
        self.members_label = QLabel(self)
        self.members_label.setObjectName("membersLabel")
        self.members_label.setProperty("role", "muted")

        self.new_button = QPushButton(icon("add"), "", self)
        self.new_button.setObjectName("newGroupButton")
        self.rename_button = QPushButton(self)
        self.rename_button.setObjectName("renameGroupButton")
        self.delete_button = make_danger(QPushButton(icon("delete"), "", self))
        self.delete_button.setObjectName("deleteGroupButton")
        group_buttons = QHBoxLayout()
        group_buttons.setSpacing(6)
        for button in (self.new_button, self.rename_button, self.delete_button):
            button.setAutoDefault(False)
            group_buttons.addWidget(button)
        group_buttons.addStretch(1)

        form = form_layout()
        self.name_label = QLabel(self)
        self.name_label.setBuddy(self.combo)
        form.addRow(self.name_label, combo_row)
        form.addRow("", self.members_label)
        label_fields(form)
        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addLayout(form)
        layout.addLayout(group_buttons)

    def update_buttons(
        self,
        can_edit: bool,
        can_delete: bool,
        *,
        busy: bool,
        loaded: bool,
        group: GroupSummary | None,
    ) -> None:
        """New, Rename and Delete as the user's rights allow; Rename and Delete need the
        chosen ``group``'s rights ``loaded`` (and the page not ``busy``)."""
        self.new_button.setEnabled(can_edit and not busy)
        self.rename_button.setEnabled(can_edit and loaded)
        self.delete_button.setEnabled(can_delete and loaded)
        self.delete_button.setToolTip(
            self.tr("Move the people in this group to another group first.")
            if group is not None and group.members
            else ""
        )
        for button, allowed, right in (
            (self.new_button, can_edit, Action.EDIT),
            (self.rename_button, can_edit, Action.EDIT),
            (self.delete_button, can_delete, Action.DELETE),
        ):
            if not allowed:
                button.setToolTip(self.needs_right(right))

    def needs_right(self, right: Action) -> str:
        return self.tr("Your user group needs System {right} for this.").format(
            right=action_label(right)
        )

    def show_groups(self, groups: list[GroupSummary], wanted: int | None) -> None:
        """The groups in the list, ``wanted`` chosen (without announcing a choice)."""
        self.combo.blockSignals(True)
        self.combo.clear()
        for group in groups:
            self.combo.addItem(group.name, group.id)
        self.combo.setCurrentIndex(self.combo.findData(wanted) if wanted is not None else -1)
        self.combo.blockSignals(False)

    def choose(self, group_id: int | None) -> None:
        """Back to ``group_id`` (without announcing a choice): the user kept their ticks."""
        self.combo.blockSignals(True)
        self.combo.setCurrentIndex(self.combo.findData(group_id))
        self.combo.blockSignals(False)

    def renamed(self, group: GroupSummary) -> None:
        index = self.combo.findData(group.id)
        if index >= 0:
            self.combo.setItemText(index, group.name)

    def show_members(self, group: GroupSummary | None) -> None:
        self._members = group
        self.members_label.setText(
            ""
            if group is None
            else self.tr("Nobody is in this group.")
            if group.members == 0
            else self.tr("1 person is in this group.")
            if group.members == 1
            else self.tr("{n} people are in this group.").format(n=local_number(group.members))
        )

    def ask_name(
        self,
        texts: tuple[str, str, str],
        call_for: Callable[[str], Callable[[], GroupSummary]],
        done: Callable[[GroupSummary], None],
        conflict: Callable[[], None],
    ) -> None:
        """The name dialog (see ``ask_group_name``), kept as ``name_dialog`` while open."""
        dialog = ask_group_name(
            self.parentWidget() or self,
            self._tasks,
            self._changes,
            texts,
            call_for,
            done,
            conflict,
        )
        self.name_dialog = dialog

        def closed(_result: int) -> None:
            if self.name_dialog is dialog:
                self.name_dialog = None

        dialog.finished.connect(closed)


def ask_group_name(
    parent: QWidget,
    tasks: TaskManager,
    changes: ChangeHub,
    texts: tuple[str, str, str],
    call_for: Callable[[str], Callable[[], GroupSummary]],
    done: Callable[[GroupSummary], None],
    conflict: Callable[[], None],
) -> GroupNameDialog:
    """Open the name dialog (``texts``: its title, its OK button, the name to start from);
    on OK run ``call_for(name)`` on a worker, then close the dialog and ``done(group)``. A
    conflict (renamed elsewhere meanwhile) is said in the dialog and ``conflict()`` reloads."""
    title, ok_text, name = texts
    dialog = GroupNameDialog(title, ok_text, name, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def conflicted(exc: ConflictError) -> None:
        dialog.set_error(core_error_text(exc))
        conflict()

    naming = Operation[GroupSummary](
        dialog,
        tasks,
        label=ok_text,
        handle={
            ValidationError: lambda exc: dialog.set_error(
                localize(exc.errors.get("name") or "") or core_error_text(exc)
            ),
            ConflictError: conflicted,
            BaseException: lambda exc: dialog.set_error(
                error_text(exc, translate("PermissionsPage", "That did not work"))
            ),
        },
        changes=changes,
        announces={USER_GROUPS},
    )

    def ok(group: GroupSummary) -> None:
        dialog.accept()
        done(group)

    dialog.submitted.connect(lambda text: naming.run(call_for(text), ok))
    dialog.open()
    return dialog
