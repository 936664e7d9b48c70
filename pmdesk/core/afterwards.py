"""Work a step leaves behind that the person does not wait for: the trust alert after a code
step (``LoginService.verify``). The step has committed and its result goes back at once; the
alert is sent, and its outcome logged, after that.

``Afterwards`` is how a front end runs that work: ``right_away`` (the default: in the step's
own call, as a script or test expects), ``OneWorker`` (the desktop: one background thread, in
order, waited for at exit), or ``Collected`` (the command line: run after the result is
printed).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

log = logging.getLogger(__name__)

Work = Callable[[], None]
Afterwards = Callable[[Work], None]


def right_away(work: Work) -> None:
    """Run it now, in the caller's call."""
    work()


def _logged(work: Work) -> None:
    try:
        work()
    except Exception:  # the work says what failed itself; this is the last line of defence
        log.exception("work after a step failed")


class OneWorker:
    """One background thread, in order. ``finish`` waits for what is queued (at exit: an
    alert still on its way is sent before the database is closed)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pmdesk-afterwards")
        self._queued: set[Future[None]] = set()
        self._lock = threading.Lock()

    def __call__(self, work: Work) -> None:
        future = self._pool.submit(_logged, work)
        with self._lock:
            self._queued.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._queued.discard(future)

    def finish(self, timeout_s: float = 60.0) -> bool:
        """Wait up to ``timeout_s`` for the queued work; True when it all ran. No work is
        taken after this."""
        with self._lock:
            queued = set(self._queued)
        _done, left = wait(queued, timeout=timeout_s)
        self._pool.shutdown(wait=False)
        if left:
            log.warning("%d piece(s) of work after a step still running at exit", len(left))
        return not left


class Collected:
    """Kept until ``run``: the command line prints the result first."""

    def __init__(self) -> None:
        self._work: list[Work] = []

    def __call__(self, work: Work) -> None:
        self._work.append(work)

    def run(self) -> None:
        work, self._work = self._work, []
        for piece in work:
            _logged(piece)
