"""Reads on the task pool that are not a user's action: a ``Query`` per view.

After Anki's ``QueryOp``: the launcher's start-up steps, the blocks of a long list, the delivery
health. The same pool and the same delivery on the GUI thread as an ``Operation``
(``pmdesk.ui.ops``), but several reads may be in flight at once (a list's first block, its
count, the blocks the view scrolls to); ``restart`` drops every answer still to come (a new
search, a new sort), and every error goes to the read's or the query's ``failed``, else to the
log: none is dropped.

It imports nothing of the core: the login dialog, painted before the database layer loads,
uses it too. See docs/architecture.md ("The operation runner").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from PySide6.QtCore import QObject

from pmdesk.ui.tasks import Task, TaskManager

log = logging.getLogger(__name__)

T = TypeVar("T")


class Query:
    """Reads on the task pool for one view: a list model, the launcher. ``run`` adds a read;
    its ``done(result)`` comes on the GUI thread unless ``restart`` (or the owner's deletion)
    came first; an error goes to that read's ``failed``, else the query's."""

    def __init__(
        self,
        owner: QObject,
        tasks: TaskManager,
        *,
        label: str,
        failed: Callable[[BaseException], None] | None = None,
    ) -> None:
        """``failed``: where errors go (None: logged as errors, with the traceback)."""
        self._owner = owner
        self._tasks = tasks
        self.label = label
        self._failed = failed
        self._live: set[Task[Any]] = set()

    @property
    def running(self) -> bool:
        """A read of the current round is on its way."""
        return bool(self._live)

    def run(
        self,
        fn: Callable[[], T],
        done: Callable[[T], None] | None = None,
        *,
        failed: Callable[[BaseException], None] | None = None,
        label: str | None = None,
    ) -> None:
        """Call ``fn()`` on a worker thread, then ``done(result)`` on the GUI thread."""
        if self._tasks.closed:
            log.debug("%s not started: the task manager is shut down", label or self.label)
            return

        def succeeded(result: T) -> None:
            if self._live_task(task) and done is not None:
                done(result)

        def went_wrong(exc: BaseException) -> None:
            if not self._live_task(task):
                return
            handler = failed or self._failed
            if handler is None:
                log.error("%s failed", label or self.label, exc_info=exc)
            else:
                handler(exc)

        task = self._tasks.run(
            fn, succeeded, went_wrong, owner=self._owner, label=label or self.label
        )
        self._live.add(task)

    def restart(self) -> None:
        """Drop every answer still to come: the next reads start a new round."""
        for task in self._live:
            task.cancel()
        self._live.clear()

    def _live_task(self, task: Task[Any]) -> bool:
        if task not in self._live:
            return False
        self._live.discard(task)
        return True
