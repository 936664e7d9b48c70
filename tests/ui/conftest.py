"""Fixtures for the desktop app's tests: offscreen Qt, a task manager that must end clean,
an ``App`` on a throwaway database, signed-in sessions and a main window.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QStyle, QStyleOptionButton
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App, Resolved
from pmdesk.config import Settings
from pmdesk.core.auth import SignedIn
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.paths import app_paths
from pmdesk.secrets import MemoryStore
from pmdesk.ui.application import configure_application
from pmdesk.ui.main_window import MainWindow, load_session
from pmdesk.ui.page_context import Session
from pmdesk.ui.tasks import TaskManager
from tests.helpers.login import cheap_passwords

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _big_offscreen_screen() -> None:
    """For screenshots: a 3840 x 2160 offscreen screen instead of the default 800 x 600.

    A top-level window is limited to its screen, so at ``QT_SCALE_FACTOR=2`` the default screen
    (400 x 300 logical pixels) would squash every dialog. Only when PMDESK_SCREENSHOTS is set.
    """
    if os.environ.get("QT_QPA_PLATFORM") != "offscreen" or not os.environ.get("PMDESK_SCREENSHOTS"):
        return
    screen = {
        "screens": [
            {"name": "screenshots", "x": 0, "y": 0, "width": 3840, "height": 2160, "dpr": 1}
        ]
    }
    folder = Path(tempfile.mkdtemp(prefix="pmdesk-screen-"))
    config = folder / "screen.json"
    config.write_text(json.dumps(screen), encoding="utf-8")
    os.environ["QT_QPA_PLATFORM"] = f"offscreen:configfile={config}"


_big_offscreen_screen()

# The offscreen platform says so whenever a window's size limits change (every dialog whose
# layout grows) or a window is raised: window-manager features it lacks, harmless here.
_OFFSCREEN_NOISE = r"This plugin does not support (propagateSizeHints|raise)\(\)"

ADMINISTRATOR_GROUP_ID = 1  # seeded by the first migration, with every right
ADMIN_LOGIN = "jsmets"
ADMIN_PASSWORD = "correct horse 42"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_ignore(_OFFSCREEN_NOISE))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "logs_errors: the test makes pmdesk log an ERROR on purpose (a failure it shows)"
    )


@pytest.fixture(autouse=True)
def _no_unexpected_error_logged(
    request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """A screen test fails when pmdesk logs an ERROR it did not ask for: an error nobody saw
    (a dropped failure, a traceback in a slot) must not pass unnoticed. A test that provokes
    one on purpose says so with ``@pytest.mark.logs_errors``."""
    yield
    if request.node.get_closest_marker("logs_errors") is not None:
        return
    logged = [
        f"{record.name}: {record.getMessage()}"
        for when in ("setup", "call")
        for record in caplog.get_records(when)
        if record.levelno >= logging.ERROR
    ]
    assert not logged, "unexpected ERROR logged:\n" + "\n".join(logged)


@pytest.fixture(autouse=True)
def _styled(request: pytest.FixtureRequest) -> None:
    """Every UI test sees the real style sheet (so sizes in screenshots are the real ones)."""
    if "qapp" in request.fixturenames or "qtbot" in request.fixturenames:
        configure_application(request.getfixturevalue("qapp"))


@pytest.fixture(autouse=True)
def _windows_outlive_the_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every MainWindow a test makes lives until teardown, then Qt deletes it.

    qtbot only holds widgets weakly: a window the test no longer references was freed by
    Python's cycle collector while pytest-qt still processed events for it (a segfault). The app
    itself closes its windows with WA_DeleteOnClose, so Qt, not the collector, deletes them.
    """
    created: list[MainWindow] = []
    original = MainWindow.__init__

    def keeping(self: MainWindow, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        created.append(self)

    monkeypatch.setattr(MainWindow, "__init__", keeping)
    yield
    for window in created:
        if shiboken6.isValid(window):  # the app may have closed and deleted it already
            window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            window.close()


@pytest.fixture
def tasks(qtbot: QtBot) -> Iterator[TaskManager]:
    """The background-task runner; at teardown every worker must have stopped."""
    manager = TaskManager()
    yield manager
    assert manager.shutdown(timeout_ms=30_000), "background tasks still running at teardown"
    assert manager.active_threads() == 0


def click_check(qtbot: QtBot, check: QCheckBox) -> None:
    """Click a check box on its box, where a user clicks (its centre may be empty space)."""
    option = QStyleOptionButton()
    check.initStyleOption(option)
    box = check.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, check)
    qtbot.mouseClick(check, Qt.MouseButton.LeftButton, pos=box.center())


def make_app(db: Database, clock: ShiftedClock, tmp_path: Path) -> App:
    paths = app_paths()
    paths.ensure()
    secrets = MemoryStore()
    context = CoreContext(db=db, secrets=secrets, outbox_default=tmp_path / "outbox", clock=clock)
    return App(
        paths=paths,
        settings=Settings(),
        secrets=secrets,
        resolved=Resolved(db.url, "test"),
        context=context,
    )


@pytest.fixture
def ui_app(ui_db: Database, clock: ShiftedClock, tmp_path: Path) -> App:
    """An App on a migrated, seeded database (no users yet): SQLite, or the hardened
    PostgreSQL on the hardened leg."""
    return make_app(ui_db, clock, tmp_path)


def add_login(
    app: App,
    login: str,
    password: str,
    *,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
    group_id: int = ADMINISTRATOR_GROUP_ID,
) -> int:
    """A person with a login, made as the Personnel screen makes them (cheap argon2)."""
    record = PersonnelService(app.context, passwords=cheap_passwords()).create(
        Actor.system("test set-up"),
        PersonForm(
            login=login,
            password=password,
            password_confirm=password,
            first_name=first_name,
            last_name=last_name or login.capitalize(),
            email=email,
            group_id=group_id,
        ),
    )
    return record.id


@pytest.fixture
def admin_id(ui_app: App) -> int:
    """A signed-up administrator (group Administrator: every right)."""
    return add_login(
        ui_app,
        ADMIN_LOGIN,
        ADMIN_PASSWORD,
        first_name="Jean-Marie",
        last_name="Smets",
        email="jm@insypro.com",
    )


def signed_in(app: App, person_id: int, login: str, name: str) -> SignedIn:
    return SignedIn(
        person_id=person_id,
        login=login,
        display_name=name,
        actor=Actor(name=login, person_id=person_id, address="192.0.2.10"),
        trusted_address=False,
        address="192.0.2.10",
    )


@pytest.fixture
def session_for(ui_app: App) -> Callable[[int, str, str], Session]:
    def make(person_id: int, login: str, name: str) -> Session:
        return load_session(ui_app, signed_in(ui_app, person_id, login, name))

    return make


@pytest.fixture
def admin_session(admin_id: int, session_for: Callable[[int, str, str], Session]) -> Session:
    return session_for(admin_id, ADMIN_LOGIN, "Jean-Marie Smets")


@pytest.fixture
def main_window(
    qtbot: QtBot, ui_app: App, admin_session: Session, tasks: TaskManager
) -> Iterator[MainWindow]:
    window = MainWindow(ui_app, admin_session, tasks, passwords=cheap_passwords())
    qtbot.addWidget(window)
    window.resize(1280, 820)
    window.show()
    qtbot.waitExposed(window)
    yield window
    tasks.cancel_all()
