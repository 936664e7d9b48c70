"""Where the main window opens and how large: never larger than the screen's available area.

The saved size and place are restored (else ``DEFAULT_SIZE``, centred), and either way the
window is kept inside the area a window may use (without task bars), frame included.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QRect, QSize
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QWidget

DEFAULT_SIZE = (1240, 800)
#: Room kept for the window's frame (title bar, borders) before it is shown and its frame known.
FRAME_ALLOWANCE = QSize(16, 40)


def available_area(widget: QWidget) -> QRect:
    """The part of ``widget``'s screen a window may use (without task bars), in logical pixels.

    Tests replace it to play a small screen."""
    screen = widget.screen() or QGuiApplication.primaryScreen()
    if screen is None:
        return QRect(0, 0, *DEFAULT_SIZE)
    return screen.availableGeometry()


def fit_to_screen(window: QWidget, area: QRect | None = None) -> None:
    """Shrink ``window`` to the available area (frame included) and move it inside."""
    area = available_area(window) if area is None else area
    visible = window.isVisible()
    frame = window.frameGeometry().size() - window.size() if visible else FRAME_ALLOWANCE
    room = QSize(
        max(1, area.width() - max(0, frame.width())), max(1, area.height() - max(0, frame.height()))
    )
    size = window.size().boundedTo(room)
    if size != window.size():
        window.resize(size)
    outer = window.frameGeometry() if window.isVisible() else QRect(window.pos(), size + frame)
    x = min(max(outer.x(), area.left()), area.right() + 1 - outer.width())
    y = min(max(outer.y(), area.top()), area.bottom() + 1 - outer.height())
    if (x, y) != (outer.x(), outer.y()):
        window.move(max(x, area.left()), max(y, area.top()))


def restore_geometry(window: QWidget, saved: str | None) -> None:
    """``saved`` (``geometry_text``), else ``DEFAULT_SIZE`` centred; either way within the
    screen."""
    if not (saved and window.restoreGeometry(QByteArray.fromBase64(saved.encode("ascii")))):
        window.resize(*DEFAULT_SIZE)
        area = available_area(window)
        room = area.size() - FRAME_ALLOWANCE
        size = window.size().boundedTo(room)
        window.move(
            area.x() + max(0, (area.width() - size.width() - FRAME_ALLOWANCE.width()) // 2),
            area.y() + max(0, (area.height() - size.height() - FRAME_ALLOWANCE.height()) // 2),
        )
    fit_to_screen(window)


def geometry_text(window: QWidget) -> str:
    """The window's size and place, as the settings file keeps them."""
    return bytes(window.saveGeometry().toBase64().data()).decode("ascii")
