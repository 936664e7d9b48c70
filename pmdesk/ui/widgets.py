"""Small widgets shared by every screen: field errors, messages, a busy indicator, a paging bar,
and non-blocking questions (never ``exec()``: the event loop keeps running, and tests can answer).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QAbstractItemModel, QCoreApplication, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from pmdesk.ui.icons import icon

# ----- styling helpers ------------------------------------------------------------------------


def repolish(widget: QWidget) -> None:
    """Re-apply the style sheet after a dynamic property changed."""
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)
    widget.update()


def set_invalid(widget: QWidget, invalid: bool) -> None:
    """Mark an input red (``[invalid="true"]`` in style.qss)."""
    if bool(widget.property("invalid")) != invalid:
        widget.setProperty("invalid", invalid)
        repolish(widget)


def make_primary(button: QPushButton) -> QPushButton:
    button.setProperty("primary", True)
    return button


def make_danger(button: QPushButton) -> QPushButton:
    button.setProperty("danger", True)
    return button


def link_button(text: str, parent: QWidget | None = None) -> QPushButton:
    """A flat button that looks like a link ("Click here to change the address.")."""
    button = QPushButton(text, parent)
    button.setProperty("link", True)
    button.setCursor(Qt.CursorShape.PointingHandCursor)
    button.setFlat(True)
    button.setAutoDefault(False)
    return button


# ----- labels ---------------------------------------------------------------------------------


class FieldError(QLabel):
    """The red line under one field; hidden while there is nothing to say."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setProperty("role", "fieldError")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.hide()

    def set_error(self, message: str | None) -> None:
        self.setText(message or "")
        self.setVisible(bool(message))


class FieldBox(QWidget):
    """An input with its FieldError underneath, for a QFormLayout row."""

    def __init__(self, editor: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.error = FieldError(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(editor)
        layout.addWidget(self.error)

    def set_error(self, message: str | None) -> None:
        self.error.set_error(message)
        set_invalid(self.editor, bool(message))


class MessageLabel(QLabel):
    """A message above or below a form: error (red), notice (blue) or success (green)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.hide()

    def _show(self, role: str, text: str) -> None:
        if self.property("role") != role:
            self.setProperty("role", role)
            # Re-polishing alone keeps the old padding; a (no-op) style sheet of its own makes
            # Qt recompute this label's margins for the new role.
            self.setStyleSheet(f"/* {role} */")
        self.setText(text)
        self.setVisible(bool(text))

    def show_error(self, text: str) -> None:
        self._show("error", text)

    def show_notice(self, text: str) -> None:
        self._show("notice", text)

    def show_success(self, text: str) -> None:
        self._show("success", text)

    def clear_message(self) -> None:
        self.setText("")
        self.hide()

    @property
    def role(self) -> str:
        return str(self.property("role") or "")


def hint_label(text: str, parent: QWidget | None = None) -> QLabel:
    label = QLabel(text, parent)
    label.setProperty("role", "hint")
    label.setWordWrap(True)
    return label


# ----- busy indicator -------------------------------------------------------------------------


class BusyIndicator(QWidget):
    """A small spinning arc with an optional text; ``start()`` / ``stop()``."""

    def __init__(self, parent: QWidget | None = None, *, size: int = 18) -> None:
        super().__init__(parent)
        self._size = size
        self._angle = 0
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self._advance)
        self._label = QLabel(self)
        self._label.setProperty("role", "muted")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(size + 8, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._label)
        self.setMinimumHeight(size + 2)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.hide()

    def sizeHint(self) -> QSize:
        label = self._label.sizeHint()
        return QSize(self._size + 8 + label.width(), max(self._size + 2, label.height()))

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    @property
    def text(self) -> str:
        return self._label.text()

    def start(self, text: str = "") -> None:
        self._label.setText(text)
        self._timer.start()
        self.show()

    def stop(self) -> None:
        self._timer.stop()
        self._label.setText("")
        self.hide()

    def _advance(self) -> None:
        self._angle = (self._angle + 30) % 360
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pen_width = max(2.0, self._size / 8)
        top = (self.height() - self._size) / 2
        rect = QRectF(
            pen_width / 2, top + pen_width / 2, self._size - pen_width, self._size - pen_width
        )
        track = QPen(QColor("#d7dde4"), pen_width)
        painter.setPen(track)
        painter.drawEllipse(rect)
        arc = QPen(QColor("#2f7de1"), pen_width)
        arc.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(arc)
        painter.drawArc(rect, -self._angle * 16, 100 * 16)
        painter.end()


# ----- paging bar -----------------------------------------------------------------------------


class PagingBar(QWidget):
    """ "Viewing items 1-25 of 80" with Previous / Next; emits the new offset."""

    offset_changed = Signal(int)

    def __init__(self, page_size: int = 25, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.page_size = page_size
        self.offset = 0
        self.total = 0
        self._label = QLabel(self)
        self._label.setProperty("role", "muted")
        self.previous_button = QPushButton(icon("previous"), self.tr("Previous"), self)
        self.next_button = QPushButton(self.tr("Next"), self)
        self.next_button.setIcon(icon("next"))
        self.next_button.setLayoutDirection(Qt.LayoutDirection.RightToLeft)
        for button in (self.previous_button, self.next_button):
            button.setAutoDefault(False)
        self.previous_button.clicked.connect(self._previous)
        self.next_button.clicked.connect(self._next)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._label, 1)
        layout.addWidget(self.previous_button)
        layout.addWidget(self.next_button)
        self._refresh()

    def set_total(self, total: int, offset: int | None = None) -> None:
        self.total = max(total, 0)
        if offset is not None:
            self.offset = max(offset, 0)
        if self.offset >= self.total and self.total > 0:
            self.offset = (self.total - 1) // self.page_size * self.page_size
        self._refresh()

    def text(self) -> str:
        return self._label.text()

    def _refresh(self) -> None:
        if self.total == 0:
            self._label.setText(self.tr("No items found."))
        else:
            last = min(self.offset + self.page_size, self.total)
            self._label.setText(
                self.tr("Viewing items {first}-{last} of {total}").format(
                    first=self.offset + 1, last=last, total=self.total
                )
            )
        self.previous_button.setEnabled(self.offset > 0)
        self.next_button.setEnabled(self.offset + self.page_size < self.total)

    def _previous(self) -> None:
        self.offset = max(self.offset - self.page_size, 0)
        self._refresh()
        self.offset_changed.emit(self.offset)

    def _next(self) -> None:
        if self.offset + self.page_size < self.total:
            self.offset += self.page_size
        self._refresh()
        self.offset_changed.emit(self.offset)


# ----- non-blocking questions -----------------------------------------------------------------


def ask(
    parent: QWidget,
    title: str,
    text: str,
    confirm_text: str,
    on_confirm: Callable[[], None],
    *,
    danger: bool = False,
    informative: str = "",
    cancel_text: str | None = None,
) -> QMessageBox:
    """A question with a confirm and a Cancel button, opened window-modal without blocking."""
    box = QMessageBox(parent)
    box.setObjectName("question")
    box.setIcon(QMessageBox.Icon.Warning if danger else QMessageBox.Icon.Question)
    box.setWindowTitle(title)
    box.setText(text)
    if informative:
        box.setInformativeText(informative)
    confirm = box.addButton(confirm_text, QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton(
        cancel_text or QCoreApplication.translate("widgets", "Cancel"),
        QMessageBox.ButtonRole.RejectRole,
    )
    if danger and isinstance(confirm, QPushButton):
        make_danger(confirm)
    box.setDefaultButton(cancel if danger else confirm)
    box.setEscapeButton(cancel)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

    def finished() -> None:
        if box.clickedButton() is confirm:
            on_confirm()

    box.finished.connect(finished)
    box.open()
    return box


def inform(
    parent: QWidget | None,
    title: str,
    text: str,
    *,
    level: str = "warning",
    informative: str = "",
    on_close: Callable[[], None] | None = None,
) -> QMessageBox:
    """A message with an OK button, opened without blocking; ``on_close`` runs afterwards."""
    box = QMessageBox(parent)
    box.setObjectName("message")
    box.setIcon(
        {
            "error": QMessageBox.Icon.Critical,
            "warning": QMessageBox.Icon.Warning,
            "info": QMessageBox.Icon.Information,
        }.get(level, QMessageBox.Icon.Warning)
    )
    box.setWindowTitle(title)
    box.setText(text)
    if informative:
        box.setInformativeText(informative)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    if on_close is not None:
        box.finished.connect(lambda _result: on_close())
    box.open()
    return box


def button_with_text(box: QMessageBox, text: str) -> QAbstractButton:
    """The button of ``box`` labelled ``text`` (for tests and keyboard shortcuts)."""
    for button in box.buttons():
        if button.text().replace("&", "") == text:
            return button
    raise LookupError(f"No button {text!r} in {[b.text() for b in box.buttons()]}")


def search_box(
    parent: QWidget, name: str, placeholder: str, delay_ms: int, apply: Callable[[], None]
) -> tuple[QLineEdit, QTimer]:
    """A search field that calls ``apply`` once typing pauses for ``delay_ms`` (or on Enter)."""
    edit = QLineEdit(parent)
    edit.setObjectName(name)
    edit.setPlaceholderText(placeholder)
    edit.setClearButtonEnabled(True)
    edit.addAction(icon("search"), QLineEdit.ActionPosition.LeadingPosition)
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(delay_ms)
    timer.timeout.connect(apply)
    edit.textChanged.connect(lambda _text: timer.start())
    edit.returnPressed.connect(apply)
    return edit, timer


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
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    vertical = table.verticalHeader()
    vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    vertical.setDefaultSectionSize(row_height)
    vertical.hide()
    table.horizontalHeader().setHighlightSections(False)
    return table
