"""Live refresh: a thread that waits for database change notifications.

``ChangeListener`` loops ``ChangeWatcher.wait`` (``pmdesk.core.changes``: PostgreSQL ``LISTEN``,
or polling elsewhere) on a connection of its own and emits ``changed(frozenset[str])`` of table
names, delivered queued on the GUI thread. It never raises out of its thread: a lost connection
is retried with backoff (``pmdesk.ui.reconnect``), and after a reconnect every topic is
reported (changes may have been missed meanwhile).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QThread, Signal

from pmdesk.core.changes import (
    DEFAULT_POLL_INTERVAL_S,
    TOPICS,
    ChangeWatcher,
    open_watcher,
)
from pmdesk.core.context import CoreContext
from pmdesk.core.db import first_line, is_connection_error
from pmdesk.ui.reconnect import (
    FOR_A_WHILE,
    UNTIL_NEXT_MESSAGE,
    Backoff,
    lost_message,
    seconds_text,
)

log = logging.getLogger(__name__)


class ChangeListener(QThread):
    """Waits for database change notifications on its own connection; ``changed`` carries a
    frozenset of table names (see ``pmdesk.core.changes.TOPICS``) and arrives on the GUI thread.

    Notifications arriving in a burst (a sweep deleting chunk after chunk) are merged: at most
    one ``changed`` per ``min_gap_s``.
    """

    changed = Signal(object)
    status = Signal(str, int)  # the text, how long it stays (FOR_A_WHILE, UNTIL_NEXT_MESSAGE)

    def __init__(
        self,
        ctx: CoreContext,
        *,
        wait_s: float = 1.0,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        min_gap_s: float = 0.5,
        backoff: Backoff | None = None,
        opener: Callable[[CoreContext, float], ChangeWatcher] | None = None,
    ) -> None:
        """``ctx``: the database to watch; the listener opens connections of its own to it."""
        super().__init__()
        self._ctx = ctx
        self._wait_s = wait_s
        self._poll_interval_s = poll_interval_s
        self._min_gap_s = min_gap_s
        self._backoff = backoff or Backoff()
        self._open = opener or _open_watcher
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: ChangeWatcher | None = None
        self.connected = threading.Event()  # set while a watcher is open (tests, diagnostics)

    def stop(self) -> None:
        """Ask the loop to end; wakes a blocked wait at once. Safe from any thread."""
        self._stopping.set()
        with self._lock:
            if self._watcher is not None:
                self._watcher.interrupt()

    def run(self) -> None:
        try:
            self._loop()
        except Exception:  # never raise out of the thread
            log.exception("The change listener stopped on an unexpected error")
        finally:
            self._set_watcher(None)

    def _set_watcher(self, watcher: ChangeWatcher | None) -> None:
        with self._lock:
            old, self._watcher = self._watcher, watcher
        if old is not None:
            try:
                old.close()
            except Exception:
                log.exception("Closing a change watcher failed")
        if watcher is None:
            self.connected.clear()
        else:
            self.connected.set()
            if self._stopping.is_set():
                watcher.interrupt()

    def _loop(self) -> None:
        lost = False
        pending: set[str] = set()
        last_emit = 0.0
        while not self._stopping.is_set():
            if self._watcher is None:
                try:
                    self._set_watcher(self._open(self._ctx, self._poll_interval_s))
                except Exception as exc:
                    lost = True
                    self._retry_later(exc)
                    continue
                if lost:
                    lost = False
                    self._backoff.reset()
                    self.status.emit("Database connection restored", FOR_A_WHILE)
                    pending |= TOPICS  # whatever changed meanwhile was missed
            now = time.monotonic()
            gap_left = last_emit + self._min_gap_s - now
            timeout = self._wait_s if not pending else max(0.0, min(self._wait_s, gap_left))
            watcher = self._watcher
            assert watcher is not None
            try:
                pending |= watcher.wait(timeout)
            except Exception as exc:
                self._set_watcher(None)
                lost = True
                self._retry_later(exc)
                continue
            now = time.monotonic()
            if pending and now - last_emit >= self._min_gap_s and not self._stopping.is_set():
                self.changed.emit(frozenset(pending))
                pending = set()
                last_emit = now

    def _retry_later(self, exc: BaseException) -> None:
        delay = self._backoff.next()
        if is_connection_error(exc):
            log.warning("Live refresh: database connection lost: %s", first_line(exc))
            self.status.emit(lost_message(delay), UNTIL_NEXT_MESSAGE)
        else:
            log.error("Live refresh failed", exc_info=exc)
            self.status.emit(
                f"Live refresh failed: {first_line(exc)} — retrying in {seconds_text(delay)}",
                FOR_A_WHILE,
            )
        self._stopping.wait(delay)


def _open_watcher(ctx: CoreContext, poll_interval_s: float) -> ChangeWatcher:
    return open_watcher(ctx.db, poll_interval_s=poll_interval_s)
