"""The trusted-IP expiry sweep of a signed-in session: a loop (``pmdesk.ui.tasks.Loop``) that
``BackgroundServices`` starts on the task manager.

``ExpirySweep`` runs its job (``expire_trusted_ips``: the expiry, then the purge of lapsed
sessions) at start and then every ``interval_s``, with an engine of its own
(``CoreContext.on_own_engine``). Between sweeps it waits on an event, so "sweep now" and stopping
take effect at once; a running sweep stops at the next chunk boundary (the job is handed the
stop check, which ``TrustedIpService.expire(should_stop=…)`` asks between chunks). It never
raises out of its thread: a lost connection is retried with backoff (``pmdesk.ui.reconnect``).
It reports through the callbacks it is given, from its own thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QLocale

from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import first_line, is_connection_error
from pmdesk.core.errors import DatabaseBusy
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

SWEEP_ACTOR_JOB = "expiry sweep"
#: Whether the sweep is stopping: a job asks it between its units of work and ends early.
StopCheck = Callable[[], bool]
#: What the sweep runs each time; returns how many trusted IPs it removed.
SweepJob = Callable[[CoreContext, StopCheck], int]
#: Reports from the sweep's thread: how many it removed; a status text and how long it stays.
OnSwept = Callable[[int], None]
OnStatus = Callable[[str, int], None]


def expire_trusted_ips(ctx: CoreContext, should_stop: StopCheck) -> int:
    """The default sweep: ``TrustedIpService.expire`` as the system, then lapsed sessions;
    ``should_stop`` ends it at the next chunk (and skips the purge)."""
    from pmdesk.core.sessions import SessionService
    from pmdesk.core.trusted_ips import TrustedIpService

    removed = TrustedIpService(ctx).expire(Actor.system(SWEEP_ACTOR_JOB), should_stop=should_stop)
    if not should_stop():
        SessionService(ctx).purge_expired()
    return removed


class ExpirySweep:
    """Runs the expiry sweep: at start, then every ``interval_s`` (see the module)."""

    def __init__(
        self,
        ctx: CoreContext,
        *,
        on_swept: OnSwept,
        on_status: OnStatus,
        interval_s: float = 600.0,
        backoff: Backoff | None = None,
        job: SweepJob = expire_trusted_ips,
    ) -> None:
        self._template = ctx
        self._on_swept = on_swept
        self._on_status = on_status
        self.interval_s = max(0.05, float(interval_s))
        self._backoff = backoff or Backoff()
        self._job = job
        self._wake = threading.Event()
        self._own: CoreContext | None = None  # on an engine of its own, once connected
        self._lost = False
        self.sweeps = 0  # completed sweeps (for tests and diagnostics)

    def wake(self) -> None:
        """Sweep now (asked during a sweep: once more right after it, as the change asked
        about may have come after the running sweep read), or notice at once that the loop is
        stopping."""
        self._wake.set()

    def run(self, stopping: threading.Event) -> None:
        try:
            while not stopping.is_set():
                self._wake.clear()
                delay = self._sweep(stopping)
                if stopping.is_set():
                    break
                self._wake.wait(delay)
        finally:
            self._dispose()

    # ----- internals ---------------------------------------------------------------------------

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

    def _sweep(self, stopping: threading.Event) -> float:
        """One sweep; how long to wait before the next."""
        started = time.monotonic()
        try:
            removed = self._job(self._context(), stopping.is_set)
        except Exception as exc:  # the thread must survive anything the sweep raises
            return self._failed(exc)
        if stopping.is_set():
            return 0.0  # ended early, or done as the window went: a stopped sweep reports nothing
        self.sweeps += 1
        self._backoff.reset()
        if self._lost:
            self._lost = False
            self._on_status(restored_message(), FOR_A_WHILE)
        log.info(
            "Expiry sweep removed %d trusted IPs in %.2f s", removed, time.monotonic() - started
        )
        if removed == 1:
            self._on_status(
                translate("ExpirySweep", "Expiry sweep: removed 1 expired trusted IP address"),
                FOR_A_WHILE,
            )
        elif removed:
            self._on_status(
                translate(
                    "ExpirySweep", "Expiry sweep: removed {count} expired trusted IP addresses"
                ).format(count=QLocale().toString(int(removed))),
                FOR_A_WHILE,
            )
        self._on_swept(int(removed))
        return self.interval_s

    def _failed(self, exc: BaseException) -> float:
        delay = self._backoff.next()
        if is_connection_error(exc):
            self._lost = True
            self._dispose()  # a fresh engine on the next try
            log.warning("Expiry sweep: database connection lost: %s", first_line(exc))
            self._on_status(lost_message(delay), UNTIL_NEXT_MESSAGE)
        elif isinstance(exc, DatabaseBusy):
            log.info("Expiry sweep: database busy, trying again later")
            self._on_status(
                translate(
                    "ExpirySweep",
                    "Expiry sweep postponed: the database is busy — retrying in {delay}",
                ).format(delay=seconds_text(delay)),
                FOR_A_WHILE,
            )
        else:
            log.error("Expiry sweep failed", exc_info=exc)
            self._on_status(
                translate("ExpirySweep", "Expiry sweep failed: {why} — retrying in {delay}").format(
                    why=failure_text(exc), delay=seconds_text(delay)
                ),
                FOR_A_WHILE,
            )
        return delay
