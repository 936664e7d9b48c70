"""One way for a screen to call the core: an ``Operation`` per user action.

After Anki's ``aqt.operations`` (one object per action owns progress, default error handling and
the "something changed" signal), with the dependencies passed in instead of a global window.
An operation runs its call on the page's ``TaskManager`` and owns:

- the busy indicator: ``busy(True, busy_text)`` when a call starts, ``busy(False, "")`` when
  its result is in;
- stale results: a new ``run`` (or ``cancel``) drops the result of the call still running, so
  a slow answer never overwrites a newer one;
- errors, routed one way everywhere: the handler the page gave for that exception type first;
  a ``ValidationError`` to the fields (``fields``), a ``ConflictError`` to the one conflict
  dialog (``conflict``: reload, or keep what was typed); everything else to ``message`` through
  ``error_text``. No error is dropped: an operation without ``message`` logs it;
- what changed: after a success, ``announces`` goes to the page context's change hub, so every
  page that shows those tables follows (as for a change made on another workstation).

A read that is not a user's action (a list's blocks, the launcher's start-up steps) is a
``pmdesk.ui.query.Query`` (after Anki's ``QueryOp``).

See docs/architecture.md ("The operation runner").
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from PySide6.QtCore import QCoreApplication, QObject
from PySide6.QtWidgets import QWidget

from pmdesk.core.errors import ConflictError, ValidationError
from pmdesk.ui.errors import error_text
from pmdesk.ui.message_boxes import ask
from pmdesk.ui.tasks import Task, TaskManager
from pmdesk.ui.translation import error_text as core_sentence
from pmdesk.ui.translation import localize
from pmdesk.ui.widgets import BusyIndicator, MessageLabel

if TYPE_CHECKING:
    from pmdesk.ui.page_context import ChangeHub

log = logging.getLogger(__name__)
translate = QCoreApplication.translate

T = TypeVar("T")

Busy = Callable[[bool, str], None]
FieldErrors = Callable[[dict[str, str]], Sequence[str]]


@dataclass(frozen=True)
class Conflict:
    """What the conflict dialog offers: ``reload`` (what is saved now; the typed changes are
    discarded) or keeping the typed changes here, unsaved. ``informative`` says which."""

    reload: Callable[[], None]
    informative: str
    #: Where the conflict's sentence stays after the dialog (None: the operation's message).
    message: MessageLabel | None = None


def ask_reload_after_conflict(
    parent: QWidget, exc: ConflictError, conflict: Conflict, message: MessageLabel | None
) -> None:
    """The one "Changed on another workstation" dialog: Reload, or Keep my changes."""
    shown = conflict.message or message
    if shown is not None:
        shown.show_error(core_sentence(exc))
    ask(
        parent,
        translate("Operation", "Changed on another workstation"),
        core_sentence(exc),
        translate("Operation", "Reload"),
        conflict.reload,
        informative=conflict.informative,
        cancel_text=translate("Operation", "Keep my changes"),
    )


def indicator(spinner: BusyIndicator, then: Callable[[], None] | None = None) -> Busy:
    """A ``busy`` for operations that turns ``spinner`` on and off, then calls ``then`` (which
    typically enables the buttons again: ask the operations whether they are ``running``)."""

    def busy(on: bool, text: str) -> None:
        if on:
            spinner.start(text)
        else:
            spinner.stop()
        if then is not None:
            then()

    return busy


class Operation(Generic[T]):
    """One user action's calls to the core (see the module's docstring)."""

    def __init__(
        self,
        owner: QObject,
        tasks: TaskManager,
        *,
        label: str,
        message: MessageLabel | None = None,
        failure: str = "",
        busy: Busy | None = None,
        busy_text: str = "",
        fields: FieldErrors | None = None,
        invalid_text: str = "",
        conflict: Conflict | None = None,
        handle: Mapping[type[BaseException], Callable[[Any], None]] | None = None,
        after_failure: Callable[[], None] | None = None,
        changes: ChangeHub | None = None,
        announces: Iterable[str] = (),
    ) -> None:
        """``owner``: the page (or dialog, or model) the results go to; they are dropped once
        it is deleted. ``fields(errors)`` marks the fields and returns what no field shows; with
        ``invalid_text`` that goes to ``message`` after it. ``handle`` maps exception types to
        handlers tried before the default routes. ``after_failure`` runs after any failure."""
        self._owner = owner
        self._tasks = tasks
        self.label = label
        self._message = message
        self._failure = failure
        self._busy = busy
        self._busy_text = busy_text
        self._fields = fields
        self._invalid_text = invalid_text
        self._conflict = conflict
        self._handle = dict(handle or {})
        self._after_failure = after_failure
        self._changes = changes
        self._announces = frozenset(announces)
        self._task: Task[T] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def set_texts(
        self,
        *,
        failure: str | None = None,
        busy_text: str | None = None,
        invalid_text: str | None = None,
    ) -> None:
        """The texts this operation shows, in the app's language now (a ``retranslate()``
        calls it; None keeps a text as it is)."""
        if failure is not None:
            self._failure = failure
        if busy_text is not None:
            self._busy_text = busy_text
        if invalid_text is not None:
            self._invalid_text = invalid_text

    def run(
        self,
        fn: Callable[[], T],
        done: Callable[[T], None] | None = None,
        *,
        busy_text: str | None = None,
    ) -> None:
        """Call ``fn()`` on a worker thread, then ``done(result)`` on the GUI thread. A call of
        this operation still running is superseded: its result is dropped. ``busy_text``
        replaces the operation's own for this call."""
        if self._tasks.closed:
            # The app is closing (a change heard as it went): nothing is left to show it.
            self.cancel()
            log.debug("%s not started: the task manager is shut down", self.label)
            return
        self._drop()

        def succeeded(result: T) -> None:
            if self._finish(task):
                if done is not None:
                    done(result)
                if self._changes is not None and self._announces:
                    self._changes.announce(self._announces, self._owner)

        def failed(exc: BaseException) -> None:
            if self._finish(task):
                self.route(exc)

        task = self._tasks.run(fn, succeeded, failed, owner=self._owner, label=self.label)
        self._task = task  # before busy: the busy callback sees this operation running
        if self._busy is not None:
            self._busy(True, self._busy_text if busy_text is None else busy_text)

    def cancel(self) -> None:
        """Drop the result of the call still running (if any) and stop being busy."""
        if self._drop() and self._busy is not None:
            self._busy(False, "")

    def route(self, exc: BaseException) -> None:
        """Send a failure where it belongs (see the module's docstring)."""
        for kind, handler in self._handle.items():
            if isinstance(exc, kind):
                handler(exc)
                break
        else:
            self._default_route(exc)
        if self._after_failure is not None:
            self._after_failure()

    # ----- internals ---------------------------------------------------------------------

    def _default_route(self, exc: BaseException) -> None:
        if isinstance(exc, ValidationError) and self._fields is not None:
            rest = list(self._fields(exc.errors))
            if self._message is not None and (self._invalid_text or rest):
                shown = (self._invalid_text, *(localize(t) for t in rest))
                self._message.show_error(" ".join(t for t in shown if t))
        elif (
            isinstance(exc, ConflictError)
            and self._conflict is not None
            and isinstance(self._owner, QWidget)
        ):
            ask_reload_after_conflict(self._owner, exc, self._conflict, self._message)
        elif self._message is not None:
            self._message.show_error(
                error_text(exc, self._failure or translate("Operation", "That did not work"))
            )
        else:
            log.error("%s failed", self.label, exc_info=exc)

    def _drop(self) -> bool:
        task, self._task = self._task, None
        if task is None:
            return False
        task.cancel()
        return True

    def _finish(self, task: Task[T]) -> bool:
        """Whether ``task``'s result is the one wanted (then no longer busy)."""
        if task is not self._task:
            return False
        self._task = None
        if self._busy is not None:
            self._busy(False, "")
        return True


class Operations:
    """The operations of one page, made with the page's defaults (where errors go, the busy
    indicator, the change hub); ``busy`` says whether any operation that shows the indicator
    is running."""

    def __init__(
        self,
        owner: QObject,
        tasks: TaskManager,
        *,
        message: MessageLabel | None = None,
        busy: Busy | None = None,
        changes: ChangeHub | None = None,
        after_failure: Callable[[], None] | None = None,
    ) -> None:
        self._owner = owner
        self._tasks = tasks
        self._defaults: dict[str, Any] = {
            "message": message,
            "changes": changes,
            "after_failure": after_failure,
        }
        self._busy = busy
        self._showing_busy: list[Operation[Any]] = []

    def make(self, label: str, *, busy_text: str | None = None, **routes: Any) -> Operation[Any]:
        """An operation; with ``busy_text`` it shows the page's busy indicator while it runs.
        ``routes`` are ``Operation``'s keywords, replacing the page's defaults."""
        options = {**self._defaults, **routes}
        if busy_text is not None:
            options["busy_text"] = busy_text
            options.setdefault("busy", self._busy)
        op: Operation[Any] = Operation(self._owner, self._tasks, label=label, **options)
        if self._busy is not None and options.get("busy") is self._busy:
            self._showing_busy.append(op)
        return op

    @property
    def busy(self) -> bool:
        return any(op.running for op in self._showing_busy)
