"""System → Security's "Locked now": who cannot sign in after failed attempts, locked
everywhere or from one address (pmdesk.core.lockout), with Unlock and Unlock all.

Shown to those whose group may read Personnel (Maintenance Read); Unlock and Unlock all need
Maintenance Edit, and the core refuses anyone beyond one's own rights (an administrator's
account, for a clerk), as the Personnel form's Unlock does. The list follows the change hub
(people changed elsewhere) and reloads with its button; locks from one address end by
themselves, so Reload shows what is left.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core import lockout
from pmdesk.core.changes import PERSONNEL
from pmdesk.core.modules import MAINTENANCE, SYSTEM_SECURITY, Action
from pmdesk.core.personnel import PersonnelService, UnlockedAll
from pmdesk.core.security import SecurityService, SecuritySettingsView
from pmdesk.ui.icons import icon
from pmdesk.ui.lists import reload_button, text_table
from pmdesk.ui.message_boxes import ask
from pmdesk.ui.ops import Operations, indicator
from pmdesk.ui.system.common import local_date, local_number, local_time
from pmdesk.ui.system.lockout_box import LockoutBox
from pmdesk.ui.translation import Retranslating, localize
from pmdesk.ui.widgets import BusyIndicator, MessageLabel

if TYPE_CHECKING:
    from pmdesk.core.context import Actor
    from pmdesk.ui.page_context import ChangeHub, PageContext
    from pmdesk.ui.tasks import TaskManager

PERSON, WHERE, UNTIL, LEFT = range(4)
ROW_HEIGHT = 26
VISIBLE_ROWS = 4


def lockout_panels(
    context: PageContext, saved: Callable[[SecuritySettingsView], None], parent: QWidget
) -> tuple[LockoutBox, LockedNowBox]:
    """The Security page's Lockout box (System → Security Edit to save; ``saved`` hears the
    settings' new version) and its Locked now list (hidden without Maintenance Read)."""
    session, core, tasks = context.session, context.app.context, context.tasks
    settings = LockoutBox(
        SecurityService(core), session.actor, tasks, changes=context.changes, parent=parent,
        can_edit=session.can(SYSTEM_SECURITY, Action.EDIT),
    )  # fmt: skip
    settings.settings_saved.connect(saved)
    locked = LockedNowBox(
        PersonnelService(core), session.actor, tasks, changes=context.changes, parent=parent,
        can_read=session.can(MAINTENANCE, Action.READ),
        can_edit=session.can(MAINTENANCE, Action.EDIT),
    )  # fmt: skip
    return settings, locked


class LockedNowBox(Retranslating, QGroupBox):
    """The locks in force, with Unlock and Unlock all (see the module)."""

    def __init__(
        self,
        service: PersonnelService,
        actor: Actor,
        tasks: TaskManager,
        *,
        can_read: bool = True,
        can_edit: bool,
        changes: ChangeHub | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("lockedNowBox")
        self._service = service
        self._actor = actor
        self._can_read = can_read
        self._can_edit = can_edit
        self.setVisible(can_read)
        self.locks: list[lockout.Lock] = []
        self.shown = False  # the locks have been read once
        self.table = text_table(self, "lockedNowTable", "", ["", "", "", ""], ROW_HEIGHT, width=80)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for column, width in ((PERSON, 130), (WHERE, 120), (UNTIL, 80)):
            self.table.setColumnWidth(column, width)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.table.horizontalHeader()
        self.table.setFixedHeight(header.sizeHint().height() + ROW_HEIGHT * VISIBLE_ROWS + 4)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        # the round arrow, as beside every list: room for Unlock and Unlock all in any language
        self.reload_button = reload_button(self, "reloadLocksButton", self.load)
        self.unlock_button = QPushButton(icon("unlock"), "", self)
        self.unlock_button.setObjectName("unlockButton")
        self.unlock_button.clicked.connect(self.unlock_selected)
        self.unlock_all_button = QPushButton(self)
        self.unlock_all_button.setObjectName("unlockAllButton")
        self.unlock_all_button.clicked.connect(self.confirm_unlock_all)
        self.message = MessageLabel(self)
        self.message.setObjectName("lockedNowMessage")
        self.busy = BusyIndicator(self)
        self._build_operations(tasks, changes)
        self._layout()
        if changes is not None:
            changes.subscribe(self, {PERSONNEL}, lambda _tables: self.load())
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("Locked now"))
        self.table.setAccessibleName(self.tr("Locked now"))
        self.table.setHorizontalHeaderLabels(
            [self.tr("Person"), self.tr("Where"), self.tr("Until"), self.tr("Left")]
        )
        self.reload_button.setToolTip(self.tr("Read who is locked again"))
        self.reload_button.setAccessibleName(self.tr("Reload"))
        self.unlock_button.setText(self.tr("Unlock"))
        self.unlock_all_button.setText(self.tr("Unlock all…"))
        if self.shown:
            self._show(self.locks)  # the rows' texts, and "Nobody is locked now."
        self._update_buttons()

    def _layout(self) -> None:
        buttons = QHBoxLayout()
        buttons.addWidget(self.busy)
        buttons.addStretch(1)
        for button in (self.reload_button, self.unlock_button, self.unlock_all_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.message)

    def _build_operations(self, tasks: TaskManager, changes: ChangeHub | None) -> None:
        ops = Operations(
            self,
            tasks,
            message=self.message,
            busy=indicator(self.busy, self._update_buttons),
            changes=changes,
        )
        self.ops = ops
        self.loading = ops.make("locked now", failure=self.tr("The locks could not be read"))
        self.unlocking = ops.make(
            "unlock",
            busy_text=self.tr("Unlocking…"),
            failure=self.tr("Not unlocked"),
            announces=(PERSONNEL,),
        )

    # ----- actions -------------------------------------------------------------------------

    def load(self) -> None:
        """Read the locks in force (nothing without Maintenance Read: the box is hidden)."""
        if not self._can_read:
            return
        self.loading.run(lambda: self._service.locked_now(self._actor), self._show)

    def selected(self) -> lockout.Lock | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or not 0 <= rows[0].row() < len(self.locks):
            return None
        return self.locks[rows[0].row()]

    def unlock_selected(self) -> None:
        lock = self.selected()
        if lock is None or not self._can_edit or self.ops.busy:
            return
        service, actor = self._service, self._actor

        def done(_result: None) -> None:
            self.message.show_success(
                self.tr("{name} is unlocked everywhere.").format(name=lock.name)
            )
            self.load()

        self.message.clear_message()
        self.unlocking.run(lambda: service.unlock(actor, lock.person_id), done)

    def confirm_unlock_all(self) -> None:
        if not self.locks or not self._can_edit or self.ops.busy:
            return
        people = len({lock.person_id for lock in self.locks})
        ask(
            self,
            self.tr("Unlock all"),
            self.tr("Unlock everyone locked now ({count})?").format(count=local_number(people)),
            self.tr("Unlock all"),
            self.unlock_all,
            informative=self.tr(
                "They can sign in again at once, from every address. Each unlock is logged."
            ),
        )

    def unlock_all(self) -> None:
        service, actor = self._service, self._actor
        self.message.clear_message()
        self.unlocking.run(lambda: service.unlock_all(actor), self._unlocked_all)

    # ----- results -------------------------------------------------------------------------

    def _unlocked_all(self, done: UnlockedAll) -> None:
        text = self.tr("Unlocked: {count}.").format(count=local_number(len(done.unlocked)))
        if done.skipped:
            text += " " + self.tr(
                "Left locked, as their user group has rights your own lacks: {names}."
            ).format(names=", ".join(done.skipped))
            self.message.show_notice(text)
        else:
            self.message.show_success(text)
        self.load()

    def _show(self, locks: list[lockout.Lock]) -> None:
        chosen = self.selected()
        self.locks, self.shown = locks, True
        self.table.setRowCount(len(locks))
        for row, lock in enumerate(locks):
            where = (
                self.tr("everywhere")
                if lock.address is None
                else lock.address or self.tr("unknown address")
            )
            failures = self.tr("Lock {n} in a row; {f} failures since; until {until}").format(
                n=local_number(lock.lock_count),
                f=local_number(lock.failures),
                until=local_time(lock.locked_until, seconds=True),
            )
            texts = (
                (PERSON, lock.name, lock.login or ""),
                (WHERE, where, failures),
                (UNTIL, _until(lock), failures),
                (LEFT, localize(lockout.time_left(lock.seconds_left)), failures),
            )
            for column, text, tip in texts:
                item = QTableWidgetItem(text)
                item.setToolTip(tip)
                self.table.setItem(row, column, item)
            if chosen is not None and (lock.person_id, lock.address) == (
                chosen.person_id,
                chosen.address,
            ):
                self.table.selectRow(row)
        if not locks:
            self.message.show_notice(self.tr("Nobody is locked now."))
        self._update_buttons()

    def _update_buttons(self) -> None:
        idle = not self.ops.busy
        self.reload_button.setEnabled(idle)
        self.unlock_button.setEnabled(self._can_edit and idle and self.selected() is not None)
        self.unlock_all_button.setEnabled(self._can_edit and idle and bool(self.locks))
        if not self._can_edit:
            why = self.tr("Your user group needs Maintenance Edit to unlock.")
            self.unlock_button.setToolTip(why)
            self.unlock_all_button.setToolTip(why)


def _until(lock: lockout.Lock) -> str:
    """The lock's end in local time: the time alone today, with the date on another day."""
    until = local_time(lock.locked_until)
    today = local_date(datetime.now(UTC))
    return until.removeprefix(today + " ") if until.startswith(today + " ") else until
