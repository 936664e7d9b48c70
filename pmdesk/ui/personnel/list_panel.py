"""Personnel's left side: the search row (search, Reload, New), the staff list and its count.

The list's model (``PersonnelModel``) loads on workers; this panel shows it, keeps the sort
indicator on columns that can be sorted, and says how many people there are (or match).
What a chosen row opens is the page's business (``row_chosen``).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pmdesk.ui.errors import error_text
from pmdesk.ui.icons import icon
from pmdesk.ui.lists import list_table, reload_button, search_box, set_search_texts
from pmdesk.ui.personnel.model import COLUMNS, PersonnelModel
from pmdesk.ui.system.common import local_number
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import MessageLabel, make_primary

ROW_HEIGHT = 26
SEARCH_DELAY_MS = 250
COLUMN_WIDTHS = (120, 105, 70, 90, 190, 110, 70)


class PersonnelList(Retranslating, QWidget):
    """The search row, the staff list and its count (see the module's docstring)."""

    def __init__(
        self,
        model: PersonnelModel,
        *,
        can_edit: bool,
        reload: Callable[[], None],
        new: Callable[[], None],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.model = model
        self._counted = False  # the count line is shown (and follows the language)
        self._build(can_edit, reload, new)
        self.retranslate()

    def retranslate(self) -> None:
        set_search_texts(
            self.search_edit,
            self.tr("Search name, number, login or e-mail"),
            self.tr("Search personnel"),
        )
        self.new_button.setText(self.tr("New"))
        self.refresh_button.setToolTip(self.tr("Reload the list (F5)"))
        self.refresh_button.setAccessibleName(self.tr("Reload the list"))
        self.table.setAccessibleName(self.tr("Personnel"))
        self.model.retranslate()
        self._fit_columns()
        if self._counted:
            self.show_count()

    def _build(self, can_edit: bool, reload: Callable[[], None], new: Callable[[], None]) -> None:
        self.search_edit, self.search_timer = search_box(
            self, "searchEdit", SEARCH_DELAY_MS, self.apply_search
        )
        self.new_button = make_primary(QPushButton(icon("add-light"), "", self))
        self.new_button.setObjectName("newButton")
        self.new_button.setEnabled(can_edit)
        self.new_button.clicked.connect(lambda _checked=False: new())
        self.refresh_button = reload_button(self, "refreshButton", reload)
        self._build_table()
        self.count_label = QLabel(self)
        self.count_label.setObjectName("countLabel")
        self.count_label.setProperty("role", "muted")
        self.message = MessageLabel(self)
        self.message.setObjectName("listMessage")

        search_row = QHBoxLayout()
        search_row.setSpacing(6)
        search_row.addWidget(self.search_edit, 1)
        search_row.addWidget(self.refresh_button)
        search_row.addWidget(self.new_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 6, 12)
        layout.setSpacing(8)
        layout.addLayout(search_row)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.count_label)

    def _build_table(self) -> None:
        self.table = list_table(
            self,
            "personnelTable",
            self.model,
            ROW_HEIGHT,
            QAbstractItemView.SelectionMode.SingleSelection,
        )
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.setHighlightSections(False)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSortIndicatorShown(True)
        for column, width in enumerate(COLUMN_WIDTHS):
            header.resizeSection(column, width)
        header.setSortIndicator(0, Qt.SortOrder.AscendingOrder)

    def _fit_columns(self) -> None:
        """Each column at least as wide as its title in the app's language, with its arrow."""
        header = self.table.horizontalHeader()
        metrics = header.fontMetrics()
        for column, width in enumerate(COLUMN_WIDTHS):
            title = str(self.model.headerData(column, Qt.Orientation.Horizontal) or "")
            header.resizeSection(column, max(width, metrics.horizontalAdvance(title) + 32))

    # ----- search and sort ----------------------------------------------------------------

    def focus_search(self) -> None:
        self.search_edit.setFocus()
        self.search_edit.selectAll()

    def apply_search(self) -> None:
        self.search_timer.stop()
        self.model.set_search(self.search_edit.text())

    def sortable(self, column: int) -> bool:
        """Whether ``column`` can be sorted; if not, the indicator goes back to the model's
        sort (a column computed from the clock)."""
        if COLUMNS[column].sort_key is not None:
            return True
        header = self.table.horizontalHeader()
        header.blockSignals(True)
        previous = (
            Qt.SortOrder.DescendingOrder if self.model.descending else Qt.SortOrder.AscendingOrder
        )
        header.setSortIndicator(self.model.sort_column, previous)
        header.blockSignals(False)
        return False

    # ----- what the list shows ------------------------------------------------------------

    def show_count(self) -> None:
        """How many people there are, or match the search."""
        self.message.clear_message()
        self._counted = True
        total = self.model.total
        if self.model.search:
            text = (
                self.tr("1 person matches")
                if total == 1
                else self.tr("{n} people match").format(n=local_number(total))
            )
        else:
            text = (
                self.tr("1 person")
                if total == 1
                else self.tr("{n} people").format(n=local_number(total))
            )
        self.count_label.setText(text)

    def show_failure(self, exc: object) -> None:
        self.message.show_error(error_text(exc, self.tr("The list could not be loaded")))

    def select_row(self, row: int) -> None:
        """Make ``row`` the current one without announcing a choice."""
        selection = self.table.selectionModel()
        selection.blockSignals(True)
        index = self.model.index(row, 0)
        selection.setCurrentIndex(
            index,
            QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows,
        )
        selection.blockSignals(False)
        self.table.scrollTo(index)

    def current_index(self) -> QModelIndex:
        return self.table.selectionModel().currentIndex()

    def clear_selection(self) -> None:
        self.table.selectionModel().clearSelection()
