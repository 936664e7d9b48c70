""" "Trace": everyone and every event at one IP address, opened from System → Security's trusted
IP list or from a row of System → Log (issue 16, item 5). The helpdesk's question "whose home
is this, and what happened from there?" in one window: who has it trusted (and until when), the
newest events there, and everyone seen there. Read on a worker thread (``screens.address_trace``);
the core checks the rights (Security Read and Log Read).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.screens import AddressTrace, address_trace
from pmdesk.ui.icons import app_icon
from pmdesk.ui.lists import text_table
from pmdesk.ui.ops import Operation, indicator
from pmdesk.ui.system.common import local_number, local_time, utc_time
from pmdesk.ui.system.log_model import event_name
from pmdesk.ui.translation import Retranslating, localize
from pmdesk.ui.widgets import BusyIndicator, MessageLabel

if TYPE_CHECKING:
    from pmdesk.core.context import Actor, CoreContext
    from pmdesk.ui.tasks import TaskManager

ROW_HEIGHT = 26


class TraceDialog(Retranslating, QDialog):
    """The trace of one address (see the module)."""

    def __init__(
        self,
        context: CoreContext,
        actor: Actor,
        tasks: TaskManager,
        address: str,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("traceDialog")
        self.address = address
        self.setWindowIcon(app_icon())
        self.resize(760, 560)
        self.trace: AddressTrace | None = None
        self.heading = QLabel(address, self)
        self.heading.setObjectName("traceHeading")
        self.heading.setProperty("role", "title")
        self.busy = BusyIndicator(self)
        self.message = MessageLabel(self)
        self.trusted_label = self._subheading()
        self.trusted_table = self._table("traceTrustedTable", 4)
        self.events_label = self._subheading()
        self.events_table = self._table("traceEventsTable", 5)
        self.events_table.horizontalHeader().resizeSection(0, 170)  # a time with seconds
        self.seen_label = QLabel(self)
        self.seen_label.setObjectName("traceSeenLabel")
        self.seen_label.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        self._build_layout(buttons)
        self.loading = Operation[AddressTrace](
            self,
            tasks,
            label="address trace",
            message=self.message,
            busy=indicator(self.busy),
        )
        self.retranslate()
        self.loading.run(lambda: address_trace(context, actor, address), self._show)

    def retranslate(self) -> None:
        self.loading.set_texts(
            failure=self.tr("The trace could not be read"), busy_text=self.tr("Reading…")
        )
        self.setWindowTitle(self.tr("Trace {address}").format(address=self.address))
        self.trusted_table.setAccessibleName(self.tr("Who has this address trusted"))
        self.trusted_table.setHorizontalHeaderLabels(
            [self.tr("User"), self.tr("Name"), self.tr("Creation Date"), self.tr("Expires")]
        )
        self.events_table.setAccessibleName(self.tr("Events at this address"))
        self.events_table.setHorizontalHeaderLabels(
            [
                self.tr("Time"),
                self.tr("Actor"),
                self.tr("Event"),
                self.tr("Subject"),
                self.tr("Workstation"),
            ]
        )
        if self.trace is not None:
            self._show(self.trace)  # its counts and times, in the new language
        else:
            self.trusted_label.setText(self.tr("Trusted for"))
            self.events_label.setText(self.tr("Events at this address"))

    # ----- building ------------------------------------------------------------------------

    def _build_layout(self, buttons: QDialogButtonBox) -> None:
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.busy)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 14)
        layout.setSpacing(8)
        layout.addLayout(top)
        layout.addWidget(self.message)
        layout.addWidget(self.trusted_label)
        layout.addWidget(self.trusted_table, 1)
        layout.addWidget(self.events_label)
        layout.addWidget(self.events_table, 2)
        layout.addWidget(self.seen_label)
        layout.addWidget(buttons)

    def _subheading(self) -> QLabel:
        label = QLabel(self)
        label.setProperty("role", "subheading")
        return label

    def _table(self, name: str, columns: int) -> QTableWidget:
        """A table of ``columns`` (their titles are set by ``retranslate``)."""
        return text_table(self, name, "", [""] * columns, ROW_HEIGHT)

    # ----- results -------------------------------------------------------------------------

    def _show(self, trace: AddressTrace) -> None:
        self.trace = trace
        self.heading.setText(f"{trace.address} · {localize(trace.network_name)}")
        people = len(trace.trusted)
        self.trusted_label.setText(
            self.tr("Trusted for nobody")
            if people == 0
            else self.tr("Trusted for 1 person")
            if people == 1
            else self.tr("Trusted for {n} people").format(n=local_number(people))
        )
        _fill(
            self.trusted_table,
            [
                [
                    (r.login, ""),
                    (r.person_name, ""),
                    (local_time(r.created_at), utc_time(r.created_at)),
                    (local_time(r.expires_at), utc_time(r.expires_at)),
                ]
                for r in trace.trusted
            ],
        )
        events = len(trace.events)
        self.events_label.setText(
            self.tr("No events at this address")
            if events == 0
            else self.tr("Events at this address ({n}, newest first)").format(
                n=local_number(events)
            )
        )
        _fill(
            self.events_table,
            [
                [
                    (local_time(e.occurred_at, seconds=True), utc_time(e.occurred_at)),
                    (e.actor, ""),
                    (event_name(e.event), e.event),
                    (e.subject, ""),
                    (e.workstation, ""),
                ]
                for e in trace.events
            ],
        )
        self.seen_label.setText(
            self.tr("Seen there: {people}").format(people=", ".join(trace.seen))
            if trace.seen
            else ""
        )


def _fill(table: QTableWidget, rows: Sequence[Sequence[tuple[str, str]]]) -> None:
    """Each cell's text and tooltip."""
    table.setRowCount(len(rows))
    for r, cells in enumerate(rows):
        for c, (text, tip) in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setToolTip(tip or text)
            table.setItem(r, c, item)
