"""System → Security's lockout (issue 16 §6), driven as an administrator would: the three
thresholds with a mistake shown under its field and what was typed kept; the Locked now list
showing a lock, Unlock all clearing it after a confirmation; and a clerk's view."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from pmdesk.bootstrap import App
from pmdesk.core.db import Database
from pmdesk.core.models import AuditEvent, LoginFailure, Person, SecuritySettings
from pmdesk.core.modules import MAINTENANCE, SYSTEM_SECURITY
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.page_context import Session
from pmdesk.ui.system.locked_now_box import LEFT, PERSON, WHERE
from pmdesk.ui.system.security import SecurityPage
from pmdesk.ui.tasks import TaskManager
from tests.helpers.qt import answer, security_idle
from tests.helpers.staff import add_group, add_person
from tests.ui.screenshots import capture, screenshot_dir
from tests.ui.system_pages import not_clipped, open_page


def lock_two(app: App, owner_db: Database) -> None:
    """Sofie locked from one address, Luc everywhere, as the sign-in records them."""
    sofie = add_person(app.db, "speeters", first_name="Sofie", last_name="Peeters")
    luc = add_person(app.db, "ljanssens", first_name="Luc", last_name="Janssens")
    with owner_db.session() as s:
        now = app.context.clock.now(s)
        s.add(
            LoginFailure(
                person_id=sofie,
                address="83.134.100.157",
                failed=0,
                lock_count=2,
                locked_until=now + timedelta(minutes=2),
                last_failed_at=now,
            )
        )
        person = s.get(Person, luc)
        assert person is not None
        person.locked_until, person.lock_count = now + timedelta(minutes=15), 1


def locks_stored(owner_db: Database) -> int:
    with owner_db.session() as s:
        people = s.scalars(select(Person).where(Person.locked_until.is_not(None))).all()
        return len(people) + len(s.scalars(select(LoginFailure)).all())


def shown(qtbot: QtBot, window: MainWindow, rows: int) -> SecurityPage:
    """System → Security opened in ``window``, once it lists ``rows`` locks."""
    page = open_page(qtbot, window, "security")
    assert isinstance(page, SecurityPage)
    qtbot.waitUntil(lambda: security_idle(page) and page.locked_box.table.rowCount() == rows)
    return page


def cell(page: SecurityPage, row: int, column: int) -> str:
    item = page.locked_box.table.item(row, column)
    return item.text() if item is not None else ""


def test_the_list_shows_the_locks_and_unlock_all_clears_them(
    qtbot: QtBot, ui_app: App, owner_db: Database, main_window: MainWindow, tmp_path: Path
) -> None:
    lock_two(ui_app, owner_db)
    page = shown(qtbot, main_window, 2)
    box = page.locked_box
    assert [cell(page, row, PERSON) for row in range(2)] == ["Luc Janssens", "Sofie Peeters"]
    assert [cell(page, row, WHERE) for row in range(2)] == ["everywhere", "83.134.100.157"]
    assert cell(page, 0, LEFT) in {"15 min", "14 min"}
    assert box.unlock_all_button.isEnabled()
    assert not box.unlock_button.isEnabled(), "nobody chosen yet"
    main_window.resize(1024, 768)  # the smallest screen the app is made for
    qtbot.waitUntil(lambda: main_window.width() == 1024)
    page.left_scroll.verticalScrollBar().setValue(page.lockout_box.y())
    not_clipped(main_window)
    capture(main_window, "security-lockout", screenshot_dir(tmp_path))

    qtbot.mouseClick(box.unlock_all_button, Qt.MouseButton.LeftButton)
    assert answer(qtbot, box, "Cancel") == "Unlock everyone locked now (2)?"
    assert locks_stored(owner_db) == 2, "Cancel unlocks nobody"
    qtbot.mouseClick(box.unlock_all_button, Qt.MouseButton.LeftButton)
    answer(qtbot, box, "Unlock all")
    qtbot.waitUntil(lambda: box.table.rowCount() == 0 and not box.ops.busy, timeout=10_000)
    assert box.message.text() == "Nobody is locked now."
    assert locks_stored(owner_db) == 0
    with owner_db.session() as s:
        unlocked = s.scalars(
            select(AuditEvent.subject).where(AuditEvent.event == "account.unlocked")
        ).all()
    assert len(unlocked) == 2


def test_unlock_one_person(
    qtbot: QtBot, ui_app: App, owner_db: Database, main_window: MainWindow
) -> None:
    lock_two(ui_app, owner_db)
    page = shown(qtbot, main_window, 2)
    box = page.locked_box
    box.table.selectRow(1)
    qtbot.mouseClick(box.unlock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: box.table.rowCount() == 1 and not box.ops.busy, timeout=10_000)
    assert box.message.text() == "Sofie Peeters is unlocked everywhere."
    assert cell(page, 0, PERSON) == "Luc Janssens"


def _thresholds(owner_db: Database) -> tuple[int, int, int]:
    with owner_db.session() as s:
        row = s.scalars(select(SecuritySettings)).one()
        return (row.lock_after_failures, row.first_lock_minutes, row.max_lock_minutes)


def test_the_thresholds_are_saved_and_a_mistake_is_shown_under_its_field(
    qtbot: QtBot, owner_db: Database, main_window: MainWindow
) -> None:
    page = open_page(qtbot, main_window, "security")
    assert isinstance(page, SecurityPage)
    box = page.lockout_box
    qtbot.waitUntil(lambda: security_idle(page) and box.settings is not None)
    assert box.values() == (10, 1, 15)
    assert not box.save_button.isEnabled(), "nothing changed yet"
    box.first_lock_spin.setValue(30)  # longer than the longest lock (15)
    qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
    error = box.boxes["max_lock_minutes"].error
    qtbot.waitUntil(lambda: error.isVisible() and not box.saving.running, timeout=10_000)
    assert error.text() == "The longest lock must be a whole number of minutes from 30 to 1440."
    assert box.values() == (10, 30, 15), "what was typed stays"
    assert _thresholds(owner_db) == (10, 1, 15)

    box.max_lock_spin.setValue(120)
    assert not error.isVisible(), "an edit clears the mistake"
    box.lock_after_spin.setValue(5)
    qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: box.message.text() == "Saved.", timeout=10_000)
    assert _thresholds(owner_db) == (5, 30, 120)
    assert not box.save_button.isEnabled() and not page.has_unsaved_changes()


def test_a_clerk_sees_who_is_locked_but_cannot_unlock(
    qtbot: QtBot,
    ui_app: App,
    owner_db: Database,
    tasks: TaskManager,
    session_for: Callable[[int, str, str], Session],
) -> None:
    lock_two(ui_app, owner_db)
    readers = add_group(ui_app.db, "Helpdesk", {SYSTEM_SECURITY.key: "r", MAINTENANCE.key: "r"})
    helper = add_person(ui_app.db, "helper", group_id=readers, last_name="Helper")
    window = MainWindow(ui_app, session_for(helper, "helper", "H. Helper"), tasks)
    qtbot.addWidget(window)
    window.resize(1280, 820)
    window.show()
    page = shown(qtbot, window, 2)
    box = page.locked_box
    box.table.selectRow(0)
    assert not box.unlock_button.isEnabled() and not box.unlock_all_button.isEnabled()
    assert "Maintenance Edit" in box.unlock_all_button.toolTip()
    assert not page.lockout_box.save_button.isEnabled()
    assert not page.lockout_box.lock_after_spin.isEnabled()
    box.unlock_all()  # even called directly, the core refuses
    qtbot.waitUntil(lambda: not box.ops.busy and bool(box.message.text()), timeout=10_000)
    assert "may not" in box.message.text()
    assert locks_stored(owner_db) == 2


def test_without_personnel_read_the_list_is_hidden(
    qtbot: QtBot,
    ui_app: App,
    tasks: TaskManager,
    session_for: Callable[[int, str, str], Session],
) -> None:
    group = add_group(ui_app.db, "Security only", {SYSTEM_SECURITY.key: "re"})
    person = add_person(ui_app.db, "secops", group_id=group, last_name="Ops")
    window = MainWindow(ui_app, session_for(person, "secops", "S. Ops"), tasks)
    qtbot.addWidget(window)
    window.show()
    page = open_page(qtbot, window, "security")
    assert isinstance(page, SecurityPage)
    qtbot.waitUntil(lambda: security_idle(page))
    assert not page.locked_box.isVisibleTo(page)
    assert page.lockout_box.isVisibleTo(page)
