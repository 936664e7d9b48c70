"""The pieces of the long lists (Personnel, Security, Log): a search field that waits for a pause
in typing, and a read-only table of rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from PySide6.QtCore import (
    QAbstractItemModel,
    QAbstractTableModel,
    QCoreApplication,
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
)
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLineEdit,
    QTableView,
    QTableWidget,
    QToolButton,
    QWidget,
)

from pmdesk.ui.icons import icon

ModelIndex = QModelIndex | QPersistentModelIndex
translate = QCoreApplication.translate


class ReadOnlyTableModel(QAbstractTableModel):
    """A table model whose rows can be selected and never edited (every list in pmdesk)."""

    def flags(self, index: ModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemNeverHasChildren
        )


def search_box(
    parent: QWidget, name: str, delay_ms: int, apply: Callable[[], None]
) -> tuple[QLineEdit, QTimer]:
    """A search field that calls ``apply`` once typing pauses for ``delay_ms`` (or on Enter, or
    on its magnifier icon); its page's ``retranslate()`` gives it its texts
    (``set_search_texts``)."""
    edit = QLineEdit(parent)
    edit.setObjectName(name)
    edit.setClearButtonEnabled(True)
    search = edit.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
    search.triggered.connect(apply)
    _SearchButtonNames(edit, search)
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(delay_ms)
    timer.timeout.connect(apply)
    edit.textChanged.connect(lambda _text: timer.start())
    edit.returnPressed.connect(apply)
    return edit, timer


def set_search_texts(edit: QLineEdit, placeholder: str, label: str) -> None:
    """A search field's placeholder, and its name and description for screen readers (the
    placeholder describes it), in a page's ``retranslate()``."""
    edit.setPlaceholderText(placeholder)
    edit.setAccessibleName(label)
    edit.setAccessibleDescription(placeholder)


class _SearchButtonNames(QObject):
    """Names a search field's icon buttons for screen readers (a text would be drawn and cut
    off), and names them again when the language changes."""

    def __init__(self, edit: QLineEdit, search: QAction) -> None:
        super().__init__(edit)
        self._edit = edit
        self._search = search
        edit.installEventFilter(self)
        self.name_buttons()

    def name_buttons(self) -> None:
        names = {
            self._search: translate("SearchBox", "Search"),
            self._edit.findChild(QAction, "_q_qlineeditclearaction"): translate(
                "SearchBox", "Clear"
            ),
        }
        for button in self._edit.findChildren(QToolButton):
            spoken = names.get(button.defaultAction())
            if spoken:
                button.setAccessibleName(spoken)
                button.setToolTip(spoken)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.LanguageChange:
            self.name_buttons()
        return False


def list_table(
    parent: QWidget,
    name: str,
    model: QAbstractItemModel,
    row_height: int,
    selection: QAbstractItemView.SelectionMode = QAbstractItemView.SelectionMode.ExtendedSelection,
) -> QTableView:
    """A read-only list of rows: whole-row selection, fixed row height, no grid, no wrapping.

    The fixed height matters with large models: the view never measures rows it has not shown.
    """
    table = QTableView(parent)
    table.setObjectName(name)
    table.setModel(model)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(selection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setTabKeyNavigation(False)  # Tab leaves the list; the arrow keys move in it
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    vertical = table.verticalHeader()
    vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    vertical.setDefaultSectionSize(row_height)
    vertical.hide()
    table.horizontalHeader().setHighlightSections(False)
    return table


def reload_button(parent: QWidget, name: str, clicked: Callable[[], None]) -> QToolButton:
    """The round-arrow button beside a list that reads it again (F5 does the same); its page's
    ``retranslate()`` gives it a tooltip and a name for screen readers."""
    button = QToolButton(parent)
    button.setObjectName(name)
    button.setIcon(icon("refresh"))
    button.clicked.connect(lambda _checked=False: clicked())
    return button


def text_table(
    parent: QWidget,
    name: str,
    spoken: str,
    titles: Sequence[str],
    row_height: int,
    *,
    width: int = 140,
) -> QTableWidget:
    """A short read-only table of text rows, filled by the caller (``QTableWidget``): whole-row
    selection, no grid, no wrapping, columns ``width`` wide and the last one stretched; Tab
    leaves it (the arrows move inside)."""
    table = QTableWidget(0, len(titles), parent)
    table.setObjectName(name)
    table.setAccessibleName(spoken)
    table.setHorizontalHeaderLabels(list(titles))
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setTabKeyNavigation(False)
    table.setWordWrap(False)
    table.setShowGrid(False)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(row_height)
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setDefaultSectionSize(width)
    header.setStretchLastSection(True)
    header.setHighlightSections(False)
    return table
