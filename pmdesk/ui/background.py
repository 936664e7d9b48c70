"""Background services of a signed-in session: the trusted-IP expiry sweep and live refresh.

- ``SweepWorker`` (``pmdesk.ui.sweep``): a QObject on its own QThread with an engine of its own
  (``CoreContext.on_own_engine``: own connections, built from the main one's URL). Runs
  ``TrustedIpService.expire`` (then the purge of lapsed sessions) at start, then every
  ``sweep_interval_s`` (a QTimer in the worker thread; nothing sleeps).
- ``ChangeListener`` (``pmdesk.ui.change_listener``): a QThread looping
  ``ChangeWatcher.wait`` (``pmdesk.core.changes``) and emitting ``changed(frozenset[str])`` of
  table names, delivered queued on the GUI thread.
- Both survive a database restart: they say "Database connection lost — reconnecting in N s"
  through ``status`` (shown until the next message), retry with exponential backoff (1 s
  doubling to 30 s; ``pmdesk.ui.reconnect``) and never raise out of their thread
  (``pmdesk.core.db.is_connection_error`` tells a lost connection from other errors). After a
  reconnect the listener reports every topic (changes may have been missed).
- ``BackgroundServices`` holds both for the main window: ``start()`` after sign-in, ``stop()`` on
  sign-out and close (also on application quit as a safety net); it re-emits ``changed`` (the
  tables, which the page context's change hub hands to the pages that asked), ``swept`` and
  ``status`` on the GUI thread.

Stopping is prompt: the listener's wait is interruptible, and the sweep stops at the next chunk
boundary (the job is handed the worker's stop check, which ``expire(should_stop=…)`` asks
between chunks).
"""

from __future__ import annotations

import logging
import time
from contextlib import suppress

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from pmdesk.config import Settings
from pmdesk.core.changes import DEFAULT_POLL_INTERVAL_S
from pmdesk.core.context import CoreContext
from pmdesk.ui.change_listener import ChangeListener
from pmdesk.ui.reconnect import Backoff
from pmdesk.ui.sweep import SweepJob, SweepWorker, expire_trusted_ips

log = logging.getLogger(__name__)


class BackgroundServices(QObject):
    """The sweep and the change listener of one signed-in session (create after sign-in)."""

    changed = Signal(object)  # frozenset[str] of table names (the page context's change hub)
    swept = Signal(int)
    status = Signal(str, int)  # the text, how long it stays (FOR_A_WHILE, UNTIL_NEXT_MESSAGE)
    _sweep_requested = Signal()
    _shutdown_requested = Signal()

    def __init__(
        self,
        ctx: CoreContext,
        *,
        sweep_interval_s: float = 600.0,
        sweep: bool = True,
        listen: bool = True,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        listener_wait_s: float = 1.0,
        min_gap_s: float = 0.5,
        backoff: Backoff | None = None,
        job: SweepJob = expire_trusted_ips,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._sweep_thread: QThread | None = None
        self._worker: SweepWorker | None = None
        self._listener: ChangeListener | None = None
        self._started = False
        if sweep:
            self._sweep_thread = QThread()
            self._sweep_thread.setObjectName("pmdesk expiry sweep")
            self._worker = SweepWorker(
                ctx, interval_s=sweep_interval_s, backoff=_copy(backoff), job=job
            )
            self._worker.moveToThread(self._sweep_thread)
            self._sweep_thread.started.connect(self._worker.start)
            self._sweep_requested.connect(self._worker.sweep_now)
            self._shutdown_requested.connect(self._worker.shutdown)
            self._worker.swept.connect(self.swept)
            self._worker.status.connect(self.status)
        if listen:
            self._listener = ChangeListener(
                ctx,
                wait_s=listener_wait_s,
                poll_interval_s=poll_interval_s,
                min_gap_s=min_gap_s,
                backoff=_copy(backoff),
            )
            self._listener.setObjectName("pmdesk live refresh")
            self._listener.changed.connect(self._on_changed)
            self._listener.status.connect(self.status)

    @classmethod
    def from_settings(
        cls, ctx: CoreContext, settings: Settings, *, parent: QObject | None = None
    ) -> BackgroundServices:
        """Sweep every ``settings.sweep_interval_minutes`` (at least 1)."""
        minutes = max(1, int(settings.sweep_interval_minutes))
        return cls(ctx, sweep_interval_s=minutes * 60.0, parent=parent)

    # ----- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop)
        if self._sweep_thread is not None:
            self._sweep_thread.start()
        if self._listener is not None:
            self._listener.start()

    @property
    def running(self) -> bool:
        return any(
            t is not None and shiboken6.isValid(t) and t.isRunning()
            for t in (self._sweep_thread, self._listener)
        )

    @property
    def worker(self) -> SweepWorker | None:
        return self._worker

    @property
    def listener(self) -> ChangeListener | None:
        return self._listener

    def sweep_now(self) -> None:
        """Run the sweep now (queued to the worker thread)."""
        self._sweep_requested.emit()

    @Slot()
    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Stop both threads and wait up to ``timeout_ms`` in all. Returns False when a thread
        was still busy by then: it is handed to the application to finish on its own (never
        destroyed while running, which would abort the app), so the GUI never hangs here."""
        if not self._started:
            return True
        self._started = False
        app = QCoreApplication.instance()
        if app is not None:
            with suppress(RuntimeError, TypeError):
                app.aboutToQuit.disconnect(self.stop)
        if self._listener is not None:
            self._listener.stop()
        if self._worker is not None and self._sweep_thread is not None:
            self._worker.request_stop()
            self._shutdown_requested.emit()
        deadline = time.monotonic() + timeout_ms / 1000
        prompt = True
        for thread in (self._listener, self._sweep_thread):
            if thread is None:
                continue
            # The sweep thread quits itself after its shutdown slot (which must run in it).
            left_ms = max(0, round((deadline - time.monotonic()) * 1000))
            if not thread.wait(left_ms):
                prompt = False
                log.warning(
                    "%s did not stop within %d ms; it will end on its own",
                    thread.objectName(),
                    timeout_ms,
                )
                self._let_finish(thread)
        return prompt

    def _let_finish(self, thread: QThread) -> None:
        """Keep a still-running thread (and its worker) alive until it ends, then delete it."""
        app = QCoreApplication.instance()
        if app is None:  # no event loop to finish it later: the only safe choice is to wait
            thread.wait()
            return
        thread.setParent(app)  # the application now owns it (and its Python wrapper)
        if thread is self._sweep_thread:
            thread._pmdesk_worker = self._worker  # type: ignore[attr-defined]
        thread.finished.connect(thread.deleteLater)

    def _on_changed(self, topics: object) -> None:
        found = frozenset(topics) if isinstance(topics, set | frozenset | list) else frozenset()
        if not found:
            return
        self.changed.emit(found)


def _copy(backoff: Backoff | None) -> Backoff | None:
    return None if backoff is None else Backoff(backoff.initial_s, backoff.max_s)
