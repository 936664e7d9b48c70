"""What a page receives from the main window: who is signed in, the app, the task pool, the
change hub, and the part of the window a page may use.

A module of its own so that imports run one way: the main window imports the pages, and the
pages import this module, never ``pmdesk.ui.main_window``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from PySide6.QtCore import QObject, Signal, SignalInstance
from PySide6.QtWidgets import QWidget

from pmdesk.core.context import Actor
from pmdesk.core.modules import Action, Module
from pmdesk.ui.tasks import TaskManager

if TYPE_CHECKING:
    from pmdesk.bootstrap import App
    from pmdesk.core.passwords import Passwords


@dataclass(frozen=True)
class Session:
    """Who is signed in, and what their group may do (read once at sign-in)."""

    person_id: int
    login: str
    display_name: str
    actor: Actor
    rights: Mapping[str, frozenset[Action]] = field(default_factory=dict)
    address: str | None = None
    # The desktop session this sign-in started (None in tests that build a Session by hand).
    token: str | None = None

    def can(self, module: Module | str, action: Action = Action.READ) -> bool:
        key = module if isinstance(module, str) else module.key
        return action in self.rights.get(key, frozenset())


class ChangeHub(QObject):
    """Which tables changed, from wherever: an operation on this workstation (``Operation``'s
    ``announces``) or another workstation and the expiry sweep (``BackgroundServices.changed``,
    fed in by the main window). Table names as in ``pmdesk.core.changes.TOPICS``.

    A page subscribes once, with the tables it shows: ``subscribe(page, tables, slot)``;
    ``slot`` receives the changed tables among them (a frozenset), on the GUI thread. A page
    does not hear what it announced itself (it has shown its own change already). See
    docs/architecture.md ("The change hub").
    """

    changed = Signal(object, object)  # frozenset[str], the announcing QObject or None

    def announce(self, tables: Iterable[str], source: QObject | None = None) -> None:
        found = frozenset(tables)
        if found:
            self.changed.emit(found, source)

    def subscribe(
        self, receiver: QObject, tables: Iterable[str], slot: Callable[[frozenset[str]], None]
    ) -> None:
        """Call ``slot(changed & tables)`` when any of ``tables`` changed, while ``receiver``
        lives (the connection goes with it)."""
        _Subscription(receiver, frozenset(tables), slot, self.changed)


class _Subscription(QObject):
    """Connects the hub to a page's slot; a child of the page, so it goes when the page goes."""

    def __init__(
        self,
        receiver: QObject,
        tables: frozenset[str],
        slot: Callable[[frozenset[str]], None],
        signal: SignalInstance,
    ) -> None:
        super().__init__(receiver)
        self._receiver = receiver
        self._tables = tables
        self._slot = slot
        signal.connect(self._on_changed)

    def _on_changed(self, found: object, source: object) -> None:
        hit = found & self._tables if isinstance(found, frozenset) else frozenset()
        if hit and not self._announced_by_receiver(source):
            self._slot(hit)

    def _announced_by_receiver(self, source: object) -> bool:
        while isinstance(source, QObject):
            if source is self._receiver:
                return True
            source = source.parent()
        return False


@runtime_checkable
class KeepsUnsavedChanges(Protocol):
    """A page that can hold typed changes not saved yet: sign-out and closing the window ask
    before discarding them."""

    def has_unsaved_changes(self) -> bool: ...


class PageHost(Protocol):
    """What pages and page installers use of the main window (``MainWindow`` is one)."""

    def tr(self, sourceText: str, /, disambiguation: str | None = ..., n: int = ...) -> str: ...

    def add_system_page(
        self, key: str, title: str, widget_factory: PageFactory, module: Module | str
    ) -> bool: ...


@dataclass(frozen=True)
class PageContext:
    """What a page's factory receives."""

    app: App
    session: Session
    tasks: TaskManager
    window: PageHost
    #: The shared argon2 hasher, for services that take one (None: they make their own, which
    #: costs tenths of a second: do that on a worker thread).
    passwords: Passwords | None = None
    #: What changed, here or elsewhere (the window's own hub; pages subscribe once).
    changes: ChangeHub = field(default_factory=ChangeHub)


PageFactory = Callable[[PageContext], QWidget]
