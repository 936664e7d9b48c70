"""One way to run work in the background (after Anki's ``taskman``).

``TaskManager.run(fn, on_done, on_error)`` runs ``fn()`` on a worker thread of the manager's own
``QThreadPool`` and calls ``on_done(result)`` or ``on_error(exception)`` back on the GUI thread
(a queued signal). ``fn`` must not touch widgets; it calls core services, which open their own
database session per call, and returns plain data (frozen dataclasses), never live ORM objects.

``TaskManager.start_loop(loop)`` runs a signed-in session's long-lived work (the expiry sweep,
live refresh: ``pmdesk.ui.background``) on a second pool of the same manager, so that it never
takes a thread the screens' short tasks wait for. A loop runs until its ``LoopHandle`` is
stopped; it reports through signals of an object on the GUI thread (queued).

Everything is tracked: ``shutdown()`` (called when the application quits, and by the test
fixtures at teardown) stops the loops and waits for every thread, so no worker outlives the
objects it reports to. Nothing here spins ``processEvents()``.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)

T = TypeVar("T")

DoneCallback = Callable[[Any], None]
ErrorCallback = Callable[[BaseException], None]


class Task(Generic[T]):
    """A handle on one background call: cancel it to drop its result."""

    def __init__(self, task_id: int, label: str) -> None:
        self.id = task_id
        self.label = label
        self.cancelled = False
        self.finished = False

    def cancel(self) -> None:
        """The work still runs to its end, but its callbacks are not called."""
        self.cancelled = True

    def __repr__(self) -> str:
        state = "cancelled" if self.cancelled else "finished" if self.finished else "running"
        return f"<Task {self.id} {self.label!r} {state}>"


class Loop(Protocol):
    """Long-lived work: ``run`` returns once ``stopping`` is set (soon after: it checks between
    its steps and waits on events, never sleeps); ``wake`` interrupts a wait (called by
    ``LoopHandle.stop``, from the GUI thread)."""

    def run(self, stopping: threading.Event) -> None: ...

    def wake(self) -> None: ...


class LoopHandle:
    """A running loop: ``stop()`` asks it to end, ``wait()`` waits for that (with a limit)."""

    def __init__(self, loop: Loop, label: str) -> None:
        self.label = label
        self.stopping = threading.Event()
        self._loop = loop
        self._done = threading.Event()

    def stop(self) -> None:
        self.stopping.set()
        self._loop.wake()

    def wait(self, timeout_s: float) -> bool:
        """Whether the loop has ended within ``timeout_s`` (it goes on otherwise)."""
        return self._done.wait(max(0.0, timeout_s))

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def ended(self) -> None:
        """Called by the pool's thread once ``run`` has returned (or raised)."""
        self._done.set()

    def __repr__(self) -> str:
        return f"<Loop {self.label!r} {'running' if self.running else 'ended'}>"


class _LoopRunnable(QRunnable):
    def __init__(self, loop: Loop, handle: LoopHandle) -> None:
        super().__init__()
        self._loop = loop
        self._handle = handle

    def run(self) -> None:
        try:
            self._loop.run(self._handle.stopping)
        except BaseException:  # a loop must not take its pool thread down with it
            log.exception("Background loop %s ended on an unexpected error", self._handle.label)
        finally:
            self._handle.ended()


@dataclass
class _Entry:
    task: Task[Any]
    runnable: _Runnable
    on_done: DoneCallback | None
    on_error: ErrorCallback | None
    owner: QObject | None


class _Relay(QObject):
    """Lives on the GUI thread; a worker emits, the GUI thread receives (queued)."""

    finished = Signal(int, object, object)


class _Runnable(QRunnable):
    def __init__(self, task_id: int, fn: Callable[[], Any], relay: _Relay) -> None:
        super().__init__()
        self.setAutoDelete(False)
        self._task_id = task_id
        self._fn: Callable[[], Any] | None = fn
        self._relay = relay

    def run(self) -> None:
        fn = self._fn
        self._fn = None
        result: Any = None
        error: BaseException | None = None
        try:
            assert fn is not None
            result = fn()
        except BaseException as exc:  # delivered to on_error on the GUI thread
            error = exc
        self._relay.finished.emit(self._task_id, result, error)


class TaskManager(QObject):
    """Runs callables on worker threads and reports back on the GUI thread."""

    #: Emitted (on the GUI thread) whenever the last running task has reported back.
    idle = Signal()
    #: Emitted for an error no ``on_error`` handled: (task label, exception).
    unhandled_error = Signal(str, object)

    def __init__(self, parent: QObject | None = None, *, max_threads: int = 4) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._relay = _Relay(self)
        self._relay.finished.connect(self._deliver)
        self._entries: dict[int, _Entry] = {}
        self._ids = itertools.count(1)
        self._closed = False
        self._loop_pool = QThreadPool(self)
        self._loops: list[LoopHandle] = []

    # ----- running ------------------------------------------------------------------------

    def run(
        self,
        fn: Callable[[], T],
        on_done: Callable[[T], None] | None = None,
        on_error: ErrorCallback | None = None,
        *,
        owner: QObject | None = None,
        label: str = "",
    ) -> Task[T]:
        """Run ``fn()`` on a worker thread; call back on the GUI thread.

        When ``owner`` (a widget) has been deleted by the time the result arrives, the callbacks
        are skipped. An exception without ``on_error`` goes to ``unhandled_error``.
        """
        if self._closed:
            raise RuntimeError("The task manager has been shut down.")
        task_id = next(self._ids)
        task: Task[T] = Task(task_id, label or getattr(fn, "__name__", "task"))
        runnable = _Runnable(task_id, fn, self._relay)
        self._entries[task_id] = _Entry(task, runnable, on_done, on_error, owner)
        self._pool.start(runnable)
        return task

    def start_loop(self, loop: Loop, *, label: str) -> LoopHandle:
        """Run ``loop`` on a thread of its own (from the loops' pool) until it is stopped."""
        if self._closed:
            raise RuntimeError("The task manager has been shut down.")
        self._loops = [handle for handle in self._loops if handle.running]
        handle = LoopHandle(loop, label)
        self._loops.append(handle)
        # One thread per running loop: a loop never waits in the pool's queue for another.
        self._loop_pool.setMaxThreadCount(max(1, len(self._loops)))
        runnable = _LoopRunnable(loop, handle)
        runnable.setAutoDelete(True)
        self._loop_pool.start(runnable)
        return handle

    # ----- state --------------------------------------------------------------------------

    def is_idle(self) -> bool:
        return not self._entries

    @property
    def closed(self) -> bool:
        """``shutdown`` has run: ``run`` refuses new work (the app is closing)."""
        return self._closed

    def active_threads(self) -> int:
        return int(self._pool.activeThreadCount() + self._loop_pool.activeThreadCount())

    # ----- stopping -----------------------------------------------------------------------

    def cancel_all(self) -> None:
        for entry in self._entries.values():
            entry.task.cancel()

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until every worker has finished (results are delivered by the event loop)."""
        return bool(self._pool.waitForDone(timeout_ms))

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Refuse new work, drop pending callbacks, stop the loops and wait for every worker
        thread to end."""
        self._closed = True
        self.cancel_all()
        for handle in self._loops:
            handle.stop()
        done = self.wait(timeout_ms)
        if not done:
            log.warning("Background tasks still running at shutdown: %s", self._entries)
        if not self._loop_pool.waitForDone(timeout_ms):
            log.warning("Background loops still running at shutdown: %s", self._loops)
            done = False
        return done

    # ----- delivery (GUI thread) ----------------------------------------------------------

    def _deliver(self, task_id: int, result: object, error: object) -> None:
        entry = self._entries.pop(task_id, None)
        if entry is None:
            return
        entry.task.finished = True
        try:
            if entry.task.cancelled or self._closed:
                return
            if entry.owner is not None and not shiboken6.isValid(entry.owner):
                return
            if error is not None:
                assert isinstance(error, BaseException)
                if entry.on_error is not None:
                    entry.on_error(error)
                else:
                    log.error("Background task %s failed", entry.task.label, exc_info=error)
                    self.unhandled_error.emit(entry.task.label, error)
            elif entry.on_done is not None:
                entry.on_done(result)
        finally:
            if not self._entries:
                self.idle.emit()
