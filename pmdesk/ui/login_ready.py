"""The login dialog tells its backend which login the password being typed is for
(``LoginBackend.get_ready``): when the Username field is left, or 300 ms after typing in it
stops, once per login. On a hardened database the backend fetches the salt then, and the
Login click is one round trip."""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLineEdit

from pmdesk.ui.login_backend import LoginBackend
from pmdesk.ui.query import Query
from pmdesk.ui.tasks import TaskManager

log = logging.getLogger(__name__)


class GetReady(QObject):
    """Watches the Username field; ``backend()`` is the dialog's backend (None: not yet)."""

    def __init__(
        self,
        username: QLineEdit,
        tasks: TaskManager,
        backend: Callable[[], LoginBackend | None],
    ) -> None:
        super().__init__(username)
        self._username = username
        self._backend = backend
        self._query = Query(self, tasks, label="login: get ready", failed=_not_ready)
        self._ready_for: str | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(300)
        self._timer.timeout.connect(self.now)
        username.textEdited.connect(lambda _text: self._timer.start())
        username.editingFinished.connect(self.now)

    def now(self) -> None:
        """Get ready for the login in the field, unless done for it already."""
        self._timer.stop()
        login = self._username.text().strip()
        backend = self._backend()
        if not login or backend is None or login == self._ready_for:
            return
        self._ready_for = login
        self._query.run(lambda: backend.get_ready(login))

    def used(self) -> None:
        """A sign-in began: what was got ready is used (or not) by it."""
        self._ready_for = None


def _not_ready(exc: BaseException) -> None:
    """Getting ready failed (the database went away, say): the sign-in does it itself."""
    log.info("login: not got ready ahead (%s)", type(exc).__name__)
