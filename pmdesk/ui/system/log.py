"""System → Log: the audit trail, newest first, with filters and "Export to CSV…".

The list is a ``QAbstractTableModel`` that loads lazily: the first 200 events, then 200 more each
time the view scrolls near the end (``canFetchMore`` / ``fetchMore``), each block on a worker
thread from ``AuditService.query`` (keyset by id, so a deep block costs what the first does).
A new filter starts a new generation; answers of an older one are dropped.

Times are shown in this workstation's local time, with UTC in the tooltip. The export writes
every event matching the filters (not only those loaded) on a worker thread, as the list shows
them (the core's ``AuditService.export_csv``: same titles, event names and local times, plus the
time in UTC); its file dialog opens in Documents.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QT_TRANSLATE_NOOP, QDate, QLocale, QStandardPaths, Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDateEdit,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.audit import EVENT_NAMES, AuditService
from pmdesk.core.errors import ValidationError
from pmdesk.ui.errors import error_text
from pmdesk.ui.icons import icon
from pmdesk.ui.lists import list_table, reload_button, search_box, set_search_texts
from pmdesk.ui.ops import Operation
from pmdesk.ui.system.common import DATE_TIME_PATTERN, local_number
from pmdesk.ui.system.log_model import (
    COLUMNS,
    AuditLogModel,
    AuditSource,
    LogFilters,
    event_name,
    log_text,
)
from pmdesk.ui.system.trace_dialog import TraceDialog
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import BusyIndicator, MessageLabel, set_invalid

if TYPE_CHECKING:
    from pmdesk.ui.page_context import PageContext

FILTER_DELAY_MS = 300
ROW_HEIGHT = 26

#: Families of events, as ``AuditService.query(event=...)`` accepts them.
EVENT_FAMILIES: tuple[tuple[str, object], ...] = (
    ("login", QT_TRANSLATE_NOOP("AuditLog", "All logins")),
    ("code", QT_TRANSLATE_NOOP("AuditLog", "All security codes")),
    ("ip", QT_TRANSLATE_NOOP("AuditLog", "All trusted IP changes")),
    ("account", QT_TRANSLATE_NOOP("AuditLog", "All account locks")),
    ("2fa", QT_TRANSLATE_NOOP("AuditLog", "Two-step on and off")),
    ("person", QT_TRANSLATE_NOOP("AuditLog", "All personnel changes")),
    ("group", QT_TRANSLATE_NOOP("AuditLog", "All group changes")),
    ("session", QT_TRANSLATE_NOOP("AuditLog", "All sessions")),
    ("break-glass", QT_TRANSLATE_NOOP("AuditLog", "Break-glass recoveries")),
)

PERIODS: tuple[tuple[str, object], ...] = (
    ("any", QT_TRANSLATE_NOOP("AuditLog", "Any time")),
    ("today", QT_TRANSLATE_NOOP("AuditLog", "Today")),
    ("7", QT_TRANSLATE_NOOP("AuditLog", "Last 7 days")),
    ("30", QT_TRANSLATE_NOOP("AuditLog", "Last 30 days")),
    ("range", QT_TRANSLATE_NOOP("AuditLog", "Between…")),
)


class LogPage(Retranslating, QWidget):
    """System → Log."""

    def __init__(self, context: PageContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("logPage")
        self.context = context
        self.tasks = context.tasks
        self.source = AuditSource(AuditService(context.app.context), context.session.actor)
        self.export_dialog: QFileDialog | None = None
        self._shown: LogFilters | None = None

        self.model = AuditLogModel(self.source, self.tasks, self)
        self.model.loaded.connect(self._loaded)
        self.model.failed.connect(self._failed)

        filters = self._build_filters()
        self._build_table()
        self._build_messages()
        bottom = QHBoxLayout()
        bottom.addWidget(self.count_label, 1)
        bottom.addWidget(self.busy)
        bottom.addWidget(self.trace_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 12, 14, 12)
        layout.setSpacing(8)
        layout.addLayout(filters)
        layout.addWidget(self.message)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)

        QShortcut(QKeySequence.StandardKey.Refresh, self, self.refresh)
        QShortcut(QKeySequence.StandardKey.Find, self, self._focus_filter)
        self.retranslate()
        self.apply_filters()

    def _build_filters(self) -> QHBoxLayout:
        """The row above the list: user, event, period (with its dates), Reload, Export."""
        self.user_edit, self._filter_timer = search_box(
            self, "logUserEdit", FILTER_DELAY_MS, self.apply_filters
        )
        self.address_edit, self._address_timer = search_box(
            self, "logAddressEdit", FILTER_DELAY_MS, self.apply_filters
        )
        self.address_edit.textEdited.connect(lambda _t: set_invalid(self.address_edit, False))

        self.event_combo = QComboBox(self)
        self.event_combo.setObjectName("logEventCombo")
        self.event_combo.addItem("", "")  # All events
        for family, _text in EVENT_FAMILIES:
            self.event_combo.addItem("", family)
        self.event_combo.insertSeparator(self.event_combo.count())
        for value in EVENT_NAMES:
            self.event_combo.addItem("", str(value))
        self.event_combo.setMaxVisibleItems(20)
        self.event_combo.currentIndexChanged.connect(lambda _i: self.apply_filters())

        self.period_combo = QComboBox(self)
        self.period_combo.setObjectName("logPeriodCombo")
        for key, _text in PERIODS:
            self.period_combo.addItem("", key)
        self.period_combo.currentIndexChanged.connect(self._period_changed)
        today = QDate.currentDate()
        self.from_edit = _date_edit(today.addDays(-7), self)
        self.from_edit.setObjectName("logFromEdit")
        self.to_edit = _date_edit(today, self)
        self.to_edit.setObjectName("logToEdit")
        self.from_edit.dateChanged.connect(lambda _d: self.apply_filters())
        self.to_edit.dateChanged.connect(lambda _d: self.apply_filters())
        self.and_label = QLabel(self)
        self.range_widgets: tuple[QWidget, ...] = (self.from_edit, self.and_label, self.to_edit)

        self.refresh_button = reload_button(self, "logRefreshButton", self.refresh)
        self.export_button = QPushButton(icon("export"), "", self)
        self.export_button.setObjectName("exportButton")
        self.export_button.setAutoDefault(False)
        self.export_button.clicked.connect(self.choose_export_file)

        filters = QHBoxLayout()
        filters.setSpacing(8)
        filters.addWidget(self.user_edit, 3)
        filters.addWidget(self.address_edit, 2)
        filters.addWidget(self.event_combo, 2)
        filters.addWidget(self.period_combo, 1)
        for widget in self.range_widgets:
            filters.addWidget(widget)
            widget.hide()
        filters.addWidget(self.refresh_button)
        filters.addWidget(self.export_button)
        return filters

    def _build_table(self) -> None:
        self.table = list_table(self, "auditTable", self.model, ROW_HEIGHT)
        self.trace_button = QPushButton(icon("search"), "", self)
        self.trace_button.setObjectName("logTraceButton")
        self.trace_button.setAutoDefault(False)
        self.trace_button.setEnabled(False)
        self.trace_button.clicked.connect(self.trace_current)
        self.table.selectionModel().currentRowChanged.connect(
            lambda _now, _before: self.trace_button.setEnabled(bool(self.current_address()))
        )
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        for column, spec in enumerate(COLUMNS):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(column, spec.width)

    def _build_messages(self) -> None:
        """The spinner, the count under the list, the message above it and the export."""
        self.busy = BusyIndicator(self)
        self.count_label = QLabel(self)
        self.count_label.setObjectName("logCountLabel")
        self.count_label.setProperty("role", "muted")
        self.message = MessageLabel(self)
        self.message.setObjectName("logMessage")
        self.exporting = Operation[int](
            self,
            self.tasks,
            label="export log",
            message=self.message,
            busy=lambda _on, _text: self._update(),
            handle={OSError: self._not_written},
        )

    # ----- language ----------------------------------------------------------------------

    def retranslate(self) -> None:
        """Every text of the page in the language just chosen (the list's too)."""
        self._retranslate_filters()
        for edit in (self.from_edit, self.to_edit):
            edit.setLocale(QLocale())  # month names in the language just chosen
        self.table.setAccessibleName(self.tr("Log events"))
        self.trace_button.setText(self.tr("Trace this address…"))
        self.trace_button.setToolTip(
            self.tr("Everyone who has the chosen event's address trusted, and every event there")
        )
        self.model.retranslate()
        self.exporting.set_texts(failure=self.tr("The export did not work"))
        self._update()

    def _retranslate_filters(self) -> None:
        set_search_texts(
            self.user_edit, self.tr("User (who acted, or whom it concerned)"), self.tr("User")
        )
        set_search_texts(self.address_edit, self.tr("IP or its start"), self.tr("IP address"))
        address_help = self.tr(
            "An IP address (192.0.2.10), or how it starts (192.0.2.) for a whole block"
        )
        self.address_edit.setToolTip(address_help)
        self.address_edit.setAccessibleDescription(address_help)  # more than its placeholder
        self.event_combo.setAccessibleName(self.tr("Event"))
        combo, families = self.event_combo, dict(EVENT_FAMILIES)
        for index in range(combo.count()):
            value = str(combo.itemData(index) or "")
            if index == 0:
                combo.setItemText(index, self.tr("All events"))
            elif value in families:
                combo.setItemText(index, log_text(str(families[value])))
            elif value:
                combo.setItemText(index, event_name(value))
        self.period_combo.setAccessibleName(self.tr("Period"))
        for index, (_key, text) in enumerate(PERIODS):
            self.period_combo.setItemText(index, log_text(str(text)))
        self.from_edit.setAccessibleName(self.tr("From"))
        self.to_edit.setAccessibleName(self.tr("To"))
        self.and_label.setText(self.tr("and"))
        self.refresh_button.setToolTip(self.tr("Reload (F5)"))
        self.refresh_button.setAccessibleName(self.tr("Reload the log"))
        self.export_button.setText(self.tr("Export to CSV…"))

    # ----- trace --------------------------------------------------------------------------

    def current_address(self) -> str:
        """The address of the event chosen in the list ("" when none, or it has none)."""
        index = self.table.currentIndex()
        row = self.model.row_at(index.row()) if index.isValid() else None
        return row.address if row is not None else ""

    def trace_current(self) -> TraceDialog | None:
        address = self.current_address()
        if not address:
            return None
        app = self.context.app.context
        dialog = TraceDialog(app, self.context.session.actor, self.tasks, address, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    # ----- filters ------------------------------------------------------------------------

    def filters(self) -> LogFilters:
        """The filters as shown, with dates turned into UTC bounds (local midnights)."""
        since, until = self._period()
        return LogFilters(
            actor_text=self.user_edit.text().strip(),
            event=str(self.event_combo.currentData() or ""),
            address=self.address_edit.text().strip(),
            since=since,
            until=until,
        )

    def _period(self) -> tuple[datetime | None, datetime | None]:
        key = str(self.period_combo.currentData())
        today = date.today()
        if key == "today":
            return _local_midnight(today), None
        if key in {"7", "30"}:
            return _local_midnight(today - timedelta(days=int(key) - 1)), None
        if key == "range":
            first = self.from_edit.date().toPython()
            last = self.to_edit.date().toPython()
            assert isinstance(first, date) and isinstance(last, date)
            if last < first:
                first, last = last, first
            return _local_midnight(first), _local_midnight(last + timedelta(days=1))
        return None, None

    def _period_changed(self, _index: int) -> None:
        custom = self.period_combo.currentData() == "range"
        for widget in self.range_widgets:
            widget.setVisible(custom)
        self.apply_filters()

    def apply_filters(self) -> None:
        self._filter_timer.stop()
        wanted = self.filters()
        if wanted != self._shown:
            self._shown = wanted
            self.message.clear_message()
            self.model.set_filters(wanted)
            self._update()

    def refresh(self) -> None:
        self.message.clear_message()
        self._shown = self.filters()
        self.model.set_filters(self._shown)
        self._update()

    def _focus_filter(self) -> None:
        self.user_edit.setFocus()
        self.user_edit.selectAll()

    # ----- list ---------------------------------------------------------------------------

    def _loaded(self) -> None:
        self._update()

    def _failed(self, exc: object) -> None:
        # The core refuses an address filter that cannot start an address: said, and marked.
        set_invalid(self.address_edit, isinstance(exc, ValidationError) and "address" in exc.errors)
        self.message.show_error(error_text(exc, self.tr("The log could not be loaded")))
        self._update()

    def _update(self) -> None:
        n = self.model.rowCount()
        if self.model.loading and n == 0:
            text = ""
        elif n == 0:
            text = self.tr("No events match these filters.")
        elif self.model.exhausted:
            text = self.tr("1 event") if n == 1 else self.tr("{n} events").format(n=local_number(n))
        else:
            text = self.tr("Newest {n} events shown; scroll down for older ones.").format(
                n=local_number(n)
            )
        self.count_label.setText(text)
        self.busy.show_while(
            self.model.loading or self._exporting,
            self.tr("Exporting…") if self._exporting else self.tr("Loading…"),
        )
        self.export_button.setEnabled(not self._exporting)
        self.trace_button.setEnabled(bool(self.current_address()))

    # ----- export -------------------------------------------------------------------------

    def choose_export_file(self) -> None:
        """Ask where to save (a non-blocking file dialog), then export there."""
        if self._exporting:
            return
        dialog = QFileDialog(self, self.tr("Export the log to CSV"))
        dialog.setObjectName("exportDialog")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setFileMode(QFileDialog.FileMode.AnyFile)
        dialog.setNameFilters([self.tr("CSV files (*.csv)"), self.tr("All files (*)")])
        dialog.setDefaultSuffix("csv")
        # In Documents, not wherever the program was started from.
        folder = export_folder()
        dialog.setDirectory(str(folder))
        dialog.selectFile(str(folder / f"pmdesk-log-{date.today():%Y-%m-%d}.csv"))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.export_dialog = dialog

        def chosen(path: str) -> None:
            self.export_to(Path(path))

        def closed(_result: int) -> None:
            if self.export_dialog is dialog:
                self.export_dialog = None

        dialog.fileSelected.connect(chosen)
        dialog.finished.connect(closed)
        dialog.open()

    def export_to(self, path: Path) -> None:
        """Write every event matching the filters to ``path`` (on a worker thread)."""
        if path.suffix == "":
            path = path.with_suffix(".csv")
        source, filters = self.source, self.filters()

        def done(count: int) -> None:
            self.message.show_success(
                (
                    self.tr("1 event exported to {path}.")
                    if count == 1
                    else self.tr("{n} events exported to {path}.")
                ).format(n=local_number(count), path=path)
            )
            self._update()

        self.message.clear_message()
        self.exporting.run(lambda: source.export(filters, path), done)

    def _not_written(self, exc: OSError) -> None:
        self.message.show_error(
            self.tr("The file could not be written: {reason}").format(reason=exc.strerror or exc)
        )

    @property
    def _exporting(self) -> bool:
        return self.exporting.running


def _local_midnight(day: date) -> datetime:
    """The start of ``day`` on this workstation, in UTC."""
    return datetime.combine(day, time.min).astimezone().astimezone(UTC)


#: A day as the list writes it ("2 déc. 2026"), in the language's month names.
DATE_PATTERN = DATE_TIME_PATTERN.split(" HH")[0]


def _date_edit(value: QDate, parent: QWidget) -> QDateEdit:
    edit = QDateEdit(value, parent)
    edit.setCalendarPopup(True)
    edit.setDisplayFormat(DATE_PATTERN)
    return edit


def export_folder() -> Path:
    """Where "Export to CSV…" opens: the user's Documents folder, else their home folder."""
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    if documents and Path(documents).is_dir():
        return Path(documents)
    return Path.home()
