"""System → Security at small scale: one request per page, Next by keyset, filter by user."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.system.security import SecurityPage
from tests.helpers.qt import security_idle
from tests.perf.test_personnel_small import _counting, _datagen


@pytest.fixture
def crowded(ui_app: App, admin_id: int) -> list[int]:
    """50 people sharing 130 trusted addresses (none expired)."""
    datagen = _datagen()
    people: list[int] = datagen.add_people(ui_app.db, 50, seed=9)
    datagen.add_trusted_ips(ui_app.db, people, 130, expired_fraction=0.0)
    return people


def _login(app: App, person_id: int) -> str:
    with app.db.engine.connect() as conn:
        return str(
            conn.exec_driver_sql("SELECT login FROM personnel WHERE id = ?", (person_id,)).scalar()
        )


def test_pages_come_one_request_each_and_next_follows_a_keyset_cursor(
    qtbot: QtBot, ui_app: App, crowded: list[int], main_window: MainWindow
) -> None:
    page = main_window.show_page("security")
    assert isinstance(page, SecurityPage)
    qtbot.waitUntil(
        lambda: security_idle(page) and page.model.current_page is not None, timeout=20_000
    )
    assert page.model.requests == 1
    shown = page.model.current_page
    assert shown is not None and shown.describe() == "Viewing items 1-20 of 130"
    calls: list[tuple[Any, ...]] = _counting(page.model._source, "page")

    for first in (21, 41, 61):
        qtbot.mouseClick(page.next_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(
            lambda f=first: page.model.current_page.first_index == f and security_idle(page)
        )
    assert len(calls) == 3
    # (filter_text, page, cursor, page_size, known_total): every Next continued from the row
    # above it, and kept the count it had instead of counting again.
    assert all(call[2] is not None and call[2].direction == "after" for call in calls)
    assert all(call[4] == (130, True) for call in calls)
    assert page.model.rowCount() == 20  # only the page on screen is held

    login = _login(ui_app, crowded[7])
    page.filter_edit.setText(login)
    qtbot.keyClick(page.filter_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: page.model.filter_text == login and security_idle(page), timeout=20_000)
    assert len(calls) == 4  # Enter: at once, one request (the typing delay is skipped)
    rows = [page.model.row_at(r) for r in range(page.model.rowCount())]
    assert rows and all(row is not None and row.login == login for row in rows)
