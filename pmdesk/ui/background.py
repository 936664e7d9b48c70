"""Background services of a signed-in session: the trusted-IP expiry sweep and live refresh.

- ``SweepWorker``: a QObject on its own QThread with an engine of its own
  (``CoreContext.on_own_engine``: own connections, built from the main one's URL). Runs
  ``TrustedIpService.expire`` (then the purge of lapsed sessions) at start, then every
  ``sweep_interval_s`` (a QTimer in the worker thread; nothing sleeps).
- ``ChangeListener``: a QThread looping ``ChangeWatcher.wait`` (``pmdesk.core.changes``) and
  emitting ``changed(frozenset[str])`` of table names, delivered queued on the GUI thread.
- Both survive a database restart: they say "Database connection lost — reconnecting in N s"
  through ``status`` (shown until the next message), retry with
  exponential backoff (1 s doubling to 30 s) and never raise out of their thread
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
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, QThread, QTimer, Signal, Slot

from pmdesk.config import Settings
from pmdesk.core.changes import (
    DEFAULT_POLL_INTERVAL_S,
    TOPICS,
    ChangeWatcher,
    open_watcher,
)
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import first_line, is_connection_error
from pmdesk.core.errors import DatabaseBusy

log = logging.getLogger(__name__)

SWEEP_ACTOR_JOB = "expiry sweep"
#: Whether the worker is stopping: a job asks it between its units of work and ends early.
StopCheck = Callable[[], bool]
#: What the worker runs each time; returns how many trusted IPs it removed.
SweepJob = Callable[[CoreContext, StopCheck], int]


def expire_trusted_ips(ctx: CoreContext, should_stop: StopCheck) -> int:
    """The default sweep: ``TrustedIpService.expire`` as the system, then lapsed sessions;
    ``should_stop`` ends it at the next chunk (and skips the purge)."""
    from pmdesk.core.sessions import SessionService
    from pmdesk.core.trusted_ips import TrustedIpService

    removed = TrustedIpService(ctx).expire(Actor.system(SWEEP_ACTOR_JOB), should_stop=should_stop)
    if not should_stop():
        SessionService(ctx).purge_expired()
    return removed


@dataclass
class Backoff:
    """Delays between reconnect attempts: ``initial_s`` doubling up to ``max_s``."""

    initial_s: float = 1.0
    max_s: float = 30.0

    def __post_init__(self) -> None:
        self._next = self.initial_s

    def next(self) -> float:
        delay = self._next
        self._next = min(self.max_s, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.initial_s


def seconds_text(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"


# How long a ``status`` message stays in the status bar (its second argument, milliseconds).
FOR_A_WHILE = -1  # the window's usual few seconds
UNTIL_NEXT_MESSAGE = 0  # "connection lost": the retries come up to 30 s apart


LOST_PREFIX = "Database connection lost"


def lost_message(delay_s: float) -> str:
    return f"{LOST_PREFIX} — reconnecting in {seconds_text(delay_s)}"


def is_lost_message(text: str) -> bool:
    """Whether a ``status`` text says the connection is (still) lost."""
    return text.startswith(LOST_PREFIX)


class SweepWorker(QObject):
    """Runs the expiry sweep on its own thread: at start, then every ``interval_s``.

    Move it to a QThread, connect ``QThread.started`` to ``start``; to stop, call
    ``request_stop()`` (any thread) and have ``shutdown`` run in the worker thread (queued).
    """

    swept = Signal(int)
    status = Signal(str, int)  # the text, how long it stays (FOR_A_WHILE, UNTIL_NEXT_MESSAGE)
    #: Emitted in the worker thread when ``shutdown`` is done (the thread is quitting).
    stopped = Signal()

    def __init__(
        self,
        ctx: CoreContext,
        *,
        interval_s: float = 600.0,
        backoff: Backoff | None = None,
        job: SweepJob = expire_trusted_ips,
    ) -> None:
        super().__init__()
        self._template = ctx
        self._interval_s = max(0.05, float(interval_s))
        self._backoff = backoff or Backoff()
        self._job = job
        self._stopping = threading.Event()
        self._own: CoreContext | None = None  # on an engine of its own, once connected
        self._timer: QTimer | None = None
        self._lost = False
        self._running = False
        self.sweeps = 0  # completed sweeps (for tests and diagnostics)

    # ----- slots (worker thread) ---------------------------------------------------------------

    @Slot()
    def start(self) -> None:
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._run)
        self._schedule(0)

    @Slot()
    def sweep_now(self) -> None:
        if self._timer is not None and not self._running:
            self._schedule(0)

    @Slot()
    def shutdown(self) -> None:
        self._stopping.set()
        if self._timer is not None:
            self._timer.stop()
        self._dispose()
        self.stopped.emit()
        thread = self.thread()
        app = QCoreApplication.instance()
        if app is not None:
            # Hand the (now idle) worker back to the GUI thread, which deletes it later.
            self.moveToThread(app.thread())
        thread.quit()

    # ----- any thread ----------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Refuse new sweeps and end a running one at its next chunk."""
        self._stopping.set()

    # ----- internals ---------------------------------------------------------------------------

    def _schedule(self, seconds: float) -> None:
        if self._timer is not None and not self._stopping.is_set():
            self._timer.start(max(0, round(seconds * 1000)))

    def _context(self) -> CoreContext:
        if self._own is None:
            self._own = self._template.on_own_engine()
        return self._own

    def _dispose(self) -> None:
        if self._own is not None:
            try:
                self._own.db.dispose()
            except Exception:  # never raise out of the thread
                log.exception("Disposing the sweep's database engine failed")
            self._own = None

    @Slot()
    def _run(self) -> None:
        if self._stopping.is_set():
            return
        self._running = True
        started = time.monotonic()
        try:
            removed = self._job(self._context(), self._stopping.is_set)
        except Exception as exc:  # the thread must survive anything the sweep raises
            self._failed(exc)
            return
        finally:
            self._running = False
        if self._stopping.is_set():
            return  # ended early, or done as the window went: a stopped sweep reports nothing
        self.sweeps += 1
        self._backoff.reset()
        if self._lost:
            self._lost = False
            self.status.emit("Database connection restored", FOR_A_WHILE)
        log.info(
            "Expiry sweep removed %d trusted IPs in %.2f s", removed, time.monotonic() - started
        )
        if removed:
            noun = "address" if removed == 1 else "addresses"
            self.status.emit(
                f"Expiry sweep: removed {removed} expired trusted IP {noun}", FOR_A_WHILE
            )
        self.swept.emit(int(removed))
        self._schedule(self._interval_s)

    def _failed(self, exc: BaseException) -> None:
        delay = self._backoff.next()
        if is_connection_error(exc):
            self._lost = True
            self._dispose()  # a fresh engine on the next try
            log.warning("Expiry sweep: database connection lost: %s", first_line(exc))
            self.status.emit(lost_message(delay), UNTIL_NEXT_MESSAGE)
        elif isinstance(exc, DatabaseBusy):
            log.info("Expiry sweep: database busy, trying again later")
            self.status.emit(
                f"Expiry sweep postponed: the database is busy — retrying in {seconds_text(delay)}",
                FOR_A_WHILE,
            )
        else:
            log.error("Expiry sweep failed", exc_info=exc)
            self.status.emit(
                f"Expiry sweep failed: {first_line(exc)} — retrying in {seconds_text(delay)}",
                FOR_A_WHILE,
            )
        self._schedule(delay)


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
