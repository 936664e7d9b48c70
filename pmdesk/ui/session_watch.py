"""Keeps a desktop sign-in honest: its session is checked against the database every half minute.

When an administrator presses End sessions, the account is locked or its password changes, the
next check fails and ``ended`` carries the reason; the app then returns to the login dialog.
A database that cannot be reached is not a reason to sign anyone out: the check is tried again
at the next tick. The check runs on a worker thread (it is a database round trip).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer, Signal

from pmdesk.core.context import CoreContext
from pmdesk.core.errors import NotSignedIn
from pmdesk.core.sessions import CHECK_INTERVAL_S, SessionService
from pmdesk.ui.query import Query
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import error_text

log = logging.getLogger(__name__)


class SessionWatch(QObject):
    ended = Signal(str)  # why, as the person is told (in the app's language)

    def __init__(
        self,
        ctx: CoreContext,
        token: str,
        workstation: str,
        tasks: TaskManager,
        *,
        interval_s: float = CHECK_INTERVAL_S,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._service = SessionService(ctx)
        self._token = token
        self._workstation = workstation
        self._checking = Query(self, tasks, label="check session", failed=self._checked)
        self._stopped = False
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, int(interval_s * 1000)))
        self._timer.timeout.connect(self.check_now)

    def start(self) -> None:
        self._timer.start()

    def stop(self) -> None:
        self._stopped = True
        self._timer.stop()

    def check_now(self) -> None:
        if self._checking.running or self._stopped:
            return
        service, token, workstation = self._service, self._token, self._workstation
        self._checking.run(
            lambda: service.resolve(token, workstation=workstation),
            lambda _active: self._checked(None),
        )

    def _checked(self, error: BaseException | None) -> None:
        if self._stopped:
            return
        if isinstance(error, NotSignedIn):
            log.info("desktop session ended: %s", error.reason)
            self.stop()
            self.ended.emit(error_text(error))
        elif error is not None:
            log.warning("session check failed (tried again later): %s", type(error).__name__)
