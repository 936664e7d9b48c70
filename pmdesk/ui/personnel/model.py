"""The Personnel list as a lazy ``QAbstractTableModel``: smooth with 100,000 people.

The first block comes first (``PersonnelService.first_page``) and is shown at once; the count
follows and ``rowCount`` becomes the database's ``count()``. Further rows arrive in blocks of 256
from ``PersonnelService.page`` on a worker thread, when the view first asks for one of their cells
(newest request first, one block at a time, so dragging the scroll bar does not queue up hundreds
of queries). Sorting and searching happen in SQL: a header click or a new search term starts a
new "generation" and every answer of an older one is dropped. A bounded cache keeps the most
recently used blocks.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QCoreApplication,
    QModelIndex,
    Qt,
    Signal,
)

from pmdesk.ui.icons import icon
from pmdesk.ui.lists import ModelIndex, ReadOnlyTableModel
from pmdesk.ui.query import Query
from pmdesk.ui.system.common import local_time
from pmdesk.ui.tasks import TaskManager

if TYPE_CHECKING:
    from pmdesk.core.context import Actor
    from pmdesk.core.personnel import FirstPage, PersonnelService, PersonRow, SortKey


PERSON_ID_ROLE = Qt.ItemDataRole.UserRole + 1


@dataclass(frozen=True)
class Column:
    attribute: str
    title: str
    sort_key: str | None


translate = QCoreApplication.translate


# Titles are marked for translation here and translated when shown (headerData).
COLUMNS: tuple[Column, ...] = (
    Column("last_name", str(QT_TRANSLATE_NOOP("PersonnelModel", "Lastname")), "name"),
    Column("first_name", str(QT_TRANSLATE_NOOP("PersonnelModel", "Forename")), "first_name"),
    Column("number", str(QT_TRANSLATE_NOOP("PersonnelModel", "Number")), "number"),
    Column("login", str(QT_TRANSLATE_NOOP("PersonnelModel", "Login")), "login"),
    Column("email", str(QT_TRANSLATE_NOOP("PersonnelModel", "Email")), "email"),
    Column("group_name", str(QT_TRANSLATE_NOOP("PersonnelModel", "Usergroup")), "group"),
    Column("locked", str(QT_TRANSLATE_NOOP("PersonnelModel", "Locked")), None),
)
LOCKED_COLUMN = len(COLUMNS) - 1


@dataclass(frozen=True)
class Counted:
    """How many rows the list has, and the database clock (for the Locked column)."""

    total: int
    server_now: datetime


class PersonnelSource:
    """The blocking calls the model makes, on a worker thread, as ``actor``."""

    def __init__(
        self,
        service: PersonnelService,
        actor: Actor,
        server_now: Callable[[], datetime] | None = None,
    ) -> None:
        self._service = service
        self._actor = actor
        self._server_now = server_now or (lambda: datetime.now(UTC))

    def first(self, search: str, sort: SortKey, descending: bool, limit: int) -> FirstPage:
        """The first block (and the count, when it came with it: a search)."""
        return self._service.first_page(
            self._actor, search=search, sort=sort, descending=descending, limit=limit
        )

    def count(self, search: str, known: int | None) -> Counted:
        """The count (unless ``known``) and the database clock: one statement for both."""
        if known is None:
            return Counted(*self._service.count_and_clock(self._actor, search))
        return Counted(known, self._server_now())

    def block(
        self, search: str, sort: SortKey, descending: bool, offset: int, limit: int
    ) -> list[PersonRow]:
        return self._service.page(
            self._actor, search=search, sort=sort, descending=descending, offset=offset, limit=limit
        )


class PersonnelModel(ReadOnlyTableModel):
    """Rows of ``PersonRow``; empty cells while a block is on its way."""

    #: A fresh count arrived (after a search, a sort or a refresh).
    refreshed = Signal()
    #: A query failed: the exception (shown by the page).
    failed = Signal(object)

    BLOCK_SIZE = 256
    MAX_BLOCKS = 64

    def __init__(
        self, source: PersonnelSource, tasks: TaskManager, parent: Any | None = None
    ) -> None:
        super().__init__(parent)
        self._source = source
        # The first block, the count and the blocks scrolled to: one round per refresh, and a
        # new refresh (search, sort) drops the answers of the one before.
        self._reading = Query(self, tasks, label="personnel", failed=self._query_failed)
        self._search = ""
        self._sort_column = 0
        self._descending = False
        self._total = 0
        self._blocks: OrderedDict[int, list[PersonRow]] = OrderedDict()
        self._wanted: OrderedDict[int, None] = OrderedDict()
        self._in_flight: int | None = None
        self._refreshing = False
        self._counting = False
        self._clock_known = False
        self._clock_offset = timedelta()
        self._lock_icon = icon("lock")
        self.queries = 0  # blocks fetched, for tests and the benchmark

    # ----- what to show -------------------------------------------------------------------

    @property
    def search(self) -> str:
        return self._search

    @property
    def total(self) -> int:
        return self._total

    @property
    def loading(self) -> bool:
        return (
            self._refreshing or self._counting or self._in_flight is not None or bool(self._wanted)
        )

    @property
    def sort_column(self) -> int:
        return self._sort_column

    @property
    def descending(self) -> bool:
        return self._descending

    def set_search(self, text: str) -> None:
        if text.strip() != self._search:
            self._search = text.strip()
            self.refresh()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(COLUMNS) or COLUMNS[column].sort_key is None:
            return
        descending = order == Qt.SortOrder.DescendingOrder
        if (column, descending) == (self._sort_column, self._descending) and self._total:
            return
        self._sort_column = column
        self._descending = descending
        self.refresh()

    def refresh(self) -> None:
        """Reload from the first block, then count; older answers are dropped.

        The first block is shown as soon as it arrives (the list has its rows for a moment); the
        count follows and adds the rest of the rows, then ``refreshed`` is emitted. A search
        brings its count with the first block (it picks the query plan by it).
        """
        self._reading.restart()
        self._refreshing = True
        self._counting = False
        source, search, sort, descending = (
            self._source,
            self._search,
            self._sort_key(),
            self._descending,
        )
        limit = self.BLOCK_SIZE
        self._reading.run(
            lambda: source.first(search, sort, descending, limit),
            self._first_arrived,
            label="personnel first block",
        )

    def _sort_key(self) -> SortKey:
        key = COLUMNS[self._sort_column].sort_key
        assert key is not None
        return key  # type: ignore[return-value]

    # ----- answers (GUI thread) -----------------------------------------------------------

    def _first_arrived(self, result: FirstPage) -> None:
        self.beginResetModel()
        self._blocks.clear()
        self._wanted.clear()
        self._in_flight = None
        rows = result.rows
        self._total = result.total if result.total is not None else len(rows)
        if rows:
            self._blocks[0] = rows
        self._refreshing = False
        self._counting = True
        self.endResetModel()
        if result.total is not None and self._clock_known:
            self._counted(Counted(result.total, datetime.now(UTC) + self._clock_offset))
            return
        source, search, known = self._source, self._search, result.total
        self._reading.run(
            lambda: source.count(search, known), self._counted, label="personnel count"
        )

    def _counted(self, counted: Counted) -> None:
        offset = counted.server_now - datetime.now(UTC)
        if not self._clock_known or abs(offset - self._clock_offset) > timedelta(seconds=1):
            self._clock_offset = offset
            self._clock_known = True
            if self._total:
                last = self.index(min(self._total, self.BLOCK_SIZE) - 1, LOCKED_COLUMN)
                self.dataChanged.emit(self.index(0, LOCKED_COLUMN), last)
        if counted.total > self._total:
            self.beginInsertRows(QModelIndex(), self._total, counted.total - 1)
            self._total = counted.total
            self.endInsertRows()
        elif counted.total < self._total:
            # Rows went away between the two queries (another workstation deleted people).
            self.beginRemoveRows(QModelIndex(), counted.total, self._total - 1)
            self._total = counted.total
            self.endRemoveRows()
        self._counting = False
        self.refreshed.emit()
        self._fetch_next()

    def _block_arrived(self, block: int, rows: list[PersonRow]) -> None:
        self._in_flight = None
        self._blocks[block] = rows
        self._blocks.move_to_end(block)
        while len(self._blocks) > self.MAX_BLOCKS:
            self._blocks.popitem(last=False)
        first = block * self.BLOCK_SIZE
        last = min(first + self.BLOCK_SIZE, self._total) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first, 0), self.index(last, len(COLUMNS) - 1))
        self._fetch_next()

    def _query_failed(self, exc: BaseException) -> None:
        self._refreshing = False
        self._counting = False
        self._in_flight = None
        self._wanted.clear()
        self.failed.emit(exc)

    # ----- lazy blocks --------------------------------------------------------------------

    def _want(self, block: int) -> None:
        if block == self._in_flight:
            return
        self._wanted[block] = None
        self._wanted.move_to_end(block)
        if self._in_flight is None and not self._refreshing and not self._counting:
            self._fetch_next()

    def _fetch_next(self) -> None:
        while self._wanted:
            block, _ = self._wanted.popitem(last=True)  # the most recent request first
            if block not in self._blocks:
                break
        else:
            return
        self._in_flight = block
        self.queries += 1
        source, search, sort, descending = (
            self._source,
            self._search,
            self._sort_key(),
            self._descending,
        )
        offset, limit = block * self.BLOCK_SIZE, self.BLOCK_SIZE
        self._reading.run(
            lambda: source.block(search, sort, descending, offset, limit),
            lambda rows: self._block_arrived(block, rows),
            label="personnel block",
        )

    def row_at(self, row: int) -> PersonRow | None:
        """The row if its block is loaded (None while it is on its way)."""
        if not 0 <= row < self._total:
            return None
        block = row // self.BLOCK_SIZE
        rows = self._blocks.get(block)
        if rows is None:
            self._want(block)
            return None
        self._blocks.move_to_end(block)
        position = row - block * self.BLOCK_SIZE
        return rows[position] if position < len(rows) else None

    def row_of(self, person_id: int) -> int | None:
        """The row of a loaded person, or None."""
        for block, rows in self._blocks.items():
            for position, person in enumerate(rows):
                if person.id == person_id:
                    return block * self.BLOCK_SIZE + position
        return None

    def is_locked(self, person: PersonRow) -> bool:
        if person.locked_until is None:
            return False
        return person.locked_until > datetime.now(UTC) + self._clock_offset

    def retranslate(self) -> None:
        """The language changed: the view asks for the titles and the loaded cells again."""
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(COLUMNS) - 1)
        if self._total:
            last = self.index(self._total - 1, len(COLUMNS) - 1)
            self.dataChanged.emit(self.index(0, 0), last)

    # ----- QAbstractTableModel ------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._total

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return translate("PersonnelModel", COLUMNS[section].title)
            if role == Qt.ItemDataRole.ToolTipRole and COLUMNS[section].sort_key:
                return translate("PersonnelModel", "Click to sort by {column}").format(
                    column=translate("PersonnelModel", COLUMNS[section].title)
                )
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return section + 1
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.column() < len(COLUMNS):
            return None
        if role not in (
            Qt.ItemDataRole.DisplayRole,
            Qt.ItemDataRole.ToolTipRole,
            Qt.ItemDataRole.DecorationRole,
            PERSON_ID_ROLE,
        ):
            return None
        person = self.row_at(index.row())
        column = index.column()
        if person is None:
            if role == Qt.ItemDataRole.DisplayRole and column == 0:
                return "…"
            return None
        if role == PERSON_ID_ROLE:
            return person.id
        if column == LOCKED_COLUMN:
            locked = self.is_locked(person)
            if role == Qt.ItemDataRole.DisplayRole:
                return translate("PersonnelModel", "Locked") if locked else ""
            if role == Qt.ItemDataRole.DecorationRole:
                return self._lock_icon if locked else None
            if role == Qt.ItemDataRole.ToolTipRole and locked and person.locked_until:
                return translate("PersonnelModel", "Locked until {time}").format(
                    time=local_time(person.locked_until)
                )
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return str(getattr(person, COLUMNS[column].attribute) or "")
        return None
