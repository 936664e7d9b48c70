"""What a page receives from the main window: who is signed in, the app, the task pool, and the
part of the window a page may use.

A module of its own so that imports run one way: the main window imports the pages, and the
pages import this module, never ``pmdesk.ui.main_window``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from PySide6.QtWidgets import QWidget

from pmdesk.core.context import Actor
from pmdesk.core.modules import Action, Module
from pmdesk.ui.tasks import TaskManager

if TYPE_CHECKING:
    from pmdesk.bootstrap import App
    from pmdesk.core.passwords import Passwords
    from pmdesk.ui.background import BackgroundServices


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


class PageHost(Protocol):
    """What pages and page installers use of the main window (``MainWindow`` is one)."""

    #: The signed-in session's background services, once started (None before, and in tests).
    background: BackgroundServices | None

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


PageFactory = Callable[[PageContext], QWidget]
