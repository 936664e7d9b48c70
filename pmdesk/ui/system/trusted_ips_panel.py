"""System → Security's list of trusted IP addresses: a filter, the table with a red remove icon on
each row, "Viewing items 1-20 of N" with Previous / Next, and removing several rows at once.

"Needs review" (issue 16 §2) shows only the rows a helpdesk should look at, with a Reasons
column; the box title and the Security tab say how many there are. After a removal, a bar
offers Undo for 10 s (``undo_ms``); Undo puts back exactly the rows removed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.changes import TRUSTED_IPS
from pmdesk.core.errors import PermissionDenied
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.ui.errors import error_text
from pmdesk.ui.icons import icon
from pmdesk.ui.lists import list_table, reload_button, search_box
from pmdesk.ui.message_boxes import ask
from pmdesk.ui.ops import Operations
from pmdesk.ui.query import Query
from pmdesk.ui.system.review_count import (
    label_review_count,
    no_count,
    review_button,
    review_columns,
)
from pmdesk.ui.system.trusted_ips_model import (
    ADDRESS,
    CREATED,
    EXPIRES,
    ID,
    NETWORK,
    REASONS,
    REMOVE,
    ROW_ID_ROLE,
    USER,
    RemoveIconDelegate,
    TrustedIpModel,
    TrustedIpSource,
)
from pmdesk.ui.system.undo_bar import UNDO_DURATION_MS, UndoBar
from pmdesk.ui.widgets import BusyIndicator, MessageLabel, hint_label, make_danger

if TYPE_CHECKING:
    from pmdesk.core.context import Actor
    from pmdesk.ui.page_context import ChangeHub
    from pmdesk.ui.tasks import TaskManager

FILTER_DELAY_MS = 300


ROW_HEIGHT = 28


class TrustedIpPanel(QGroupBox):
    """The trusted IP addresses of everyone; removing needs System → Security Delete."""

    #: The table shows a fresh page (after a reload, a filter, paging or a removal).
    shown = Signal()
    #: Reload (F5) was clicked: the page reloads everything.
    reload_requested = Signal()
    #: "Trace…" for the one address selected: everyone and every event there.
    trace_requested = Signal(str)

    def __init__(
        self,
        ip_service: TrustedIpService,
        actor: Actor,
        tasks: TaskManager,
        changes: ChangeHub,
        can_delete: bool,
        parent: QWidget | None = None,
        *,
        can_edit: bool = False,
        undo_ms: int = UNDO_DURATION_MS,
    ) -> None:
        super().__init__(self.tr("Trusted IP addresses"), parent)
        self.setObjectName("trustedIpBox")
        self.ip_service = ip_service
        self.actor = actor
        self.can_delete = can_delete
        self.can_edit = can_edit  # putting back (Undo) needs System → Security Edit
        self.review_count: int | None = None
        self._tab_title: str | None = None
        self._reselect: set[int] = set()
        self.model = TrustedIpModel(TrustedIpSource(ip_service, actor), tasks, self)
        self.model.loaded.connect(self._page_loaded)
        self.model.failed.connect(self._page_failed)

        filter_row = self._build_filter_row()
        self._build_table()
        paging_row = self._build_paging_row()
        self.ip_message = MessageLabel(self)
        self.ip_message.setObjectName("ipMessage")
        self._build_review_parts(tasks, undo_ms)
        ip_layout = QVBoxLayout(self)
        ip_layout.setSpacing(8)
        ip_layout.addWidget(
            hint_label(
                self.tr(
                    "This is an overview of all IP addresses that are trusted. Click the red icon "
                    "to remove one trusted by mistake (a home network, say): logins from there "
                    "need a security code again."
                ),
                self,
            )
        )
        ip_layout.addLayout(filter_row)
        ip_layout.addWidget(self.ip_message)
        ip_layout.addWidget(self.undo_bar)
        ip_layout.addWidget(self.table, 1)
        ip_layout.addWidget(self.empty_label)
        ip_layout.addLayout(paging_row)
        delete_shortcut = QShortcut(QKeySequence.StandardKey.Delete, self.table)
        delete_shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete_shortcut.activated.connect(self.remove_selected)
        self._build_operations(tasks, changes)
        self._update_buttons()

    def _build_review_parts(self, tasks: TaskManager, undo_ms: int) -> None:
        """The Undo bar and the count of addresses needing review."""
        self.undo_bar = UndoBar(self, duration_ms=undo_ms)
        self.undo_bar.undo_requested.connect(self._undo)
        self._removed: list[int] = []
        self._counting = Query(self, tasks, label="trusted IPs to review", failed=no_count)

    def _build_operations(self, tasks: TaskManager, changes: ChangeHub) -> None:
        """Removing and putting back, each one at a time, announced to other screens."""
        ops = Operations(self, tasks, changes=changes)
        self.removing = ops.make(
            "remove",
            message=self.ip_message,
            failure=self.tr("Nothing was removed"),
            # Remove stays greyed while a removal runs: a second click would ask again.
            busy=lambda _on, _text: self._update_buttons(),
            handle={PermissionDenied: self._may_not_remove},
            announces={TRUSTED_IPS},
        )
        self.restoring = ops.make(
            "restore", message=self.ip_message, failure=self.tr("Nothing was put back"),
            busy=lambda _on, _text: self._update_buttons(), announces={TRUSTED_IPS},
        )  # fmt: skip

    def _build_filter_row(self) -> QHBoxLayout:
        """The filter, Needs review, the spinner, Trace and Reload."""
        self.filter_edit, self._filter_timer = search_box(
            self,
            "ipFilterEdit",
            self.tr("Filter by user or address"),
            FILTER_DELAY_MS,
            self._apply_filter,
            label=self.tr("Filter trusted IP addresses"),
        )
        self.review_button = review_button(self, self._review_toggled)
        self.reload_button = reload_button(
            self,
            "reloadIpsButton",
            self.tr("Reload (F5)"),
            self.tr("Reload trusted IP addresses"),
            self.reload_requested.emit,
        )
        self.ip_busy = BusyIndicator(self)
        self.trace_button = QPushButton(icon("search"), self.tr("Trace…"), self)
        self.trace_button.setObjectName("traceButton")
        self.trace_button.setAutoDefault(False)
        self.trace_button.setToolTip(
            self.tr("Everyone who has the selected address trusted, and every event there")
        )
        self.trace_button.clicked.connect(self._trace_selected)
        filter_row = QHBoxLayout()
        filter_row.setSpacing(6)
        filter_row.addWidget(self.filter_edit, 1)
        filter_row.addWidget(self.review_button)
        filter_row.addWidget(self.ip_busy)
        filter_row.addWidget(self.trace_button)
        filter_row.addWidget(self.reload_button)

        return filter_row

    def _build_table(self) -> None:
        """The table of addresses, with a red remove icon on each row."""
        self.table = list_table(self, "trustedIpTable", self.model, ROW_HEIGHT)
        self.table.setAccessibleName(self.tr("Trusted IP addresses"))
        self.table.setMouseTracking(True)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(False)
        columns = ((ID, 50), (ADDRESS, 115), (NETWORK, 170), (CREATED, 125), (EXPIRES, 125))
        for column, width in columns:
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, width)
        header.setSectionResizeMode(USER, QHeaderView.ResizeMode.Stretch)
        self.table.setColumnHidden(REASONS, True)
        header.setSectionResizeMode(REMOVE, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(REMOVE, 40)
        self.remove_delegate = RemoveIconDelegate(self.table)
        self.remove_delegate.enabled = self.can_delete
        self.remove_delegate.clicked.connect(self._remove_clicked)
        self.table.setItemDelegateForColumn(REMOVE, self.remove_delegate)
        self.table.selectionModel().selectionChanged.connect(self._selection_changed)
        self.empty_label = QLabel(self)
        self.empty_label.setObjectName("ipEmptyLabel")
        self.empty_label.setProperty("role", "muted")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.hide()

    def _build_paging_row(self) -> QHBoxLayout:
        """Remove selected, then where the page stands and Previous / Next."""
        self.remove_button = make_danger(
            QPushButton(icon("remove"), self.tr("Remove selected"), self)
        )
        self.remove_button.setObjectName("removeSelectedButton")
        self.remove_button.setAutoDefault(False)
        self.remove_button.clicked.connect(self.remove_selected)
        self.paging_label = QLabel(self)
        self.paging_label.setObjectName("pagingLabel")
        self.paging_label.setProperty("role", "muted")
        self.paging_label.setWordWrap(True)  # may take two lines, so the page fits 1024 px
        self.previous_button = QPushButton(icon("previous"), self.tr("Previous"), self)
        self.previous_button.setObjectName("previousButton")
        self.next_button = QPushButton(icon("next"), self.tr("Next"), self)
        self.next_button.setObjectName("nextButton")
        self.next_button.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
        self.page_label = QLabel(self)
        self.page_label.setObjectName("pageNumberLabel")
        self.page_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.page_label.setMinimumWidth(28)
        for button in (self.previous_button, self.next_button):
            button.setAutoDefault(False)
        self.previous_button.clicked.connect(self.model.previous_page)
        self.next_button.clicked.connect(self.model.next_page)
        paging_row = QHBoxLayout()
        paging_row.setSpacing(6)
        paging_row.addWidget(self.remove_button)
        paging_row.addStretch(1)
        paging_row.addWidget(self.paging_label)
        paging_row.addSpacing(8)
        paging_row.addWidget(self.previous_button)
        paging_row.addWidget(self.page_label)
        paging_row.addWidget(self.next_button)
        return paging_row

    def reload(self) -> None:
        """Reload the page of trusted IPs on screen, keeping the selection where possible."""
        self._reselect = set(self.selected_ids())
        self.model.reload()
        self._update_ip_busy()

    def _review_toggled(self, on: bool) -> None:
        self._reselect = set()
        review_columns(self.table, on)
        self.model.set_review(on)
        self._update_ip_busy()

    def _count_review(self) -> None:
        """How many rows need review, for the box title and the Security tab (off the GUI
        thread; a newer count drops an older one)."""
        self._counting.restart()
        service, actor = self.ip_service, self.actor
        self._counting.run(lambda: service.review_count(actor), self._show_review_count)

    def _show_review_count(self, count: int) -> None:
        self.review_count = count
        self._tab_title = label_review_count(self, self.review_button, count, self._tab_title)

    def _apply_filter(self) -> None:
        self._filter_timer.stop()
        self._reselect = set()
        self.model.set_filter(self.filter_edit.text())
        self._update_ip_busy()

    def _page_loaded(self) -> None:
        if self.ip_message.role == "error":
            self.ip_message.clear_message()
        page = self.model.current_page
        self._update_ip_busy()
        if page is None or page.total == 0:
            self.paging_label.setText(self.tr("No items found."))
            self.page_label.setText("")
        else:
            total = (
                f"{page.total}"
                if page.total_exact
                else self.tr("more than {n}").format(n=page.total)
            )
            self.paging_label.setText(
                self.tr("Viewing items {first}-{last} of {total}").format(
                    first=page.first_index, last=page.last_index, total=total
                )
            )
            self.page_label.setText(str(page.page))
            self.page_label.setToolTip(
                self.tr("Page {page} of {pages}").format(page=page.page, pages=page.pages)
                if page.total_exact
                else ""
            )
        empty = page is None or not page.rows
        if self.model.filter_text:
            text = self.tr("No trusted address matches “{text}”.")
        elif self.model.review:
            text = self.tr("No trusted address needs review.")
        else:
            text = self.tr("No address is trusted at the moment.")
        self.empty_label.setText(text.format(text=self.model.filter_text))
        self.empty_label.setVisible(empty)
        if self._reselect:
            self._select_ids(self._reselect)
            self._reselect = set()
        self._update_buttons()
        self._count_review()
        self.shown.emit()

    def _page_failed(self, exc: object) -> None:
        self._update_ip_busy()
        self.ip_message.show_error(
            error_text(exc, self.tr("The trusted addresses could not be loaded"))
        )

    def _update_ip_busy(self) -> None:
        self.ip_busy.show_while(self.model.loading)
        self._update_buttons()

    def selected_ids(self) -> list[int]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        found = []
        for row in rows:
            value = self.model.data(self.model.index(row, 0), ROW_ID_ROLE)
            if value is not None:
                found.append(int(value))
        return found

    def _select_ids(self, ids: set[int]) -> None:
        selection = QItemSelection()
        for row_id in ids:
            row = self.model.row_of(row_id)
            if row is not None:
                selection.select(
                    self.model.index(row, 0), self.model.index(row, self.model.columnCount() - 1)
                )
        if not selection.isEmpty():
            self.table.selectionModel().select(
                selection, QItemSelectionModel.SelectionFlag.ClearAndSelect
            )

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._update_buttons()

    def _trace_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        found = self.model.row_at(rows[0].row()) if len(rows) == 1 else None
        if found is not None:
            self.trace_requested.emit(found.address)

    def _remove_clicked(self, row: int) -> None:
        found = self.model.row_at(row)
        if found is not None:
            self.remove_rows([found.id])

    def remove_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.remove_rows(ids)

    def remove_rows(self, ids: list[int]) -> None:
        """Ask, then remove these trusted addresses (System → Security Delete)."""
        if not ids or self.removing.running:
            return
        if not self.can_delete:
            self.ip_message.show_error(
                self.tr(
                    "Your user group may not remove trusted addresses: it needs System → "
                    "Security Delete."
                )
            )
            return
        positions = [self.model.row_of(i) for i in ids]
        rows = [r for r in (self.model.row_at(p) for p in positions if p is not None) if r]
        if len(ids) == 1 and rows:
            row = rows[0]
            text = self.tr("Remove the trusted address {address} of {user}?").format(
                address=row.address, user=row.person_name or row.login
            )
        else:
            text = self.tr("Remove {n} trusted addresses?").format(n=len(ids))
        service, actor = self.ip_service, self.actor
        wanted = list(ids)

        def confirmed() -> None:
            def done(removed: int) -> None:
                if removed and self.can_edit:
                    self._offer_undo(wanted, removed)
                if removed == len(wanted):
                    if not self.can_edit:
                        self.ip_message.show_success(
                            self.tr("1 trusted address removed.")
                            if removed == 1
                            else self.tr("{n} trusted addresses removed.").format(n=removed)
                        )
                else:
                    self.ip_message.show_notice(
                        self.tr(
                            "{n} of {m} removed; the others were already gone (removed on "
                            "another workstation or expired)."
                        ).format(n=removed, m=len(wanted))
                    )
                self._reselect = set()
                self.model.reload()
                self._update_ip_busy()

            self.ip_message.clear_message()
            self.undo_bar.dismiss()
            self.removing.run(lambda: service.remove(actor, wanted), done)

        ask(
            self,
            self.tr("Remove trusted address"),
            text,
            self.tr("Remove"),
            confirmed,
            danger=True,
            informative=self.tr("Logins from there will need a security code again."),
        )

    def _offer_undo(self, ids: list[int], removed: int) -> None:
        self._removed = list(ids)
        self.undo_bar.offer(
            self.tr("Removed 1 trusted address.")
            if removed == 1
            else self.tr("Removed {n} trusted addresses.").format(n=removed),
            self.tr("Undo: put back the addresses just removed"),
        )

    def _undo(self) -> None:
        """Put back what the last removal took (the core allows only one's own, just now)."""
        wanted, self._removed = self._removed, []
        if not wanted or self.restoring.running:
            return
        service, actor = self.ip_service, self.actor

        def done(restored: int) -> None:
            if restored:
                self.ip_message.show_success(
                    self.tr("1 trusted address put back.")
                    if restored == 1
                    else self.tr("{n} trusted addresses put back.").format(n=restored)
                )
            else:
                self.ip_message.show_notice(
                    self.tr("Nothing was put back: the time for Undo had passed.")
                )
            self._reselect = set(wanted)
            self.model.reload()
            self._update_ip_busy()

        self.ip_message.clear_message()
        self.restoring.run(lambda: service.restore(actor, wanted), done)

    def _may_not_remove(self, exc: PermissionDenied) -> None:
        self.ip_message.show_error(error_text(exc, self.tr("Nothing was removed")))
        self.remove_delegate.enabled = False
        self.table.viewport().update()

    def _update_buttons(self) -> None:
        selected = len(self.selected_ids())
        self.trace_button.setEnabled(selected == 1)
        self.remove_button.setEnabled(
            self.can_delete and selected > 0 and not self.removing.running
        )
        self.remove_button.setText(
            self.tr("Remove selected ({n})").format(n=selected)
            if selected > 1
            else self.tr("Remove selected")
        )
        self.remove_button.setToolTip(
            ""
            if self.can_delete
            else self.tr("Your user group needs System → Security Delete to remove addresses.")
        )
        self.previous_button.setEnabled(self.model.has_previous())
        self.next_button.setEnabled(self.model.has_next())
