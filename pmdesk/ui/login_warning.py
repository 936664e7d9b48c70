"""Above the login form: recent security codes did not go out (said before anyone signs in).

The backend's sentence comes from the core; it is kept as it came and shown in the app's
language, again when the language changes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget

from pmdesk.ui.query import Query
from pmdesk.ui.translation import Retranslating, localize
from pmdesk.ui.widgets import MessageLabel

if TYPE_CHECKING:
    from pmdesk.ui.login_backend import LoginBackend
    from pmdesk.ui.tasks import TaskManager

log = logging.getLogger(__name__)


class DeliveryWarning(Retranslating, MessageLabel):
    """``answered`` once the backend has said (shown or cleared): the dialog fits itself."""

    answered = Signal()

    def __init__(self, tasks: TaskManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("deliveryWarning")
        self._text: str | None = None
        self._health = Query(self, tasks, label="delivery health", failed=self._unknown)

    def check(self, backend: LoginBackend, width: int) -> None:
        """Ask ``backend`` (on a worker thread) whether recent security codes failed to go
        out, and say so; ``width``: the form's, so that a wrapped line is not too tall."""

        def done(text: str | None) -> None:
            self._text = text
            if text:
                # As wide as the form: a wrapped label would otherwise ask for the height
                # of a narrow column, and leave a gap under the form.
                self.setMinimumWidth(width)
            self.retranslate()
            self.answered.emit()

        self._health.restart()  # a newer backend's answer replaces an older one's
        self._health.run(backend.delivery_warning, done)

    def retranslate(self) -> None:
        if self._text:
            self.show_notice(localize(self._text))
        else:
            self.clear_message()

    @staticmethod
    def _unknown(exc: BaseException) -> None:
        # Only a warning: signing in works without it, so a failure is logged, not shown.
        log.info("delivery health not read: %s", type(exc).__name__)
