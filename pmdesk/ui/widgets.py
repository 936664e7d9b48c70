"""Small widgets shared by every screen: field errors, messages, a busy indicator, button styles.

The login dialog, painted first at start, is built from these: they import only the Qt classes
they use (message boxes are in ``message_boxes``, the list pieces in ``lists``) and
``pmdesk.ui.translation`` (a message from the core is shown in the app's language).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRectF, QSize, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QAbstractButton,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLayoutItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from pmdesk.ui.translation import localize

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
    """The red line under one field; hidden while there is nothing to say.

    With a ``field``, the message is also that field's accessible description while it shows
    (a screen reader reads it with the field); the field's own help comes back once cleared.
    """

    def __init__(self, parent: QWidget | None = None, field: QWidget | None = None) -> None:
        super().__init__(parent)
        self.field = field
        self._help: str | None = None  # the field's description while a message replaces it
        self._message: str | None = None  # as given: a core sentence follows the language
        self.setProperty("role", "fieldError")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.hide()

    def set_error(self, message: str | None) -> None:
        """``message`` in the app's language (a sentence from the core is translated, again
        whenever the language changes)."""
        self._message = message
        message = localize(message) if message else message
        self.setText(message or "")
        self.setVisible(bool(message))
        field = self.field
        if field is None:
            return
        if message:
            if self._help is None:
                self._help = field.accessibleDescription()
            field.setAccessibleDescription(message)
        elif self._help is not None:
            field.setAccessibleDescription(self._help)
            self._help = None

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange and self._message:
            self.set_error(self._message)
        super().changeEvent(event)


class FieldBox(QWidget):
    """An input with its FieldError underneath, for a QFormLayout row."""

    def __init__(self, editor: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.error = FieldError(self, editor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(editor)
        layout.addWidget(self.error)

    def set_error(self, message: str | None) -> None:
        self.error.set_error(message)
        set_invalid(self.editor, bool(message))


def label_fields(form: QFormLayout) -> None:
    """Tie each row's text label to its input, for screen readers and Alt+letter.

    The label becomes the buddy of the input (in a FieldBox or a row layout: the first one),
    and the input is named after the label unless it has a name or is a button with text. Qt
    looks for a buddy only among an input's siblings, so one in a FieldBox needs the name.
    """
    for row in range(form.rowCount()):
        label_item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
        field_item = form.itemAt(row, QFormLayout.ItemRole.FieldRole)
        label = label_item.widget() if label_item is not None else None
        field = _first_input(field_item) if field_item is not None else None
        if not isinstance(label, QLabel) or not label.text().strip() or field is None:
            continue
        label.setBuddy(field)
        if field.accessibleName() or (isinstance(field, QAbstractButton) and field.text()):
            continue
        field.setAccessibleName(label.text().replace("&", ""))


def _first_input(item: QLayoutItem) -> QWidget | None:
    widget = item.widget()
    if isinstance(widget, FieldBox):
        return widget.editor
    if widget is not None and widget.focusPolicy() != Qt.FocusPolicy.NoFocus:
        return widget
    layout = widget.layout() if widget is not None else item.layout()
    if layout is None:
        return None
    for index in range(layout.count()):
        child = layout.itemAt(index)
        found = _first_input(child) if child is not None else None
        if found is not None:
            return found
    return None


class MessageLabel(QLabel):
    """A message above or below a form: error (red), notice (blue) or success (green)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self._message = ""  # as given: a core sentence follows the language
        self.hide()

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.LanguageChange and self._message:
            self.setText(localize(self._message))
        super().changeEvent(event)

    def _show(self, role: str, text: str) -> None:
        if self.property("role") != role:
            self.setProperty("role", role)
            # Re-polishing alone keeps the old padding; a (no-op) style sheet of its own makes
            # Qt recompute this label's margins for the new role.
            self.setStyleSheet(f"/* {role} */")
        self._message = text
        text = localize(text)  # a sentence from the core, in the app's language
        self.setText(text)
        self.setVisible(bool(text))

    def show_error(self, text: str) -> None:
        self._show("error", text)

    def show_notice(self, text: str) -> None:
        self._show("notice", text)

    def show_success(self, text: str) -> None:
        self._show("success", text)

    def clear_message(self) -> None:
        self._message = ""
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

    def show_while(self, on: bool, text: str = "") -> None:
        """Spin while ``on`` (a list loading, an export running); started once, so a second
        call while it spins does not reset its text."""
        if not on:
            self.stop()
        elif not self.running:
            self.start(text)

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


# ----- dialogs --------------------------------------------------------------------------------


class WrappingDialog(QDialog):
    """A dialog with word-wrapped text, sized to the height that text needs at its real width.

    Qt sizes a dialog by its layout's hint: narrow, so wrapped labels count more lines than they
    get once a minimum width widens the dialog, and an empty band is left above the buttons.
    """

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        width = max(hint.width(), self.minimumWidth())
        height = self.heightForWidth(width)
        return QSize(width, height if height > 0 else hint.height())
