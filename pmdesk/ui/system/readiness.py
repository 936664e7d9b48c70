"""Before two-step authentication is turned on: who could not receive a code (System → Security)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QModelIndex, QObject, Qt
from PySide6.QtWidgets import (
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from pmdesk.core.security import ShutOutPerson
from pmdesk.ui.dialog_heading import dialog_heading
from pmdesk.ui.icons import app_icon, pixmap
from pmdesk.ui.lists import ModelIndex, ReadOnlyTableModel, list_table
from pmdesk.ui.system.common import local_number
from pmdesk.ui.translation import Retranslating, localize
from pmdesk.ui.widgets import WrappingDialog, hint_label, make_danger, make_primary, repolish

ROW_HEIGHT = 28


class ShutOutModel(ReadOnlyTableModel):
    """Who would be shut out: Name, Login, Why."""

    TITLES = (
        str(QT_TRANSLATE_NOOP("ShutOutModel", "Name")),
        str(QT_TRANSLATE_NOOP("ShutOutModel", "Login")),
        str(QT_TRANSLATE_NOOP("ShutOutModel", "Why")),
    )

    def __init__(self, people: list[ShutOutPerson], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._people = list(people)

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._people)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.TITLES)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.TITLES):
            return QCoreApplication.translate("ShutOutModel", self.TITLES[section])
        if orientation == Qt.Orientation.Vertical:
            return section + 1
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._people):
            return None
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        person = self._people[index.row()]
        values = (person.name, person.login, localize(person.reason))
        return values[index.column()] if 0 <= index.column() < len(values) else None

    def retranslate(self) -> None:
        """The titles and the reasons again, in the app's language."""
        self.headerDataChanged.emit(Qt.Orientation.Horizontal, 0, len(self.TITLES) - 1)
        if self._people:
            last = self.index(len(self._people) - 1, len(self.TITLES) - 1)
            self.dataChanged.emit(self.index(0, 0), last)


class ReadinessDialog(Retranslating, WrappingDialog):
    """Before two-step authentication is turned on: who could not receive a code, and confirm.

    ``choice`` is True when the user confirmed; opened with ``open()`` (never blocking).
    """

    def __init__(
        self, people: list[ShutOutPerson], delivery_label: str, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("readinessDialog")
        self.setWindowIcon(app_icon())
        self.setMinimumWidth(600)
        self.people = list(people)
        self.delivery_label = delivery_label
        self.choice = False
        n = len(people)

        top = self._build_heading(people)
        self.model = ShutOutModel(people, self)
        self.table = self._build_table(people)
        self.hint = hint = self._build_hint(people)
        buttons = self._build_buttons(people)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 18, 18, 14)
        layout.setSpacing(12)
        layout.addLayout(top)
        layout.addWidget(self.table, 1 if n > 10 else 0)
        layout.addWidget(hint)
        layout.addWidget(buttons)
        self.retranslate()

    def retranslate(self) -> None:
        n, delivery = len(self.people), localize(self.delivery_label)
        self.setWindowTitle(self.tr("Turn on two-step authentication"))
        if self.people:
            self.title.setText(
                self.tr("1 person could not receive a security code.")
                if n == 1
                else self.tr("{n} people could not receive a security code.").format(
                    n=local_number(n)
                )
            )
            self.explain.setText(
                self.tr(
                    "With two-step authentication on, they could no longer sign in from an "
                    "address that is not trusted. Codes go by: {delivery}."
                ).format(delivery=delivery)
            )
        else:
            self.title.setText(self.tr("Everyone who can sign in can receive a security code."))
            self.explain.setText(
                self.tr(
                    "From now on, signing in from an address that is not trusted asks for a "
                    "code sent by: {delivery}."
                ).format(delivery=delivery)
            )
        self.table.setAccessibleName(self.tr("People who could not receive a code"))
        self.model.retranslate()
        self.hint.setText(
            self.tr(
                "Give them an e-mail address (or a mobile number for SMS) in Maintenance → "
                "Personnel first, or turn it on anyway."
            )
        )
        self.confirm_button.setText(self.tr("Enable anyway") if self.people else self.tr("Enable"))

    def _build_heading(self, people: list[ShutOutPerson]) -> QHBoxLayout:
        """An icon, then how many could not receive a code and what turning it on means."""
        image = pixmap("warning" if people else "shield", 32, self.devicePixelRatioF())
        heading = dialog_heading(self, image, "readiness")
        self.title, self.explain = heading.title, heading.explain
        return heading.layout

    def _build_table(self, people: list[ShutOutPerson]) -> QTableView:
        """The people of ``self.model``, up to 10 rows high (hidden when there is nobody)."""
        n = len(people)
        table = list_table(self, "shutOutTable", self.model, ROW_HEIGHT)
        header = table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.resizeSection(0, 180)
        header.resizeSection(1, 130)
        table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        height = header.sizeHint().height() + ROW_HEIGHT * min(max(n, 1), 10) + 4
        table.setMinimumHeight(height)
        if n <= 10:
            table.setMaximumHeight(height)
        table.setVisible(bool(people))
        return table

    def _build_hint(self, people: list[ShutOutPerson]) -> QLabel:
        hint = hint_label("", self)
        hint.setVisible(bool(people))
        return hint

    def _build_buttons(self, people: list[ShutOutPerson]) -> QDialogButtonBox:
        """Confirm (``self.confirm_button``: red when someone would be shut out) and Cancel."""
        buttons = QDialogButtonBox(self)
        self.confirm_button = buttons.addButton("", QDialogButtonBox.ButtonRole.AcceptRole)
        self.confirm_button.setObjectName("confirmButton")
        if people:
            make_danger(self.confirm_button)
        else:
            make_primary(self.confirm_button)
        repolish(self.confirm_button)
        self.cancel_button = buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        (self.cancel_button if people else self.confirm_button).setDefault(True)
        buttons.accepted.connect(self._confirm)
        buttons.rejected.connect(self.reject)
        return buttons

    def _confirm(self) -> None:
        self.choice = True
        self.accept()
