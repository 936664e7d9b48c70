"""System → Security's list of trusted IP addresses: a filter, the table with a red remove icon on
each row, "Viewing items 1-20 of N" with Previous / Next, and removing several rows at once.

"Needs review" (issue 16 §2) shows only the rows a helpdesk should look at, with a Reasons
column; the box title and the Security tab say how many there are. After a removal, a bar
offers Undo for 10 s (``undo_ms``); Undo puts back exactly the rows removed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QItemSelection, QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.ui.errors import error_text
from pmdesk.ui.icons import icon
from pmdesk.ui.lists import list_table, reload_button, search_box, set_search_texts
from pmdesk.ui.query import Query
from pmdesk.ui.system.common import local_number
from pmdesk.ui.system.review_count import (
    TabTitle,
    describe_review_button,
    label_review_count,
    no_count,
    review_button,
    review_columns,
)
from pmdesk.ui.system.trusted_ip_removal import TrustedIpRemoval
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
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import BusyIndicator, MessageLabel, hint_label, make_danger

if TYPE_CHECKING:
    from pmdesk.core.context import Actor
    from pmdesk.ui.page_context import ChangeHub
    from pmdesk.ui.tasks import TaskManager

FILTER_DELAY_MS = 300


ROW_HEIGHT = 28


class TrustedIpPanel(Retranslating, TrustedIpRemoval):
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
        super().__init__(parent)
        self.setObjectName("trustedIpBox")
        self.ip_service = ip_service
        self.actor = actor
        self.can_delete = can_delete
        self.can_edit = can_edit  # putting back (Undo) needs System → Security Edit
        self.review_count: int | None = None
        self._tab = TabTitle()
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
        self.hint = hint_label("", self)
        ip_layout.addWidget(self.hint)
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
        self.retranslate()

    def retranslate(self) -> None:
        self.hint.setText(
            self.tr(
                "This is an overview of all IP addresses that are trusted. Click the red icon "
                "to remove one trusted by mistake (a home network, say): logins from there "
                "need a security code again."
            )
        )
        set_search_texts(
            self.filter_edit,
            self.tr("Filter by user or address"),
            self.tr("Filter trusted IP addresses"),
        )
        describe_review_button(self.review_button)
        self.reload_button.setToolTip(self.tr("Reload (F5)"))
        self.reload_button.setAccessibleName(self.tr("Reload trusted IP addresses"))
        self.trace_button.setText(self.tr("Trace…"))
        self.trace_button.setToolTip(
            self.tr("Everyone who has the selected address trusted, and every event there")
        )
        self.table.setAccessibleName(self.tr("Trusted IP addresses"))
        self.previous_button.setText(self.tr("Previous"))
        self.next_button.setText(self.tr("Next"))
        self.model.retranslate()
        self._show_review_count(self.review_count or 0)
        # The window may name its tabs anew after this: count on the tab once it has.
        QTimer.singleShot(0, self, lambda: self._show_review_count(self.review_count or 0))
        self._show_paging()
        self._update_buttons()

    def _build_review_parts(self, tasks: TaskManager, undo_ms: int) -> None:
        """The Undo bar and the count of addresses needing review."""
        self.undo_bar = UndoBar(self, duration_ms=undo_ms)
        self.undo_bar.undo_requested.connect(self._undo)
        self._removed = []
        self._counting = Query(self, tasks, label="trusted IPs to review", failed=no_count)

    def _build_filter_row(self) -> QHBoxLayout:
        """The filter, Needs review, the spinner, Trace and Reload."""
        self.filter_edit, self._filter_timer = search_box(
            self, "ipFilterEdit", FILTER_DELAY_MS, self._apply_filter
        )
        self.review_button = review_button(self, self._review_toggled)
        self.reload_button = reload_button(self, "reloadIpsButton", self.reload_requested.emit)
        self.ip_busy = BusyIndicator(self)
        self.trace_button = QPushButton(icon("search"), "", self)
        self.trace_button.setObjectName("traceButton")
        self.trace_button.setAutoDefault(False)
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
        self.remove_button = make_danger(QPushButton(icon("remove"), "", self))
        self.remove_button.setObjectName("removeSelectedButton")
        self.remove_button.setAutoDefault(False)
        self.remove_button.clicked.connect(self.remove_selected)
        self.paging_label = QLabel(self)
        self.paging_label.setObjectName("pagingLabel")
        self.paging_label.setProperty("role", "muted")
        self.paging_label.setWordWrap(True)  # may take two lines, so the page fits 1024 px
        self.previous_button = QPushButton(icon("previous"), "", self)
        self.previous_button.setObjectName("previousButton")
        self.next_button = QPushButton(icon("next"), "", self)
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
        label_review_count(self, self.review_button, count, self._tab)

    def _apply_filter(self) -> None:
        self._filter_timer.stop()
        self._reselect = set()
        self.model.set_filter(self.filter_edit.text())
        self._update_ip_busy()

    def _page_loaded(self) -> None:
        if self.ip_message.role == "error":
            self.ip_message.clear_message()
        self._update_ip_busy()
        self._show_paging()
        if self._reselect:
            self._select_ids(self._reselect)
            self._reselect = set()
        self._update_buttons()
        self._count_review()
        self.shown.emit()

    def _show_paging(self) -> None:
        """Where the page stands ("Viewing items 1-20 of 45"), or why the list is empty."""
        page = self.model.current_page
        if page is None or page.total == 0:
            self.paging_label.setText(self.tr("No items found."))
            self.page_label.setText("")
        else:
            total = (
                local_number(page.total)
                if page.total_exact
                else self.tr("more than {n}").format(n=local_number(page.total))
            )
            self.paging_label.setText(
                self.tr("Viewing items {first}-{last} of {total}").format(
                    first=local_number(page.first_index),
                    last=local_number(page.last_index),
                    total=total,
                )
            )
            self.page_label.setText(local_number(page.page))
            self.page_label.setToolTip(
                self.tr("Page {page} of {pages}").format(
                    page=local_number(page.page), pages=local_number(page.pages)
                )
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
