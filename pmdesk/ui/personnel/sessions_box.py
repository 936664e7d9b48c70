"""The open sessions of the person in the Personnel form, and End sessions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from pmdesk.ui.system.common import local_time
from pmdesk.ui.translation import Retranslating, localize

if TYPE_CHECKING:
    from pmdesk.core.sessions import SessionRow


class PersonSessions(Retranslating, QWidget):
    """Where the person is signed in (desktop app, command line); ``end_requested`` when End
    sessions is clicked (the page asks and ends them)."""

    end_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._shown: tuple[Sequence[SessionRow] | None, bool] | None = None
        self.sessions_title = QLabel(self)
        self.sessions_title.setProperty("role", "muted")
        self.sessions_table = QTableWidget(0, 4, self)
        self.sessions_table.setObjectName("sessionsTable")
        self.sessions_table.verticalHeader().hide()
        self.sessions_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.sessions_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.sessions_table.setTabKeyNavigation(False)
        header = self.sessions_table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for column in (0, 1, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.sessions_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.sessions_table.verticalHeader().setDefaultSectionSize(26)
        self.sessions_empty = QLabel(self)
        self.sessions_empty.setObjectName("sessionsEmpty")
        self.sessions_empty.setProperty("role", "muted")
        self.end_sessions_button = QPushButton(self)
        self.end_sessions_button.setObjectName("endSessionsButton")
        self.end_sessions_button.setAutoDefault(False)
        self.end_sessions_button.clicked.connect(self.end_requested)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(12)
        top.addWidget(self.sessions_title)
        top.addWidget(self.sessions_empty)
        top.addStretch(1)
        top.addWidget(self.end_sessions_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.sessions_table)
        self.retranslate()

    def retranslate(self) -> None:
        self.sessions_title.setText(self.tr("Open sessions"))
        self.sessions_table.setAccessibleName(self.tr("Open sessions"))
        self.sessions_table.setHorizontalHeaderLabels(
            [self.tr("Where"), self.tr("Address"), self.tr("Workstation"), self.tr("Last used")]
        )
        self.sessions_empty.setText(self.tr("No open sessions."))
        self.end_sessions_button.setText(self.tr("End sessions"))
        self.end_sessions_button.setToolTip(
            self.tr("Sign this person out everywhere: desktop apps and the command line")
        )
        if self._shown is not None:
            self.show_rows(self._shown[0], can_end=self._shown[1])

    def show_rows(self, rows: Sequence[SessionRow] | None, *, can_end: bool) -> None:
        """This person's open sessions (None: not shown, e.g. a new person)."""
        self._shown = (rows, can_end)
        self.setVisible(rows is not None)
        rows = rows or []
        self.sessions_table.setRowCount(len(rows))
        for r, session in enumerate(rows):
            cells = [
                localize(session.kind_label),
                session.address or self.tr("unknown"),
                session.workstation + (f" ({session.os_user})" if session.os_user else ""),
                local_time(session.last_used_at),
            ]
            for c, text in enumerate(cells):
                self.sessions_table.setItem(r, c, QTableWidgetItem(text))
        self.sessions_table.setVisible(bool(rows))
        self.sessions_empty.setVisible(not rows)
        self.end_sessions_button.setEnabled(bool(rows) and can_end)
        height = self.sessions_table.horizontalHeader().sizeHint().height() + 26 * len(rows) + 4
        self.sessions_table.setFixedHeight(min(height, 26 * 4 + 34))
