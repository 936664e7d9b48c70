"""The trusted IP list of System → Security as a ``QAbstractTableModel``, one page at a time.

Only the page on screen is held (20 rows by default). Pages come from ``TrustedIpService.page``
on a worker thread: Next and Previous follow the keyset cursors the service hands out, so paging
stays as fast on page 50,000 of a million rows as on page 1; the count stops at the service's cap
("of more than 100000"). A new filter or a reload starts a new generation, and any answer of an
older one is dropped.

Columns as in the product: Id, IP, Creation Date, User, plus Expires and the red remove icon.
Times are shown in local time, with UTC in the tooltip.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import (
    QT_TRANSLATE_NOOP,
    QAbstractTableModel,
    QCoreApplication,
    QEvent,
    QModelIndex,
    QObject,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QIcon, QMouseEvent, QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from pmdesk.core.i18n import Text
from pmdesk.core.office_networks import OUTSIDE
from pmdesk.core.trusted_ip_review import NEVER_USED, PUBLIC
from pmdesk.core.trusted_ip_row import TrustedIpRow
from pmdesk.core.trusted_ips import (
    DEFAULT_PAGE_SIZE,
    PageCursor,
    TrustedIpPage,
    TrustedIpService,
)
from pmdesk.ui.icons import icon
from pmdesk.ui.lists import ModelIndex, ReadOnlyTableModel
from pmdesk.ui.query import Query
from pmdesk.ui.system.common import local_number, local_time, utc_time
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import localize

if TYPE_CHECKING:
    from pmdesk.core.context import Actor


ROW_ID_ROLE = Qt.ItemDataRole.UserRole + 1

ID, ADDRESS, NETWORK, CREATED, USER, EXPIRES, REASONS, REMOVE = range(8)
_TITLES = (
    str(QT_TRANSLATE_NOOP("TrustedIpModel", "Id")),
    str(QT_TRANSLATE_NOOP("TrustedIpModel", "IP")),
    str(QT_TRANSLATE_NOOP("TrustedIpModel", "Network")),
    str(QT_TRANSLATE_NOOP("TrustedIpModel", "Creation Date")),
    str(QT_TRANSLATE_NOOP("TrustedIpModel", "User")),
    str(QT_TRANSLATE_NOOP("TrustedIpModel", "Expires")),
    str(QT_TRANSLATE_NOOP("TrustedIpModel", "Reasons")),
    "",
)

translate = QCoreApplication.translate

#: The narrow Reasons column's short words for the core's review reasons (the tooltip says
#: the core's own sentence).
_SHORT = {
    OUTSIDE: str(QT_TRANSLATE_NOOP("TrustedIpModel", "Outside")),
    PUBLIC: str(QT_TRANSLATE_NOOP("TrustedIpModel", "Public")),
    NEVER_USED: str(QT_TRANSLATE_NOOP("TrustedIpModel", "Never used")),
}


def reason_text(reason: str, *, short: bool = False) -> str:
    """A review reason in the app's language: the core's sentence (the tooltip), or ``short``
    as the narrow Reasons column says it ("Shared (3)")."""
    if not short:
        return localize(reason)
    count = reason.args.get("count") if isinstance(reason, Text) else None
    if count is not None:  # trusted_ip_review.shared_by
        return translate("TrustedIpModel", "Shared ({n})").format(n=local_number(int(count)))
    known = _SHORT.get(reason)
    return translate("TrustedIpModel", known) if known else localize(reason)


@dataclass(frozen=True)
class _Request:
    """What produced the page on screen, so that a reload can ask for the same place again."""

    filter_text: str
    page: int
    cursor: PageCursor | None
    # The count of the page it moves from (Next/Previous): not counted again.
    known_total: tuple[int, bool] | None = None
    # Only the rows needing review ("Needs review"), with their reasons.
    review: bool = False


class TrustedIpSource:
    """The one blocking call the model makes, on a worker thread, as ``actor``."""

    def __init__(self, service: TrustedIpService, actor: Actor) -> None:
        self._service = service
        self._actor = actor

    def page(
        self,
        filter_text: str,
        page: int,
        cursor: PageCursor | None,
        page_size: int,
        known_total: tuple[int, bool] | None = None,
        review: bool = False,
    ) -> TrustedIpPage:
        return self._service.page(
            self._actor,
            filter_text=filter_text,
            page=page,
            page_size=page_size,
            cursor=cursor,
            known_total=known_total,
            review=review,
        )


class TrustedIpModel(ReadOnlyTableModel):
    """The rows of the current page; ``loaded`` after each answer, ``failed(exc)`` on errors."""

    loaded = Signal()
    failed = Signal(object)

    def __init__(
        self,
        source: TrustedIpSource,
        tasks: TaskManager,
        parent: QObject | None = None,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        super().__init__(parent)
        self._source = source
        # One page at a time: a newer request drops the answer of an older one.
        self._reading = Query(self, tasks, label="trusted IP page", failed=self._failed)
        self.page_size = page_size
        self._rows: list[TrustedIpRow] = []
        self._page: TrustedIpPage | None = None
        self._request = _Request("", 1, None)
        self._remove_icon = icon("remove")
        self.requests = 0  # pages asked for, for tests and benchmarks

    # ----- what is shown ------------------------------------------------------------------

    @property
    def current_page(self) -> TrustedIpPage | None:
        return self._page

    @property
    def filter_text(self) -> str:
        return self._request.filter_text

    @property
    def review(self) -> bool:
        return self._request.review

    @property
    def loading(self) -> bool:
        return self._reading.running

    def has_next(self) -> bool:
        return self._page is not None and self._page.next is not None

    def has_previous(self) -> bool:
        return self._page is not None and self._page.previous is not None

    def row_at(self, row: int) -> TrustedIpRow | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, row_id: int) -> int | None:
        for position, found in enumerate(self._rows):
            if found.id == row_id:
                return position
        return None

    # ----- asking for pages ---------------------------------------------------------------

    def load_first(self) -> None:
        self._load(_Request(self._request.filter_text, 1, None, review=self.review))

    def set_filter(self, text: str) -> None:
        """Show the first page of rows whose user or address starts with ``text``."""
        clean = text.strip()
        if clean != self._request.filter_text or self._page is None:
            self._load(_Request(clean, 1, None, review=self.review))

    def set_review(self, on: bool) -> None:
        """Show only the rows needing review (with their reasons), or every row."""
        if on != self.review or self._page is None:
            self._load(_Request(self._request.filter_text, 1, None, review=on))

    def next_page(self) -> None:
        if self._page is not None and self._page.next is not None:
            known = (self._page.total, self._page.total_exact)
            self._load(
                replace(
                    self._request,
                    page=self._page.page + 1,
                    cursor=self._page.next,
                    known_total=known,
                )
            )

    def previous_page(self) -> None:
        if self._page is not None and self._page.previous is not None:
            page = max(1, self._page.page - 1)
            known = (self._page.total, self._page.total_exact)
            self._load(
                replace(self._request, page=page, cursor=self._page.previous, known_total=known)
            )

    def reload(self) -> None:
        """Ask again for the page on screen (the same place in the list, fresh rows)."""
        self._load(replace(self._request, known_total=None))

    def _load(self, request: _Request) -> None:
        self._reading.restart()
        self.requests += 1
        source, size = self._source, self.page_size

        def fetch() -> TrustedIpPage:
            return source.page(
                request.filter_text,
                request.page,
                request.cursor,
                size,
                request.known_total,
                request.review,
            )

        self._reading.run(fetch, lambda page: self._arrived(request, page))

    def _arrived(self, request: _Request, page: TrustedIpPage) -> None:
        if not page.rows and page.total > 0 and request.page > 1:
            # Everything from here on went away (removed here or elsewhere): show the last page.
            last = max(1, page.pages)
            self._load(replace(request, page=min(request.page - 1, last), cursor=None))
            return
        self.beginResetModel()
        self._rows = list(page.rows)
        self._page = page
        self._request = request
        self.endResetModel()
        self.loaded.emit()

    def _failed(self, exc: BaseException) -> None:
        self.failed.emit(exc)

    # ----- QAbstractTableModel ------------------------------------------------------------

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(_TITLES)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(_TITLES):
            if role == Qt.ItemDataRole.DisplayRole:
                title = _TITLES[section]
                return translate("TrustedIpModel", title) if title else ""
            if role == Qt.ItemDataRole.ToolTipRole and section == REMOVE:
                return translate("TrustedIpModel", "Remove")
            if role == Qt.ItemDataRole.TextAlignmentRole and section == ID:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if orientation == Qt.Orientation.Vertical and role == Qt.ItemDataRole.DisplayRole:
            first = self._page.first_index if self._page else 1
            return first + section
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.column() < len(_TITLES):
            return None
        row = self.row_at(index.row())
        if row is None:
            return None
        column = index.column()
        if role == ROW_ID_ROLE:
            return row.id
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row, column)
        if role == Qt.ItemDataRole.DecorationRole and column == REMOVE:
            return self._remove_icon
        if role == Qt.ItemDataRole.TextAlignmentRole and column == ID:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.AccessibleTextRole and column == REMOVE:
            return translate("TrustedIpModel", "Remove {address}").format(address=row.address)
        return None

    def retranslate(self) -> None:
        """The titles and the texts again, in the app's language (the view asks anew)."""
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(_TITLES) - 1)
        if self._rows:
            last = self.index(len(self._rows) - 1, len(_TITLES) - 1)
            self.dataChanged.emit(self.index(0, 0), last)

    @staticmethod
    def _display(row: TrustedIpRow, column: int) -> str | None:
        if column == ID:
            return str(row.id)
        if column == ADDRESS:
            return row.address
        if column == NETWORK:
            return row.network_name if row.network_name != OUTSIDE else reason_text(OUTSIDE)
        if column == CREATED:
            return local_time(row.created_at)
        if column == USER:
            return row.person_name or row.login
        if column == EXPIRES:
            return local_time(row.expires_at)
        if column == REASONS:
            return ", ".join(reason_text(reason, short=True) for reason in row.reasons)
        return None

    @staticmethod
    def _tooltip(row: TrustedIpRow, column: int) -> str | None:
        if column == CREATED:
            used = (
                translate("TrustedIpModel", "last used {time}").format(
                    time=local_time(row.last_used_at)
                )
                if row.last_used_at
                else ""
            )
            return "\n".join(p for p in (utc_time(row.created_at), used) if p)
        if column == EXPIRES:
            return utc_time(row.expires_at)
        if column == REASONS:
            when = translate("TrustedIpModel", "Trusted {created}, expires {expires}").format(
                created=local_time(row.created_at), expires=local_time(row.expires_at)
            )
            return "\n".join([*(reason_text(reason) for reason in row.reasons), when])
        if column == NETWORK and row.network_name == OUTSIDE:
            return translate(
                "TrustedIpModel",
                "In none of the office networks (System → Security): a home, café or hotel?",
            )
        if column == USER:
            if not row.login:
                return None
            return translate("TrustedIpModel", "Login: {login}").format(login=row.login)
        if column == REMOVE:
            return translate(
                "TrustedIpModel", "Remove this trusted address: logins from it need a code again"
            )
        return None


class RemoveIconDelegate(QStyledItemDelegate):
    """The red remove icon, centred in its cell; a click on it emits ``clicked(row)``."""

    clicked = Signal(int)

    ICON_SIZE = 16

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.enabled = True

    def icon_rect(self, cell: QRect) -> QRect:
        size = self.ICON_SIZE
        return QRect(
            cell.x() + (cell.width() - size) // 2,
            cell.y() + (cell.height() - size) // 2,
            size,
            size,
        )

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        # The background (selection, alternating colour) as for any cell, then the icon.
        plain = QStyleOptionViewItem(option)
        self.initStyleOption(plain, index)
        plain.icon = QIcon()
        plain.features &= ~QStyleOptionViewItem.ViewItemFeature.HasDecoration
        plain.text = ""
        widget = option.widget
        style = widget.style() if isinstance(widget, QWidget) else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, plain, painter, widget)
        decoration = index.data(Qt.ItemDataRole.DecorationRole)
        if decoration is None:
            return
        rect = self.icon_rect(option.rect)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        if hovered and self.enabled:
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor("#fde3e1"))
            painter.drawEllipse(rect.adjusted(-4, -4, 4, 4))
            painter.restore()
        mode = decoration.Mode.Normal if self.enabled else decoration.Mode.Disabled
        decoration.paint(painter, rect, Qt.AlignmentFlag.AlignCenter, mode)

    def sizeHint(self, option: QStyleOptionViewItem, index: ModelIndex) -> QSize:
        return QSize(self.ICON_SIZE + 16, self.ICON_SIZE + 8)

    def editorEvent(
        self,
        event: QEvent,
        model: QAbstractTableModel,  # type: ignore[override]
        option: QStyleOptionViewItem,
        index: ModelIndex,
    ) -> bool:
        if (
            self.enabled
            and event.type() == QEvent.Type.MouseButtonRelease
            and isinstance(event, QMouseEvent)
            and event.button() == Qt.MouseButton.LeftButton
            and self.icon_rect(option.rect)
            .adjusted(-4, -4, 4, 4)
            .contains(event.position().toPoint())
        ):
            self.clicked.emit(index.row())
            return True
        return super().editorEvent(event, model, option, index)
