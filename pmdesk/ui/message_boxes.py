"""Questions and messages as non-blocking message boxes (never ``exec()``: the event loop keeps
running, and tests can answer them)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import QAbstractButton, QMessageBox, QPushButton, QWidget

from pmdesk.ui.widgets import make_danger


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


def ask_discard(
    parent: QWidget,
    text: str,
    on_discard: Callable[[], None],
    *,
    discard_text: str | None = None,
    keep_text: str | None = None,
    on_keep: Callable[[], None] | None = None,
) -> QMessageBox:
    """Ask whether to discard unsaved changes: a red "Discard changes" button (or
    ``discard_text``) or "Keep editing" (or ``keep_text``; ``on_keep`` then runs); titled
    "Unsaved changes" and opened without blocking."""
    box = ask(
        parent,
        QCoreApplication.translate("widgets", "Unsaved changes"),
        text,
        discard_text or QCoreApplication.translate("widgets", "Discard changes"),
        on_discard,
        danger=True,
        cancel_text=keep_text or QCoreApplication.translate("widgets", "Keep editing"),
    )
    if on_keep is not None:
        box.rejected.connect(on_keep)
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
