"""The trusted-IP expiry sweep of a signed-in session, on a thread of its own.

``SweepWorker`` is a QObject moved to a QThread, with an engine of its own
(``CoreContext.on_own_engine``). It runs its job (``expire_trusted_ips``: the expiry, then the
purge of lapsed sessions) at start and then every ``interval_s`` (a QTimer in the worker thread;
nothing sleeps), and stops at the next chunk boundary: the job is handed the worker's stop
check, which ``TrustedIpService.expire(should_stop=…)`` asks between chunks. It never raises
out of its thread: a lost connection is retried with backoff (``pmdesk.ui.reconnect``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QObject, QTimer, Signal, Slot

from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import first_line, is_connection_error
from pmdesk.core.errors import DatabaseBusy
from pmdesk.ui.reconnect import (
    FOR_A_WHILE,
    UNTIL_NEXT_MESSAGE,
    Backoff,
    lost_message,
    seconds_text,
)

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
