"""System → Permissions: a user group's rights, module by module, as Read / Edit / Delete.

As in the product: a "Usergroup Selector", the grid of the 13 modules with Read, Edit and Delete
check boxes, and "Save Permissions". Groups can be created, renamed and deleted here too.

Everything the core says is shown as it says it: a group changed on another workstation
(optimistic locking) offers to reload; a change that would leave nobody able to administer
security or permissions is refused with the core's explanation, and the ticks stay as they were
so that nothing typed is lost. Reading needs System Read, saving System Edit, deleting a group
System Delete; the buttons follow the signed-in group's rights, and the core checks again.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.changes import GROUP_PERMISSIONS, USER_GROUPS
from pmdesk.core.errors import LastAdministratorError, NotFound
from pmdesk.core.groups import GroupService, GroupSummary, PermissionGrid
from pmdesk.core.modules import SYSTEM, Action
from pmdesk.ui.icons import icon
from pmdesk.ui.message_boxes import ask_discard
from pmdesk.ui.ops import Conflict, Operations, indicator
from pmdesk.ui.scrolling import follow_focus
from pmdesk.ui.system import group_actions
from pmdesk.ui.system.common import local_number
from pmdesk.ui.system.group_selector import GroupSelector
from pmdesk.ui.system.permission_grid import GroupNameDialog, PermissionGridView
from pmdesk.ui.translation import Retranslating, error_text
from pmdesk.ui.widgets import BusyIndicator, MessageLabel, hint_label, make_primary

if TYPE_CHECKING:
    from pmdesk.ui.page_context import PageContext


class PermissionsPage(Retranslating, QWidget):
    """System → Permissions."""

    def __init__(self, context: PageContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("permissionsPage")
        self.context = context
        self.tasks = context.tasks
        self.actor = context.session.actor
        self.service = GroupService(context.app.context)
        self.can_edit = context.session.can(SYSTEM, Action.EDIT)
        self.can_delete = context.session.can(SYSTEM, Action.DELETE)
        self.groups: list[GroupSummary] = []
        self.current_grid: PermissionGrid | None = None
        self._group_id: int | None = None

        selector = self._build_selector()
        left = self._build_left(selector)
        scroll = self._build_grid()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 14)
        layout.setSpacing(20)
        layout.addWidget(left, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(scroll, 1)

        QShortcut(QKeySequence.StandardKey.Save, self, self.save)
        QShortcut(QKeySequence.StandardKey.Refresh, self, self.reload)

        self._build_operations()
        self.grid.load(None)
        self.update_buttons()
        # Groups and their rights changed elsewhere (another workstation, or made here).
        context.changes.subscribe(
            self, {USER_GROUPS, GROUP_PERMISSIONS}, self.permissions_changed_elsewhere
        )
        self.retranslate()
        self.load_groups()

    def retranslate(self) -> None:
        """The page's texts in the language just chosen (its children do their own)."""
        self.save_button.setText(self.tr("Save Permissions"))
        self.revert_button.setText(self.tr("Undo changes"))
        self.hint.setText(
            self.tr(
                "Read shows a screen, Edit allows changing it, Delete allows removing "
                "records in it; Edit and Delete include Read. People get their group's new "
                "rights the next time they sign in."
            )
        )
        self.grid_box.setTitle(self.tr("Permissions"))
        self._retranslate_operations()
        self.update_buttons()
        # As wide as the selector's buttons need in this language, once they have their new
        # texts (Qt tells a parent of the language change before its children).
        self._fit_left()
        QTimer.singleShot(0, self, self._fit_left)

    def _fit_left(self) -> None:
        self.left.setFixedWidth(max(380, self.selector.sizeHint().width()))

    def _build_selector(self) -> GroupSelector:
        """The Usergroup Selector: the group, its members, New / Rename / Delete."""
        self.selector = GroupSelector(self.reload, self.tasks, self.context.changes, self)
        self.group_combo = self.selector.combo
        self.group_combo.currentIndexChanged.connect(self._group_chosen)
        self.reload_button = self.selector.reload_button
        self.members_label = self.selector.members_label
        self.new_button = self.selector.new_button
        self.new_button.clicked.connect(self.new_group)
        self.rename_button = self.selector.rename_button
        self.rename_button.clicked.connect(self.rename_group)
        self.delete_button = self.selector.delete_button
        self.delete_button.clicked.connect(self.delete_group)
        return self.selector

    def _build_left(self, selector: QGroupBox) -> QWidget:
        """The selector, Save and Undo, the message and the hint."""
        self.save_button = make_primary(QPushButton(icon("save-light"), "", self))
        self.save_button.setObjectName("savePermissionsButton")
        self.save_button.clicked.connect(self.save)
        self.revert_button = QPushButton(self)
        self.revert_button.setObjectName("revertButton")
        self.revert_button.setAutoDefault(False)
        self.revert_button.clicked.connect(self.revert)
        save_row = QHBoxLayout()
        save_row.setSpacing(6)
        save_row.addWidget(self.save_button)
        save_row.addWidget(self.revert_button)
        save_row.addStretch(1)
        self.busy = BusyIndicator(self)
        self.message = MessageLabel(self)
        self.message.setObjectName("permissionsMessage")
        self.unsaved_label = QLabel(self)
        self.unsaved_label.setObjectName("unsavedLabel")
        self.unsaved_label.setProperty("role", "muted")
        self.unsaved_label.setWordWrap(True)

        left = QWidget(self)
        left.setObjectName("permissionsLeft")
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.setSpacing(10)
        left_layout.addWidget(selector)
        left_layout.addLayout(save_row)
        left_layout.addWidget(self.unsaved_label)
        left_layout.addWidget(self.busy)
        left_layout.addWidget(self.message)
        self.hint = hint_label("", self)
        left_layout.addWidget(self.hint)
        left_layout.addStretch(1)
        self.left = left
        return left

    def _build_grid(self) -> QScrollArea:
        """The grid of rights, in a scroll area."""
        self.grid_box = QGroupBox(self)
        self.grid_box.setObjectName("gridBox")
        self.grid = PermissionGridView(self)
        self.grid.changed.connect(self.update_buttons)
        box_layout = QVBoxLayout(self.grid_box)
        box_layout.setContentsMargins(14, 8, 14, 8)
        box_layout.addWidget(self.grid)
        scroll = follow_focus(QScrollArea(self))
        scroll.setObjectName("gridScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        holder = QWidget(scroll)
        holder_layout = QVBoxLayout(holder)
        holder_layout.setContentsMargins(0, 0, 0, 0)
        holder_layout.addWidget(self.grid_box)
        holder_layout.addStretch(1)
        scroll.setWidget(holder)
        self.grid_box.setMaximumWidth(640)
        return scroll

    def _build_operations(self) -> None:
        """One ``Operation`` per action of the page (see pmdesk.ui.ops)."""
        self.ops = Operations(
            self,
            self.tasks,
            message=self.message,
            busy=indicator(self.busy, self.update_buttons),
            changes=self.context.changes,
        )
        gone = {NotFound: self._group_gone}
        # Their busy and failure texts are set by _retranslate_operations.
        self.listing = self.ops.make("list groups")
        self.grid_loading = self.ops.make("load grid", handle=gone)
        self.saving = self.ops.make(
            "save permissions",
            conflict=Conflict(
                self.reload_current,
                self.tr(
                    "Reload shows the permissions as they are now saved; your ticks are "
                    "discarded. Keep my changes leaves them here, unsaved."
                ),
            ),
            handle={LastAdministratorError: self._last_administrator, NotFound: self._grid_gone},
            after_failure=self.update_buttons,
            announces={GROUP_PERMISSIONS},
        )
        self.delete_checking = self.ops.make("check group", handle=gone)
        self.deleting = self.ops.make("delete", handle=gone, announces={USER_GROUPS})

    def _retranslate_operations(self) -> None:
        loading = self.tr("Loading…")
        not_deleted = self.tr("The group was not deleted")
        for operation, busy, failure in (
            (self.listing, loading, self.tr("The groups could not be loaded")),
            (self.grid_loading, loading, self.tr("The permissions could not be loaded")),
            (self.saving, self.tr("Saving…"), self.tr("The permissions were not saved")),
            (self.delete_checking, self.tr("Checking…"), not_deleted),
            (self.deleting, self.tr("Deleting…"), not_deleted),
        ):
            operation.set_texts(busy_text=busy, failure=failure)

    def _last_administrator(self, exc: LastAdministratorError) -> None:
        self.message.show_error(self.tr("Not saved. {reason}").format(reason=error_text(exc)))

    def _group_gone(self, exc: NotFound) -> None:
        self.message.show_error(error_text(exc))
        self.load_groups(keep_message=True)

    def _grid_gone(self, exc: NotFound) -> None:
        self.current_grid = None
        self.grid.load(None)
        self._group_gone(exc)

    def permissions_changed_elsewhere(self, _tables: frozenset[str] = frozenset()) -> None:
        """Change-hub subscriber (groups or their rights changed elsewhere): reload unless the
        user is editing (then saving will say it conflicts and offer to reload)."""
        if self.busy_now or self.name_dialog is not None:
            return
        if self.grid.is_dirty():
            self.message.show_notice(
                self.tr(
                    "Groups or permissions were changed on another workstation. Your ticks "
                    "here are not saved yet."
                )
            )
            return
        self.load_groups(self._group_id, keep_message=True)

    # ----- state --------------------------------------------------------------------------

    @property
    def busy_now(self) -> bool:
        """An operation that shows the spinner is running (buttons wait for it)."""
        return self.ops.busy

    @property
    def name_dialog(self) -> GroupNameDialog | None:
        """The name dialog (New group, Rename) while it is open."""
        return self.selector.name_dialog

    def current_group(self) -> GroupSummary | None:
        for group in self.groups:
            if group.id == self._group_id:
                return group
        return None

    def has_unsaved_changes(self) -> bool:
        return self.grid.is_dirty()

    def update_buttons(self) -> None:
        loaded = self.current_grid is not None and not self.busy_now
        dirty = self.grid.is_dirty()
        self.save_button.setEnabled(self.can_edit and loaded and dirty)
        self.revert_button.setEnabled(loaded and dirty)
        self.revert_button.setVisible(self.can_edit)
        self.grid.set_editable(self.can_edit and loaded)
        self.selector.update_buttons(
            self.can_edit,
            self.can_delete,
            busy=self.busy_now,
            loaded=loaded,
            group=self.current_group(),
        )
        if not self.can_edit:
            self.save_button.setToolTip(self.selector.needs_right(Action.EDIT))
        changed = len(self.grid.changed_modules()) if dirty else 0
        self.unsaved_label.setText(
            ""
            if not changed
            else self.tr("1 module changed, not saved yet.")
            if changed == 1
            else self.tr("{n} modules changed, not saved yet.").format(n=local_number(changed))
        )
        self.unsaved_label.setVisible(bool(changed))
        if self.current_grid is not None:
            self.grid_box.setTitle(
                self.tr("Permissions of {group}").format(group=self.current_grid.group_name)
            )

    # ----- loading ------------------------------------------------------------------------

    def reload(self) -> None:
        """Reload the groups and the current group's rights (asks first when unsaved)."""
        if self.grid.is_dirty():
            self._ask_discard(lambda: self.load_groups(self._group_id))
        else:
            self.load_groups(self._group_id)

    def load_groups(self, select_id: int | None = None, *, keep_message: bool = False) -> None:
        service, actor = self.service, self.actor
        if not keep_message:
            self.message.clear_message()
        self.listing.run(
            lambda: service.list(actor),
            lambda groups: self._show_groups(groups, select_id, keep_message=True),
        )

    def _show_groups(
        self, groups: list[GroupSummary], select_id: int | None, *, keep_message: bool = False
    ) -> None:
        self.groups = groups
        wanted = select_id if any(g.id == select_id for g in groups) else None
        if wanted is None and groups:
            wanted = groups[0].id
        self.selector.show_groups(groups, wanted)
        if wanted is None:
            self._group_id = None
            self.current_grid = None
            self.grid.load(None)
            self._update_members()
            self.update_buttons()
            return
        self._load_grid(wanted, keep_message=keep_message)

    def _group_chosen(self, index: int) -> None:
        group_id = self.group_combo.itemData(index)
        if group_id is None or group_id == self._group_id:
            return
        if self.grid.is_dirty():
            previous = self._group_id

            self._ask_discard(
                lambda: self._load_grid(int(group_id)), lambda: self.selector.choose(previous)
            )
            return
        self._load_grid(int(group_id))

    def _load_grid(self, group_id: int, *, keep_message: bool = False) -> None:
        self._group_id = group_id
        service, actor = self.service, self.actor

        def done(grid: PermissionGrid) -> None:
            self.current_grid = grid
            self.grid.load(grid)
            self._update_members()
            self.update_buttons()

        if not keep_message:
            self.message.clear_message()
        self.grid_loading.run(lambda: service.grid(actor, group_id), done)

    def _update_members(self) -> None:
        self.selector.show_members(self.current_group())

    # ----- saving -------------------------------------------------------------------------

    def save(self) -> None:
        grid = self.current_grid
        if grid is None or self.busy_now or not self.can_edit or not self.grid.is_dirty():
            return
        rows = self.grid.rows()
        service, actor = self.service, self.actor
        group_id, version = grid.group_id, grid.version

        def done(saved: PermissionGrid) -> None:
            self.current_grid = saved
            self.grid.mark_saved(saved)
            self.message.show_success(
                self.tr("Permissions of {group} saved.").format(group=saved.group_name)
            )
            self.update_buttons()

        self.message.clear_message()
        self.saving.run(lambda: service.save_grid(actor, group_id, version, rows), done)

    def reload_current(self) -> None:
        if self._group_id is not None:
            self.load_groups(self._group_id)

    def revert(self) -> None:
        if self.current_grid is not None:
            self.grid.load(self.current_grid)
            self.message.clear_message()
            self.update_buttons()

    # ----- groups (pmdesk.ui.system.group_actions) ----------------------------------------

    def new_group(self) -> None:
        if not self.can_edit or self.busy_now:
            return
        if self.grid.is_dirty():
            self._ask_discard(lambda: group_actions.new_group(self))
        else:
            group_actions.new_group(self)

    def rename_group(self) -> None:
        if self.can_edit and not self.busy_now:
            group_actions.rename_group(self)

    def delete_group(self) -> None:
        if self.can_delete and not self.busy_now:
            group_actions.delete_group(self)

    def forget_group(self) -> None:
        """No group is chosen any more (it was deleted)."""
        self._group_id = None

    # ----- helpers ------------------------------------------------------------------------

    def _ask_discard(
        self, proceed: Callable[[], None], stay: Callable[[], None] | None = None
    ) -> None:
        ask_discard(
            self,
            self.tr("Discard your changes to the permissions of {group}?").format(
                group=self.current_grid.group_name if self.current_grid else ""
            ),
            proceed,
            on_keep=stay,
        )
