"""Live refresh: a loop (``pmdesk.ui.tasks.Loop``) that waits for database change
notifications, which ``BackgroundServices`` starts on the task manager.

``ChangeListener`` loops ``ChangeWatcher.wait`` (``pmdesk.core.changes``: PostgreSQL ``LISTEN``,
or polling elsewhere) on a connection of its own and reports each batch of changed table names
(a frozenset) through ``on_changed``, from its own thread. It never raises out of its thread: a
lost connection is retried with backoff (``pmdesk.ui.reconnect``), and after a reconnect every
topic is reported (changes may have been missed meanwhile).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication

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
    failure_text,
    lost_message,
    restored_message,
    seconds_text,
)

log = logging.getLogger(__name__)
translate = QCoreApplication.translate


#: Reports from the listener's thread: the changed tables; a status text and how long it stays.
OnChanged = Callable[[frozenset[str]], None]
OnStatus = Callable[[str, int], None]


class ChangeListener:
    """Waits for database change notifications on its own connection and reports the changed
    tables (see ``pmdesk.core.changes.TOPICS``) through ``on_changed``.

    Notifications arriving in a burst (a sweep deleting chunk after chunk) are merged: at most
    one report per ``min_gap_s``.
    """

    def __init__(
        self,
        ctx: CoreContext,
        *,
        on_changed: OnChanged,
        on_status: OnStatus,
        wait_s: float = 1.0,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        min_gap_s: float = 0.5,
        backoff: Backoff | None = None,
        opener: Callable[[CoreContext, float], ChangeWatcher] | None = None,
    ) -> None:
        """``ctx``: the database to watch; the listener opens connections of its own to it."""
        self._ctx = ctx
        self._on_changed = on_changed
        self._on_status = on_status
        self._wait_s = wait_s
        self._poll_interval_s = poll_interval_s
        self._min_gap_s = min_gap_s
        self._backoff = backoff or Backoff()
        self._open = opener or _open_watcher
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher: ChangeWatcher | None = None
        self.connected = threading.Event()  # set while a watcher is open (tests, diagnostics)

    def wake(self) -> None:
        """Wake a blocked wait at once (the loop is stopping). Safe from any thread."""
        with self._lock:
            if self._watcher is not None:
                self._watcher.interrupt()

    def run(self, stopping: threading.Event) -> None:
        self._stopping = stopping
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
                    self._on_status(restored_message(), FOR_A_WHILE)
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
                self._on_changed(frozenset(pending))
                pending = set()
                last_emit = now

    def _retry_later(self, exc: BaseException) -> None:
        delay = self._backoff.next()
        if is_connection_error(exc):
            log.warning("Live refresh: database connection lost: %s", first_line(exc))
            self._on_status(lost_message(delay), UNTIL_NEXT_MESSAGE)
        else:
            log.error("Live refresh failed", exc_info=exc)
            self._on_status(
                translate(
                    "ChangeListener", "Live refresh failed: {why} — retrying in {delay}"
                ).format(why=failure_text(exc), delay=seconds_text(delay)),
                FOR_A_WHILE,
            )
        self._stopping.wait(delay)


def _open_watcher(ctx: CoreContext, poll_interval_s: float) -> ChangeWatcher:
    return open_watcher(ctx.db, poll_interval_s=poll_interval_s)
