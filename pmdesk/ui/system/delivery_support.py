"""What the delivery form needs around its fields: the two file dialogs (the outbox folder, a
key file), the warning when recent sends failed, and keeping a field just marked in view while
the page around it settles."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt, QTimer
from PySide6.QtWidgets import QFileDialog, QScrollArea, QWidget

from pmdesk.core.security import DeliveryHealthReport
from pmdesk.ui.query import Query
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import localize
from pmdesk.ui.widgets import MessageLabel

log = logging.getLogger(__name__)


translate = QCoreApplication.translate


def open_folder_dialog(parent: QWidget, current: str, chosen: Callable[[str], None]) -> None:
    """Choose the outbox folder (window-modal; ``chosen(folder)`` once picked)."""
    dialog = QFileDialog(parent, translate("MailSettingsBox", "Outbox folder"))
    dialog.setObjectName("outboxFolderDialog")
    dialog.setFileMode(QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    if current:
        dialog.setDirectory(current)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.fileSelected.connect(chosen)
    dialog.open()


def open_key_file_dialog(parent: QWidget, google: bool, chosen: Callable[[str], None]) -> None:
    """Choose a service account's JSON key (``google``) or a PEM private key file."""
    dialog = QFileDialog(
        parent,
        translate("MailSettingsBox", "JSON key")
        if google
        else translate("MailSettingsBox", "Private key"),
    )
    dialog.setObjectName("keyFileDialog")
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    dialog.setNameFilters(
        [
            translate("MailSettingsBox", "JSON key (*.json)")
            if google
            else translate("MailSettingsBox", "PEM key (*.pem *.key)"),
            translate("MailSettingsBox", "All files (*)"),
        ]
    )
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dialog.fileSelected.connect(chosen)
    dialog.open()


class KeepInView(QObject):
    """Scrolls the page so that a field just marked is in view, and keeps it there for
    ``ms``: the lines above it may still change (the status read again after a save) and
    move it, and its error takes its height only once its box lays itself out."""

    def __init__(self, box: QWidget, ms: int) -> None:
        super().__init__(box)
        self._box = box
        self._target: QWidget | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(ms)
        self._timer.timeout.connect(self._stop)
        box.installEventFilter(self)

    def reveal(self, widget: QWidget) -> None:
        self._target = widget
        self._timer.start()
        self._scroll_to(widget, settle=True)

    def _stop(self) -> None:
        self._target = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        moved = event.type() in (QEvent.Type.Move, QEvent.Type.Resize)
        if watched is self._box and moved and self._target is not None:
            self._scroll_to(self._target, settle=False)
        return False

    def _scroll_to(self, widget: QWidget, *, settle: bool) -> None:
        parent = self._box.parentWidget()
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        if parent is None:
            return
        holder = parent.widget()
        layout = holder.layout() if holder is not None else None
        if settle and layout is not None:
            layout.activate()  # the error just shown gets its place first
        parent.ensureWidgetVisible(widget, 0, 12)


class DeliveryHealthLabel(MessageLabel):
    """The warning at the top of the delivery box when the configured method's recent sends
    failed. ``read_health()`` (blocking) runs on a worker of ``tasks``; only a warning: when it
    cannot be read, that is logged, not shown."""

    def __init__(
        self,
        tasks: TaskManager,
        read_health: Callable[[], DeliveryHealthReport],
        parent: QWidget,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("deliveryHealth")
        self._read = read_health
        self.warning: str | None = None
        self._reading = Query(
            self,
            tasks,
            label="delivery health",
            failed=lambda exc: log.info("delivery health not read: %s", type(exc).__name__),
        )

    def refresh(self) -> None:
        """Read the health again (the newest reading wins) and show its warning."""
        self._reading.restart()
        self._reading.run(self._read, lambda report: self.show_warning(report.warning))

    def show_warning(self, warning: str | None) -> None:
        """``warning`` in the app's language (again after a language change); None: hidden."""
        self.warning = warning
        if warning:
            self.show_error(localize(warning))
        else:
            self.clear_message()
