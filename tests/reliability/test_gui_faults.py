"""The desktop app under faults, driven as a user would (pytest-qt, offscreen): the database
locked by another program or gone, the mail server down, slow or with a bad certificate, no
keyring, and the app process killed in the middle of its expiry sweep.

Each time the user gets one clear sentence where they are looking, nothing they typed is lost,
nothing half-done is stored, and once the fault is gone the same click works, without restarting
the app. Real parts only: a second process holding the SQLite lock, a private PostgreSQL
instance stopped and started (never the shared server), real mail servers on loopback.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QScrollArea, QWidget
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor
from pmdesk.core.db import Database
from pmdesk.core.models import AuditEvent, Person
from pmdesk.core.personnel import PersonnelService
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.personnel.view import PersonnelPage
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.widgets import MessageLabel, button_with_text
from tests.reliability.gui_helpers import (
    OFFSCREEN_NOISE,
    LockHolder,
    admin_session,
    close_window,
    gui_app,
    open_window,
    pg_db,
    pg_server,
    slow_smtp_server,
    sqlite_file,
    tasks,
)
from tests.ui.conftest import click_check

# Fixtures defined in gui_helpers, used here by name.
__all__ = ["pg_db", "pg_server", "slow_smtp_server", "tasks"]

pytestmark = pytest.mark.qt_log_ignore(OFFSCREEN_NOISE)

BUSY_MS = 300  # the embedded database's busy timeout for these tests (15 s in production)
SYSTEM = Actor.system("another workstation")
LOST = "Database connection lost — reconnecting in"
RESTORED = "Database connection restored"


# ----- helpers ------------------------------------------------------------------------------


def counts(db: Database) -> tuple[int, int]:
    """(people, audit rows)."""
    with db.session() as s:
        people = s.execute(select(func.count()).select_from(Person)).scalar_one()
        audit = s.execute(select(func.count()).select_from(AuditEvent)).scalar_one()
    return int(people), int(audit)


def plain_sentence(text: str) -> None:
    """One readable sentence: no traceback, no exception class, no driver dump."""
    assert text, "no message at all"
    assert "\n" not in text, text
    for raw in ("Traceback", "OperationalError", "psycopg", "sqlite3.", "Error)."):
        assert raw not in text, text


def on_screen(widget: QWidget) -> bool:
    """Visible and not scrolled out of sight (what the user can actually read)."""
    return widget.isVisible() and not widget.visibleRegion().isEmpty()


def personnel_idle(page: PersonnelPage) -> bool:
    return not page.busy.running and not page.model.loading and page._lookups is not None


def open_personnel(qtbot: QtBot, window: MainWindow) -> PersonnelPage:
    page = window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    qtbot.waitUntil(lambda: personnel_idle(page) and page.model.total > 0, timeout=20_000)
    return page


def open_person(qtbot: QtBot, page: PersonnelPage, last_name: str) -> None:
    model = page.model
    row = [model.data(model.index(r, 0)) for r in range(model.rowCount())].index(last_name)
    rect = page.table.visualRect(model.index(row, 0))
    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(
        lambda: (
            page.editor.record is not None
            and page.editor.record.form.last_name == last_name
            and personnel_idle(page)
        ),
        timeout=20_000,
    )


def retype(qtbot: QtBot, page: PersonnelPage, field: str, value: str) -> None:
    edit = page.editor.edits[field]
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(edit, value)


def scroll_to_save(page: PersonnelPage) -> None:
    """Where a user is after ticking the access flags: the form scrolled down to Save."""
    scroll = page.findChild(QScrollArea, "editorScroll")
    assert scroll is not None
    bar = scroll.verticalScrollBar()
    bar.setValue(bar.maximum())


def click_save(qtbot: QtBot, page: PersonnelPage) -> MessageLabel:
    assert page.save_button.isEnabled()
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    message = page.editor.message
    qtbot.waitUntil(lambda: personnel_idle(page) and message.isVisible(), timeout=30_000)
    return message


def answer(qtbot: QtBot, parent: QWidget, button_text: str) -> str:
    def box() -> QMessageBox | None:
        for child in parent.findChildren(QMessageBox):
            if child.isVisible():
                return child
        return None

    qtbot.waitUntil(lambda: box() is not None)
    found = box()
    assert found is not None
    question = found.text()
    qtbot.mouseClick(button_with_text(found, button_text), Qt.MouseButton.LeftButton)
    return question


class StatusLog:
    """Every message the main window's status bar showed."""

    def __init__(self, window: MainWindow) -> None:
        self.shown: list[str] = []
        window.statusBar().messageChanged.connect(self._changed)

    def _changed(self, text: str) -> None:
        if text:
            self.shown.append(text)

    def count(self, prefix: str) -> int:
        return sum(1 for text in self.shown if text.startswith(prefix))


# ----- 1. Personnel: the SQLite file is locked by another program ----------------------------


def test_personnel_save_while_another_program_holds_the_lock(
    qtbot: QtBot, tasks: TaskManager, sqlite_db: Database, clock: ShiftedClock, tmp_path: Path
) -> None:
    db = Database(sqlite_db.url, busy_timeout_ms=BUSY_MS)
    app = gui_app(db, clock, tmp_path)
    window = open_window(qtbot, app, admin_session(app), tasks)
    window.resize(1280, 640)  # a laptop screen: the form scrolls
    try:
        page = open_personnel(qtbot, window)
        editor = page.editor
        qtbot.mouseClick(page.new_button, Qt.MouseButton.LeftButton)
        qtbot.keyClicks(editor.edits["last_name"], "Wouters")
        qtbot.keyClicks(editor.edits["first_name"], "Koen")
        qtbot.keyClicks(editor.edits["number"], "E0042")
        qtbot.keyClicks(editor.edits["email"], "koen@wouters.be")
        qtbot.keyClicks(editor.edits["hourly_cost"], "42,50")
        click_check(qtbot, editor.flag_checks["access_reception"])
        typed = editor.form()
        before = counts(db)
        scroll_to_save(page)

        with LockHolder(sqlite_file(db)) as holder:
            started = time.monotonic()
            message = click_save(qtbot, page)
            waited = time.monotonic() - started
            # Reading needs no write lock (WAL): the list stays usable meanwhile.
            assert page.model.total == before[0]
            holder.release()

        assert message.role == "error"
        text = message.text()
        plain_sentence(text)
        assert "is busy" in text and "Nothing was saved" in text, text
        assert on_screen(message), "the message is where the user is looking"
        assert waited < 10, "waited for the busy timeout, then said so"
        assert editor.form() == typed, "every typed field is still in the form"
        assert editor.record is None and editor.is_dirty()
        assert page.save_button.isEnabled(), "Save can be clicked again"
        assert counts(db) == before, "no half-written person, no orphan audit row"

        # The lock is gone: the same click saves what was typed.
        message = click_save(qtbot, page)
        assert message.role == "success", message.text()
        assert message.text() == "Koen Wouters saved."
        assert on_screen(message)
        assert counts(db) == (before[0] + 1, before[1] + 1)
        assert editor.record is not None
        stored = PersonnelService(app.context).get(SYSTEM, editor.record.id).form
        assert stored == replace(typed, hourly_cost="42.50")
    finally:
        close_window(window, tasks)
        db.dispose()
