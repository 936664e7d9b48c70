"""Background services of a signed-in session: the trusted-IP expiry sweep and live refresh.

Both are loops that the window's task manager runs (``TaskManager.start_loop``: the one
mechanism for background work, ``pmdesk.ui.tasks``), each with connections of its own:

- ``ExpirySweep`` (``pmdesk.ui.sweep``) runs ``TrustedIpService.expire`` (then the purge of
  lapsed sessions) at start, then every ``sweep_interval_s``;
- ``ChangeListener`` (``pmdesk.ui.change_listener``) loops ``ChangeWatcher.wait``
  (``pmdesk.core.changes``) and reports the changed tables.

Both survive a database restart: they say "Database connection lost — reconnecting in N s"
through ``status`` (shown until the next message), retry with exponential backoff (1 s doubling
to 30 s; ``pmdesk.ui.reconnect``) and never raise out of their thread
(``pmdesk.core.db.is_connection_error`` tells a lost connection from other errors). After a
reconnect the listener reports every topic (changes may have been missed).

``BackgroundServices`` holds both for the main window: ``start()`` after sign-in, ``stop()`` on
sign-out and close; what the loops report from their threads is re-emitted on the GUI thread as
``changed`` (the tables, for the page context's change hub), ``swept`` and ``status``.

Stopping is prompt: the listener's wait is interruptible, the sweep waits on an event between
runs and stops a running sweep at the next chunk boundary (``expire(should_stop=…)``).
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QObject, Signal, Slot

from pmdesk.config import Settings
from pmdesk.core.changes import DEFAULT_POLL_INTERVAL_S
from pmdesk.core.context import CoreContext
from pmdesk.ui.change_listener import ChangeListener
from pmdesk.ui.reconnect import Backoff
from pmdesk.ui.sweep import ExpirySweep, SweepJob, expire_trusted_ips
from pmdesk.ui.tasks import LoopHandle, TaskManager

log = logging.getLogger(__name__)


class BackgroundServices(QObject):
    """The sweep and the change listener of one signed-in session (create after sign-in)."""

    changed = Signal(object)  # frozenset[str] of table names (the page context's change hub)
    swept = Signal(int)
    status = Signal(str, int)  # the text, how long it stays (FOR_A_WHILE, UNTIL_NEXT_MESSAGE)
    # Emitted from the loops' threads; received here, on the GUI thread (queued).
    _swept_in_loop = Signal(int)
    _status_in_loop = Signal(str, int)
    _changed_in_loop = Signal(object)

    def __init__(
        self,
        ctx: CoreContext,
        tasks: TaskManager,
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
        self._tasks = tasks
        self._handles: list[LoopHandle] = []  # the loops of this start (none once stopped)
        self._started: list[LoopHandle] = []  # every loop started, until it has ended
        self._swept_in_loop.connect(self._report_swept)
        self._status_in_loop.connect(self._report_status)
        self._changed_in_loop.connect(self._report_changed)
        self.sweep = (
            ExpirySweep(
                ctx,
                on_swept=self._swept_in_loop.emit,
                on_status=self._status_in_loop.emit,
                interval_s=sweep_interval_s,
                backoff=_copy(backoff),
                job=job,
            )
            if sweep
            else None
        )
        self.listener = (
            ChangeListener(
                ctx,
                on_changed=self._changed_in_loop.emit,
                on_status=self._status_in_loop.emit,
                wait_s=listener_wait_s,
                poll_interval_s=poll_interval_s,
                min_gap_s=min_gap_s,
                backoff=_copy(backoff),
            )
            if listen
            else None
        )

    @classmethod
    def from_settings(
        cls,
        ctx: CoreContext,
        tasks: TaskManager,
        settings: Settings,
        *,
        parent: QObject | None = None,
    ) -> BackgroundServices:
        """Sweep every ``settings.sweep_interval_minutes`` (at least 1)."""
        minutes = max(1, int(settings.sweep_interval_minutes))
        return cls(ctx, tasks, sweep_interval_s=minutes * 60.0, parent=parent)

    # ----- life cycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._handles:
            return
        if self.sweep is not None:
            self._handles.append(self._tasks.start_loop(self.sweep, label="expiry sweep"))
        if self.listener is not None:
            self._handles.append(self._tasks.start_loop(self.listener, label="live refresh"))
        self._started = [handle for handle in self._started if handle.running] + self._handles

    @property
    def running(self) -> bool:
        """Whether a loop still runs (one that did not stop in time, too)."""
        return any(handle.running for handle in self._started)

    def sweep_now(self) -> None:
        """Run the sweep now (or, during one, once more right after it)."""
        if self.sweep is not None and self._handles:
            self.sweep.wake()

    @Slot()
    def stop(self, timeout_ms: int = 10_000) -> bool:
        """Stop both loops and wait up to ``timeout_ms`` in all. Returns False when one was
        still busy by then: it ends on its own (the task manager waits for it when the
        application quits), so the GUI never hangs here."""
        handles, self._handles = self._handles, []
        for handle in handles:
            handle.stop()
        deadline = time.monotonic() + timeout_ms / 1000
        prompt = True
        for handle in handles:
            if not handle.wait(deadline - time.monotonic()):
                prompt = False
                log.warning(
                    "%s did not stop within %d ms; it will end on its own", handle.label, timeout_ms
                )
        return prompt

    # ----- reports (GUI thread) ----------------------------------------------------------------

    @Slot(int)
    def _report_swept(self, removed: int) -> None:
        if self._handles:  # a stopped session's late report is dropped
            self.swept.emit(removed)

    @Slot(str, int)
    def _report_status(self, text: str, timeout_ms: int) -> None:
        if self._handles:
            self.status.emit(text, timeout_ms)

    @Slot(object)
    def _report_changed(self, topics: object) -> None:
        found = frozenset(topics) if isinstance(topics, set | frozenset | list) else frozenset()
        if found and self._handles:
            self.changed.emit(found)


def _copy(backoff: Backoff | None) -> Backoff | None:
    return None if backoff is None else Backoff(backoff.initial_s, backoff.max_s)
