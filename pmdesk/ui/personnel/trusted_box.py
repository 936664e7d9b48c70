"""The trusted IP addresses of the person in the Personnel form, each with a red remove icon."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from pmdesk.ui.icons import icon
from pmdesk.ui.system.common import local_time
from pmdesk.ui.translation import Retranslating
from pmdesk.ui.widgets import hint_label

if TYPE_CHECKING:
    from pmdesk.core.trusted_ip_row import TrustedIpRow


class PersonTrustedIps(Retranslating, QGroupBox):
    """``remove_requested(ids)`` when a red icon is clicked; the page asks and removes."""

    remove_requested = Signal(object)  # list of trusted-IP ids

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._shown: tuple[Sequence[TrustedIpRow], bool, QWidget] | None = None
        self.ip_table = QTableWidget(0, 4, self)
        self.ip_table.setObjectName("trustedIpTable")
        self.ip_table.verticalHeader().hide()
        self.ip_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.ip_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.ip_table.setTabKeyNavigation(False)
        self.ip_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        header = self.ip_table.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(3, 36)
        self.ip_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.ip_table.verticalHeader().setDefaultSectionSize(30)
        self.ip_empty = QLabel(self)
        self.ip_empty.setObjectName("ipEmpty")
        self.ip_empty.setProperty("role", "muted")
        self.ip_empty.setWordWrap(True)
        ip_layout = QVBoxLayout(self)
        ip_layout.addWidget(self.ip_table)
        ip_layout.addWidget(self.ip_empty)
        self.ip_hint = hint_label("", self)
        ip_layout.addWidget(self.ip_hint)
        self.retranslate()

    def retranslate(self) -> None:
        self.setTitle(self.tr("Trusted IP addresses"))
        self.ip_table.setAccessibleName(self.tr("Trusted IP addresses"))
        self.ip_table.setHorizontalHeaderLabels(
            [self.tr("IP"), self.tr("Creation Date"), self.tr("Expires"), ""]
        )
        self.ip_empty.setText(
            self.tr(
                "No trusted addresses: this person enters a code at "
                "every login while two-step authentication is on."
            )
        )
        self.ip_hint.setText(
            self.tr(
                "Click the red icon to remove an address trusted by mistake (a home "
                "network, say): logins from there need a security code again."
            )
        )
        if self._shown is not None:
            rows, can_remove, after = self._shown
            self.show_rows(rows, can_remove=can_remove, after=after)

    def show_rows(self, rows: Sequence[TrustedIpRow], *, can_remove: bool, after: QWidget) -> None:
        """The addresses, each with a red remove button; Tab reaches them after ``after``."""
        self._shown = (rows, can_remove, after)
        self.ip_table.setRowCount(len(rows))
        previous = after
        for r, row in enumerate(rows):
            cells = [row.address, local_time(row.created_at), local_time(row.expires_at)]
            for c, text in enumerate(cells):
                self.ip_table.setItem(r, c, QTableWidgetItem(text))
            button = QToolButton(self.ip_table)
            button.setObjectName(f"removeIp{row.id}")
            button.setIcon(icon("remove"))
            button.setIconSize(QSize(16, 16))
            button.setToolTip(self.tr("Remove this trusted address"))
            button.setAccessibleName(self.tr("Remove {address}").format(address=row.address))
            button.setAutoRaise(True)
            button.setEnabled(can_remove)
            button.clicked.connect(lambda _checked=False, i=row.id: self.remove_requested.emit([i]))
            self.ip_table.setCellWidget(r, 3, button)
            QWidget.setTabOrder(previous, button)  # after the rest of the form, top to bottom
            previous = button
        self.ip_table.setVisible(bool(rows))
        self.ip_empty.setVisible(not rows)
        height = self.ip_table.horizontalHeader().height() + 30 * len(rows) + 4
        self.ip_table.setFixedHeight(min(height, 30 * 6 + 34))
