"""System → Log's list: the audit events, loaded block by block as the view scrolls.

``AuditLogModel`` is a ``QAbstractTableModel`` that loads lazily: the first 200 events, then 200
more each time the view scrolls near the end (``canFetchMore`` / ``fetchMore``), each block on a
worker thread from ``AuditService.query`` (keyset by id, so a deep block costs what the first
does). A new filter starts again from the top; the answer of an older block is dropped (the
block is one ``Operation``, see pmdesk.ui.ops). Times are shown in this workstation's local
time, with UTC in the tooltip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QColor, QFont

from pmdesk.core.audit import LOG_COLUMNS, AuditRow, AuditService, Event, detail_text
from pmdesk.core.audit import event_name as audit_event_name
from pmdesk.ui.lists import ModelIndex, ReadOnlyTableModel
from pmdesk.ui.ops import Operation
from pmdesk.ui.system.common import local_time, utc_time
from pmdesk.ui.tasks import TaskManager

if TYPE_CHECKING:
    from pmdesk.core.context import Actor


translate = QCoreApplication.translate

BLOCK_SIZE = 200
ROW_ID_ROLE = Qt.ItemDataRole.UserRole + 1


def log_text(text: str) -> str:
    """``text`` translated in the Log's context (the core's titles and event names too)."""
    return translate("AuditLog", text)


#: The core's column titles (``audit.CSV_COLUMNS``) and event names (``audit.EVENT_NAMES``),
#: marked for translation in the Log's context; ``log_text`` translates them when shown. The
#: stored rows keep their event codes and English details.
LOG_TEXTS: tuple[object, ...] = (
    QT_TRANSLATE_NOOP("AuditLog", "Time"),
    QT_TRANSLATE_NOOP("AuditLog", "Actor"),
    QT_TRANSLATE_NOOP("AuditLog", "Event"),
    QT_TRANSLATE_NOOP("AuditLog", "Subject"),
    QT_TRANSLATE_NOOP("AuditLog", "Address"),
    QT_TRANSLATE_NOOP("AuditLog", "Workstation"),
    QT_TRANSLATE_NOOP("AuditLog", "Detail"),
    QT_TRANSLATE_NOOP("AuditLog", "Time (UTC)"),
    QT_TRANSLATE_NOOP("AuditLog", "Login succeeded"),
    QT_TRANSLATE_NOOP("AuditLog", "Login refused"),
    QT_TRANSLATE_NOOP("AuditLog", "Security code asked"),
    QT_TRANSLATE_NOOP("AuditLog", "Code sent"),
    QT_TRANSLATE_NOOP("AuditLog", "Code not delivered"),
    QT_TRANSLATE_NOOP("AuditLog", "Wrong code"),
    QT_TRANSLATE_NOOP("AuditLog", "Code voided"),
    QT_TRANSLATE_NOOP("AuditLog", "Account locked"),
    QT_TRANSLATE_NOOP("AuditLog", "Account unlocked"),
    QT_TRANSLATE_NOOP("AuditLog", "IP trusted"),
    QT_TRANSLATE_NOOP("AuditLog", "IP removed"),
    QT_TRANSLATE_NOOP("AuditLog", "IP restored"),
    QT_TRANSLATE_NOOP("AuditLog", "IP expired"),
    QT_TRANSLATE_NOOP("AuditLog", "IP not trusted"),
    QT_TRANSLATE_NOOP("AuditLog", "Office network added"),
    QT_TRANSLATE_NOOP("AuditLog", "Office network removed"),
    QT_TRANSLATE_NOOP("AuditLog", "Helpdesk code issued"),
    QT_TRANSLATE_NOOP("AuditLog", "Helpdesk code cancelled"),
    QT_TRANSLATE_NOOP("AuditLog", "Two-step turned on"),
    QT_TRANSLATE_NOOP("AuditLog", "Two-step turned off"),
    QT_TRANSLATE_NOOP("AuditLog", "Setting changed"),
    QT_TRANSLATE_NOOP("AuditLog", "Permissions changed"),
    QT_TRANSLATE_NOOP("AuditLog", "Group created"),
    QT_TRANSLATE_NOOP("AuditLog", "Group renamed"),
    QT_TRANSLATE_NOOP("AuditLog", "Group deleted"),
    QT_TRANSLATE_NOOP("AuditLog", "Person created"),
    QT_TRANSLATE_NOOP("AuditLog", "Person changed"),
    QT_TRANSLATE_NOOP("AuditLog", "Person deleted"),
    QT_TRANSLATE_NOOP("AuditLog", "Password changed"),
    QT_TRANSLATE_NOOP("AuditLog", "Test code sent"),
    QT_TRANSLATE_NOOP("AuditLog", "Trust alert sent"),
    QT_TRANSLATE_NOOP("AuditLog", "Trust alert not sent"),
    QT_TRANSLATE_NOOP("AuditLog", "Signed out"),
    QT_TRANSLATE_NOOP("AuditLog", "Session started"),
    QT_TRANSLATE_NOOP("AuditLog", "Session ended"),
    QT_TRANSLATE_NOOP("AuditLog", "Session refused"),
    QT_TRANSLATE_NOOP("AuditLog", "Break-glass recovery"),
)


# Events the Log shows highlighted: a recovery outside the normal rights.
HIGHLIGHTED_EVENTS = frozenset({Event.BREAK_GLASS.value})
# A warm red wash that keeps the text readable (and a bold font, for colour-blind readers).
HIGHLIGHT_BACKGROUND = QColor("#fde2e1")
HIGHLIGHT_FOREGROUND = QColor("#7a1712")


def event_name(value: str) -> str:
    return audit_event_name(value, log_text)


@dataclass(frozen=True)
class Column:
    title: str
    width: int


# The titles are the core's, so that the CSV export has the same ones.
COLUMNS: tuple[Column, ...] = tuple(
    Column(title, width)
    for title, width in zip(LOG_COLUMNS, (150, 150, 150, 170, 110, 120, 200), strict=True)
)
TIME, ACTOR, EVENT, SUBJECT, ADDRESS, WORKSTATION, DETAIL = range(len(COLUMNS))


@dataclass(frozen=True)
class LogFilters:
    """What the list shows: ``since`` inclusive, ``until`` exclusive (UTC)."""

    actor_text: str = ""
    event: str = ""
    since: datetime | None = None
    until: datetime | None = None
    address: str = ""  # an IP address, or how it starts


class AuditSource:
    """The blocking calls the model and the export make, on a worker thread, as ``actor``."""

    def __init__(self, service: AuditService, actor: Actor) -> None:
        self._service = service
        self._actor = actor

    def block(self, filters: LogFilters, before_id: int | None, limit: int) -> list[AuditRow]:
        return self._service.query(
            self._actor,
            actor_text=filters.actor_text or None,
            event=filters.event or None,
            since=filters.since,
            until=filters.until,
            limit=limit,
            before_id=before_id,
            address=filters.address or None,
        )

    def export(self, filters: LogFilters, path: Path) -> int:
        return self._service.export_csv(
            self._actor,
            path,
            actor_text=filters.actor_text or None,
            event=filters.event or None,
            since=filters.since,
            until=filters.until,
            translate=log_text,
            address=filters.address or None,
        )


class AuditLogModel(ReadOnlyTableModel):
    """The events loaded so far, newest first; ``loaded`` after each block, ``failed(exc)``."""

    loaded = Signal()
    failed = Signal(object)

    def __init__(
        self,
        source: AuditSource,
        tasks: TaskManager,
        parent: QObject | None = None,
        *,
        block_size: int = BLOCK_SIZE,
    ) -> None:
        super().__init__(parent)
        self._source = source
        self._tasks = tasks
        self.block_size = block_size
        self._rows: list[AuditRow] = []
        self._filters = LogFilters()
        self._fetching = Operation[list[AuditRow]](
            self, tasks, label="audit block", handle={BaseException: self._failed}
        )
        self._exhausted = True
        self._started = False
        self.blocks = 0  # blocks asked for, for tests

    @property
    def filters(self) -> LogFilters:
        return self._filters

    @property
    def loading(self) -> bool:
        """A block is on its way."""
        return self._fetching.running

    @property
    def exhausted(self) -> bool:
        """Every matching event is loaded."""
        return self._exhausted

    def row_at(self, row: int) -> AuditRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def set_filters(self, filters: LogFilters) -> None:
        """Show the newest events matching ``filters`` (starts again from the top)."""
        self._filters = filters
        self.reload()

    def reload(self) -> None:
        self._fetching.cancel()  # an older block's answer is dropped
        self.beginResetModel()
        self._rows = []
        self._exhausted = False
        self._started = True
        self.endResetModel()
        self._fetch()

    def _fetch(self) -> None:
        if self.loading or self._exhausted:
            return
        self.blocks += 1
        source, filters, limit = self._source, self._filters, self.block_size
        before = self._rows[-1].id if self._rows else None
        self._fetching.run(lambda: source.block(filters, before, limit), self._arrived)

    def _arrived(self, rows: list[AuditRow]) -> None:
        self._exhausted = len(rows) < self.block_size
        if rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
            self._rows.extend(rows)
            self.endInsertRows()
        self.loaded.emit()

    def _failed(self, exc: BaseException) -> None:
        self._exhausted = True
        self.failed.emit(exc)

    # ----- QAbstractTableModel ------------------------------------------------------------

    def retranslate(self) -> None:
        """The titles, event names and times again, in the language just chosen."""
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(COLUMNS) - 1)
        if self._rows:
            last = self.index(len(self._rows) - 1, len(COLUMNS) - 1)
            self.dataChanged.emit(self.index(0, 0), last)

    def canFetchMore(self, parent: ModelIndex = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self._started and not self._exhausted

    def fetchMore(self, parent: ModelIndex = QModelIndex()) -> None:  # noqa: B008
        if not parent.isValid():
            self._fetch()

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return log_text(COLUMNS[section].title)
            if role == Qt.ItemDataRole.ToolTipRole and section == TIME:
                return translate(
                    "AuditLog", "Local time of this workstation (UTC in each cell's tooltip)"
                )
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            return section + 1
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.column() < len(COLUMNS):
            return None
        row = self.row_at(index.row())
        if row is None:
            return None
        column = index.column()
        if role == ROW_ID_ROLE:
            return row.id
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                local_time(row.occurred_at, seconds=True),
                row.actor,
                event_name(row.event),
                row.subject,
                row.address,
                row.workstation,
                detail_text(row.detail),
            )[column]
        if row.event in HIGHLIGHTED_EVENTS:
            if role == Qt.ItemDataRole.BackgroundRole:
                return HIGHLIGHT_BACKGROUND
            if role == Qt.ItemDataRole.ForegroundRole:
                return HIGHLIGHT_FOREGROUND
            if role == Qt.ItemDataRole.FontRole:
                font = QFont()
                font.setBold(True)
                return font
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == TIME:
                return utc_time(row.occurred_at)
            if column == EVENT:
                return row.event
            if column == DETAIL and row.detail:
                return row.detail
            return None
        return None
