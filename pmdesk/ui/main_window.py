"""The main window: top-level tabs *Maintenance* and *System*, as the user's group allows.

Screens are registered as pages with ``add_page`` / ``add_system_page``: a page is shown only when
the signed-in user's group may read its module, and an area tab (Maintenance, System) only when
it has at least one page to show. A page widget is built the first time it is shown.

To add a System screen, register it in ``install_pages`` below::

    window.add_system_page(
        "security", str(QT_TRANSLATE_NOOP("MainWindow", "Security")), SecurityPage, SYSTEM_SECURITY
    )

where ``SecurityPage(page_context) -> QWidget`` and the title is the English one, marked for
translation in the context "MainWindow": the window shows it in the app's language, and again
in the new one after a language change. A page may define ``has_unsaved_changes() ->
bool``; sign-out and closing the window then ask before discarding.

Small screens: every page sits in a scroll area, so a page larger than the window scrolls instead
of being cut off or widening the window; the window never opens (nor restores) larger than the
screen's available area, and is kept inside it (``pmdesk.ui.window_geometry``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from pmdesk.config import ConfigError, save_settings
from pmdesk.core.db import describe_for_people
from pmdesk.core.modules import MAINTENANCE, Action, Module
from pmdesk.ui.icons import app_icon
from pmdesk.ui.languages import remember_on_workstation, save_for_person
from pmdesk.ui.lazy_page import LazyPage
from pmdesk.ui.main_header import Header
from pmdesk.ui.main_status import DatabaseStatus, UserStatus
from pmdesk.ui.message_boxes import ask_discard
from pmdesk.ui.page_context import ChangeHub, PageContext, PageFactory, Session
from pmdesk.ui.page_context import KeepsUnsavedChanges as KeepsUnsaved
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import Retranslating, error_text, install_translation
from pmdesk.ui.window_geometry import geometry_text, restore_geometry

if TYPE_CHECKING:
    from pmdesk.bootstrap import App
    from pmdesk.core.login_results import SignedIn
    from pmdesk.core.passwords import Passwords
    from pmdesk.ui.background import BackgroundServices

log = logging.getLogger(__name__)
translate = QCoreApplication.translate

#: The area tabs' titles (context "MainWindow", as the pages' titles).
AREA_TITLES = {
    "maintenance": str(QT_TRANSLATE_NOOP("MainWindow", "Maintenance")),
    "system": str(QT_TRANSLATE_NOOP("MainWindow", "System")),
}


def load_session(app: App, signed_in: SignedIn) -> Session:
    """Rights of a freshly signed-in person (worker thread)."""
    from pmdesk.core.screens import rights_at_sign_in  # loads the services: not at start-up

    return Session(
        person_id=signed_in.person_id,
        login=signed_in.login,
        display_name=signed_in.display_name,
        actor=signed_in.actor,
        rights=rights_at_sign_in(app.context, signed_in.person_id),
        address=signed_in.address,
        token=signed_in.session_token,
    )


@dataclass
class _Area:
    key: str
    tabs: QTabWidget
    groups: dict[str, QTabWidget] = field(default_factory=dict)


class MainWindow(Retranslating, QMainWindow):
    """Emits ``signed_out`` (Sign out) or ``closed`` (the window was closed)."""

    signed_out = Signal()
    closed = Signal()

    AREAS = ("maintenance", "system")

    def __init__(
        self,
        app: App,
        session: Session,
        tasks: TaskManager,
        parent: QWidget | None = None,
        *,
        install: bool = True,
        passwords: Passwords | None = None,
    ) -> None:
        super().__init__(parent)
        self.app = app
        self.session = session
        self.tasks = tasks
        self._closing_confirmed = False
        self._signing_out = False
        self._background: BackgroundServices | None = None
        self.changes = ChangeHub(self)
        self.pages: dict[str, LazyPage] = {}
        #: Each tab with its English title (shown translated; again on a language change).
        self._tab_titles: list[tuple[QTabWidget, QWidget, str]] = []
        self.setObjectName("mainWindow")
        self.setWindowIcon(app_icon())
        self.setWindowTitle(session.display_name)
        self.context = PageContext(app, session, tasks, self, passwords, self.changes)

        central = QWidget(self)
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._build_header())
        layout.addWidget(self._build_body(), 1)
        self.setCentralWidget(central)
        self._build_status_bar()

        if install:
            install_pages(self)
        self._update_empty_state()
        self._restore_geometry()
        self.retranslate()

    def retranslate(self) -> None:
        """The tabs' titles and the empty state in the app's language (the header and the
        status bar follow on their own)."""
        for tabs, widget, title in self._tab_titles:
            tabs.setTabText(tabs.indexOf(widget), translate("MainWindow", title))
        self.empty_label.setText(
            self.tr(
                "Your user group may not see any screen. Ask an administrator to grant it "
                "rights in System → Permissions."
            )
        )

    def _add_tab(self, tabs: QTabWidget, widget: QWidget, title: str) -> None:
        tabs.addTab(widget, translate("MainWindow", title))
        self._tab_titles.append((tabs, widget, title))

    # ----- building -----------------------------------------------------------------------

    @property
    def background(self) -> BackgroundServices | None:
        """The signed-in session's background services, once started (None before, and in
        tests): what they hear changed on other workstations goes to the change hub."""
        return self._background

    @background.setter
    def background(self, services: BackgroundServices | None) -> None:
        if self._background is not None:
            with suppress(RuntimeError, TypeError):
                self._background.changed.disconnect(self.changes.announce)
        self._background = services
        if services is not None:
            services.changed.connect(self.changes.announce)

    def start_background(self, services: BackgroundServices) -> None:
        """Run the signed-in session's background services for this window: what they hear
        changed goes to the change hub, what they say to the status bar; they stop when the
        window signs out or closes."""
        services.status.connect(self.show_status)
        self.background = services
        services.start()

    def _build_body(self) -> QStackedWidget:
        """The area tabs (Maintenance, System; hidden until a page is added), or the notice
        that the user's group may see nothing."""
        self.top_tabs = QTabWidget(self)
        self.top_tabs.setObjectName("topTabs")
        self.top_tabs.setDocumentMode(True)
        self._areas: dict[str, _Area] = {}
        for key in self.AREAS:
            tabs = QTabWidget(self)
            tabs.setObjectName(f"{key}Tabs")
            tabs.setDocumentMode(True)
            self._add_tab(self.top_tabs, tabs, AREA_TITLES[key])
            self.top_tabs.setTabVisible(self.top_tabs.indexOf(tabs), False)
            self._areas[key] = _Area(key, tabs)

        self.empty_label = QLabel(self)
        self.empty_label.setObjectName("emptyLabel")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setProperty("role", "muted")
        self._body = QStackedWidget(self)
        self._body.addWidget(self.top_tabs)
        self._body.addWidget(self.empty_label)
        return self._body

    def _build_header(self) -> QWidget:
        header = Header(self.session.display_name, self)
        self.language_combo = header.language_combo
        self.language_combo.currentIndexChanged.connect(self._language_chosen)
        self.user_label = header.user_label
        self.sign_out_button = header.sign_out_button
        self.sign_out_button.clicked.connect(self.request_sign_out)
        return header

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setSizeGripEnabled(True)
        self.user_status = UserStatus(self.session, self)
        self.database_status = DatabaseStatus(
            describe_for_people(self.app.db.url),
            self.app.db.describe(),
            self.app.resolved.source,
            self,
        )
        bar.addWidget(self.user_status)
        bar.addPermanentWidget(self.database_status)

    # ----- pages --------------------------------------------------------------------------

    def add_page(
        self,
        area: str,
        key: str,
        title: str,
        widget_factory: PageFactory,
        module: Module | str,
        *,
        group: tuple[str, str] | None = None,
    ) -> bool:
        """Register a screen under ``area`` ("maintenance" or "system").

        ``title`` is English, marked with ``QT_TRANSLATE_NOOP("MainWindow", …)``: the tab shows
        it translated. ``group`` (key, title) puts it in a sub-tab such as Organisation.
        Returns False (and shows nothing) when the user's group may not read ``module``.
        """
        if area not in self._areas:
            raise ValueError(f"Unknown area {area!r}; use one of {self.AREAS}")
        if key in self.pages:
            raise ValueError(f"A page {key!r} is already registered")
        if not self.session.can(module, Action.READ):
            return False
        target = self._areas[area].tabs
        if group is not None:
            group_key, group_title = group
            inner = self._areas[area].groups.get(group_key)
            if inner is None:
                inner = QTabWidget(self)
                inner.setObjectName(f"{group_key}Tabs")
                inner.setDocumentMode(True)
                self._add_tab(target, inner, group_title)
                self._areas[area].groups[group_key] = inner
            target = inner
        page = LazyPage(key, widget_factory, self.context)
        self._add_tab(target, page, title)
        self.pages[key] = page
        tabs = self._areas[area].tabs
        self.top_tabs.setTabVisible(self.top_tabs.indexOf(tabs), True)
        self._update_empty_state()
        return True

    def add_system_page(
        self, key: str, title: str, widget_factory: PageFactory, module: Module | str
    ) -> bool:
        """System → Permissions / Security / Log, each shown as the user's group allows."""
        return self.add_page("system", key, title, widget_factory, module)

    def area_visible(self, area: str) -> bool:
        return bool(self.top_tabs.isTabVisible(self.top_tabs.indexOf(self._areas[area].tabs)))

    def visible_area_titles(self) -> list[str]:
        return [
            self.top_tabs.tabText(i)
            for i in range(self.top_tabs.count())
            if self.top_tabs.isTabVisible(i)
        ]

    def page(self, key: str) -> QWidget:
        """The page widget (built now if it has not been shown yet)."""
        return self.pages[key].build()

    def show_page(self, key: str) -> QWidget:
        """Select the tabs leading to ``key`` (as a user clicks them) and return its widget."""
        lazy = self.pages[key]
        child: QWidget = lazy
        parent = lazy.parentWidget()
        while parent is not None and parent is not self:
            if isinstance(parent, QTabWidget) and parent.indexOf(child) >= 0:
                parent.setCurrentWidget(child)
                child = parent
            parent = parent.parentWidget()
        return lazy.build()

    def _update_empty_state(self) -> None:
        any_visible = any(self.top_tabs.isTabVisible(i) for i in range(self.top_tabs.count()))
        self._body.setCurrentWidget(self.top_tabs if any_visible else self.empty_label)
        if any_visible and not self.top_tabs.isTabVisible(self.top_tabs.currentIndex()):
            for i in range(self.top_tabs.count()):
                if self.top_tabs.isTabVisible(i):
                    self.top_tabs.setCurrentIndex(i)
                    break

    # ----- status ---------------------------------------------------------------------------

    #: How long a status message stays on screen.
    STATUS_TIMEOUT_MS = 6000

    def show_status(self, text: str, timeout_ms: int = -1) -> None:
        """A message in the status bar for ``timeout_ms``: negative for ``STATUS_TIMEOUT_MS``,
        0 until the next message (as the background services ask for "connection lost")."""
        self.statusBar().showMessage(text, self.STATUS_TIMEOUT_MS if timeout_ms < 0 else timeout_ms)

    # ----- language -------------------------------------------------------------------------

    def _language_chosen(self, index: int) -> None:
        """The chosen language applies at once to every open window, and is saved for the
        signed-in person (their Personnel "Language") and for this workstation."""
        code = str(self.language_combo.itemData(index))
        name = self.language_combo.itemText(index)
        remember_on_workstation(self.app, code)
        install_translation(code)
        self.show_status(
            self.tr("pmdesk now uses {language}, for you and on this workstation.").format(
                language=name
            )
        )
        save_for_person(
            self,
            self.tasks,
            self.app,
            self.session.actor,
            code,
            lambda why: self.show_status(
                self.tr(
                    "{language} is used on this workstation, but not saved for you: {why}"
                ).format(language=name, why=why)
            ),
        )

    # ----- signing out and closing --------------------------------------------------------

    def unsaved_pages(self) -> list[str]:
        found: list[str] = []
        for key, lazy in self.pages.items():
            content = lazy.content
            if isinstance(content, KeepsUnsaved) and content.has_unsaved_changes():
                found.append(key)
        return found

    def _confirm_discard(self, question: str, proceed: Callable[[], None]) -> None:
        if not self.unsaved_pages():
            proceed()
            return
        ask_discard(self, question, proceed, keep_text=self.tr("Cancel"))

    def request_sign_out(self) -> None:
        self._confirm_discard(
            self.tr("You have changes that are not saved. Discard them and sign out?"),
            self._sign_out,
        )

    def sign_out_now(self) -> None:
        """Sign out without asking (the session was ended elsewhere: nothing can be saved)."""
        self._sign_out()

    def _stop_background(self) -> None:
        if self.background is not None:
            self.background.stop()
            self.background = None

    def _sign_out(self) -> None:
        self._signing_out = True
        self._save_geometry()
        self.hide()
        self._stop_background()
        self.signed_out.emit()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._signing_out:
            super().closeEvent(event)
            return
        if not self._closing_confirmed and self.unsaved_pages():
            event.ignore()

            def close_now() -> None:
                self._closing_confirmed = True
                self.close()

            self._confirm_discard(
                self.tr("You have changes that are not saved. Discard them and close pmdesk?"),
                close_now,
            )
            return
        self._save_geometry()
        self._stop_background()
        super().closeEvent(event)
        self.closed.emit()

    # ----- geometry -----------------------------------------------------------------------

    def _restore_geometry(self) -> None:
        restore_geometry(self, self.app.settings.window_geometry)

    def _save_geometry(self) -> None:
        value = geometry_text(self)
        if value != self.app.settings.window_geometry:
            self.app.settings.window_geometry = value
            self._save_settings()

    def _save_settings(self) -> None:
        try:
            save_settings(self.app.paths.config_file, self.app.settings)
        except ConfigError as exc:
            log.warning("Settings not saved: %s", exc)
            self.show_status(error_text(exc))


def install_pages(window: MainWindow) -> None:
    """Every screen of the app, each shown only as the user's group allows."""
    # Imported here, not at the top: the screens load when the main window is built.
    from pmdesk.ui.personnel import PersonnelPage
    from pmdesk.ui.system import install_system_pages

    window.add_page(
        "maintenance",
        "personnel",
        str(QT_TRANSLATE_NOOP("MainWindow", "Personnel")),
        PersonnelPage,
        MAINTENANCE,
        group=("organisation", str(QT_TRANSLATE_NOOP("MainWindow", "Organisation"))),
    )
    # System → Permissions, Security, Log: registered by pmdesk.ui.system with add_system_page.
    install_system_pages(window)
