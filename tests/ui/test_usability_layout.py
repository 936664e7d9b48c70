"""Issue 19 (usability): the screens fit small screens (5, 6), Permissions' Read follows Edit and
Delete (17), the Log's CSV is what the screen shows (18), a group with people is refused before
asking (21), the status bar names the database in words (24), the login code box's placeholder
is not cut off (23)."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtWidgets import QDialog, QLabel, QLineEdit, QMessageBox, QStyle, QStyleOptionFrame
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.audit import csv_safe
from pmdesk.core.context import Actor
from pmdesk.core.groups import GroupService
from pmdesk.core.modules import Action
from pmdesk.core.security import ShutOutPerson
from pmdesk.ui import window_geometry
from pmdesk.ui.first_run import FirstRunDialog
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.page_context import Session
from pmdesk.ui.personnel.address import Address, AddressDialog
from pmdesk.ui.personnel.view import PersonnelPage
from pmdesk.ui.system.log import LogPage
from pmdesk.ui.system.permission_grid import GroupNameDialog
from pmdesk.ui.system.permissions import PermissionsPage
from pmdesk.ui.system.security import ReadinessDialog
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.window_geometry import FRAME_ALLOWANCE
from tests.helpers.login import cheap_passwords
from tests.helpers.qt import permissions_idle
from tests.helpers.staff import add_group, add_person
from tests.ui.conftest import click_check
from tests.ui.screenshots import capture, screenshot_dir, settle
from tests.ui.system_pages import not_clipped, open_page

OTHER = Actor.system("another workstation")


@pytest.fixture
def permissions(qtbot: QtBot, main_window: MainWindow) -> PermissionsPage:
    widget = open_page(qtbot, main_window, "permissions")
    assert isinstance(widget, PermissionsPage)
    qtbot.waitUntil(lambda: permissions_idle(widget) and widget.current_grid is not None)
    return widget


def _choose(qtbot: QtBot, page: PermissionsPage, name: str) -> None:
    page.reload()
    qtbot.waitUntil(lambda: permissions_idle(page) and page.group_combo.findText(name) >= 0)
    page.group_combo.setCurrentIndex(page.group_combo.findText(name))
    qtbot.waitUntil(
        lambda: (
            permissions_idle(page)
            and page.current_grid is not None
            and page.current_grid.group_name == name
        )
    )


# ----- 17: Edit or Delete implies Read ---------------------------------------------------------


def test_edit_or_delete_ticks_read_and_unticking_read_unticks_them(
    qtbot: QtBot, permissions: PermissionsPage, ui_app: App
) -> None:
    page = permissions
    add_group(ui_app.db, "Reception")
    _choose(qtbot, page, "Reception")
    grid = page.grid
    click_check(qtbot, grid.check("job", Action.EDIT))
    assert grid.rights("job") == (True, True, False)
    click_check(qtbot, grid.check("planning", Action.DELETE))
    assert grid.rights("planning") == (True, False, True)
    click_check(qtbot, grid.check("job", Action.DELETE))
    assert grid.rights("job") == (True, True, True)
    click_check(qtbot, grid.check("job", Action.READ))
    assert grid.rights("job") == (False, False, False)
    click_check(qtbot, grid.check("job", Action.EDIT))
    click_check(qtbot, grid.check("job", Action.EDIT))  # Edit off again: Read stays
    assert grid.rights("job") == (True, False, False)

    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: permissions_idle(page) and page.message.role == "success")
    group_id = page.current_grid.group_id if page.current_grid else 0
    stored = {r.module_key: r for r in GroupService(ui_app.context).grid(OTHER, group_id).rows}
    assert stored["planning"][2:] == (True, False, True)
    assert stored["job"][2:] == (True, False, False)


# ----- 21: a group with people is refused before asking --------------------------------------


def test_deleting_a_group_with_people_refuses_without_asking_first(
    qtbot: QtBot, permissions: PermissionsPage, ui_app: App
) -> None:
    page = permissions
    group_id = add_group(ui_app.db, "Planners", {"planning": "r"})
    add_person(ui_app.db, "ppeeters", group_id=group_id, last_name="Peeters")
    _choose(qtbot, page, "Planners")
    asked: list[QMessageBox] = []
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: permissions_idle(page) and page.message.role == "error")
    asked = [b for b in page.findChildren(QMessageBox) if b.isVisible()]
    assert asked == []
    assert page.message.text().startswith("The group 'Planners' cannot be deleted: 1 person")
    assert page.group_combo.findText("Planners") >= 0


# ----- 24: the database in words ----------------------------------------------------------------


def test_the_status_bar_names_the_database_in_words(main_window: MainWindow, ui_app: App) -> None:
    text = main_window.database_status.findChild(QLabel, "text")
    assert text is not None
    url = ui_app.db.url
    words = (
        f"Embedded database ({url.database})"
        if ui_app.db.is_sqlite
        else f"PostgreSQL on {url.host} / {url.database}"
    )
    assert main_window.database_status.toolTip().splitlines()[0] == words
    # A long path is shortened in its middle: its start and file name stay.
    start, _, end = text.text().partition("…")
    assert text.text() == words or (words.startswith(start) and words.endswith(end))
    assert "sqlite+" not in text.text() and "://" not in text.text()


# ----- 23: the login code box's placeholder is not cut off ---------------------------------------


def _text_room(edit: QLineEdit) -> int:
    """The width a line edit has for its text (inside frame, padding and text margins)."""
    option = QStyleOptionFrame()
    edit.initStyleOption(option)
    rect = edit.style().subElementRect(QStyle.SubElement.SE_LineEditContents, option, edit)
    margins = edit.textMargins()
    return rect.width() - margins.left() - margins.right() - 4  # Qt's 2 px on each side


def test_the_code_boxs_placeholder_is_not_cut_off(qtbot: QtBot, tasks: TaskManager) -> None:
    dialog = LoginDialog(tasks)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.pages.setCurrentIndex(1)  # the code step's page
    edit = dialog.code_edit
    qtbot.waitUntil(edit.isVisible)
    text = edit.placeholderText()
    assert text
    needed = edit.fontMetrics().horizontalAdvance(text)
    assert _text_room(edit) >= needed, f"{_text_room(edit)} px for {needed} px of placeholder"
    # Also at the dialog's smallest size.
    dialog.resize(dialog.minimumSizeHint())
    qtbot.wait(10)
    assert _text_room(edit) >= needed


# ----- 18: the Log's CSV is what the screen shows, saved in Documents -------------------------


def test_the_logs_export_opens_in_documents_and_writes_what_the_list_shows(
    qtbot: QtBot,
    main_window: MainWindow,
    ui_app: App,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DOCUMENTS_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    page = open_page(qtbot, main_window, "log")
    assert isinstance(page, LogPage)
    qtbot.waitUntil(lambda: page.tasks.is_idle() and page.model.rowCount() > 0)
    qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.export_dialog is not None and page.export_dialog.isVisible())
    dialog = page.export_dialog
    assert dialog is not None
    assert Path(dialog.directory().absolutePath()) == home / "Documents"
    dialog.reject()

    target = home / "Documents" / "log.csv"
    page.export_to(target)
    qtbot.waitUntil(lambda: page.tasks.is_idle() and page.message.isVisible())
    with target.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    model = page.model
    columns = range(model.columnCount())
    assert rows[0] == [
        *(model.headerData(c, Qt.Orientation.Horizontal) for c in columns),
        "Time (UTC)",
    ]
    for number, row in enumerate(rows[1:]):
        shown = [str(model.data(model.index(number, c))) for c in columns]
        # the local time as a spreadsheet reads it (the list writes it in the app's language)
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row[0])
        assert row[1:7] == [csv_safe(cell) for cell in shown[1:]]
        assert "." not in row[2] and "_" not in row[2], "an event name, not its code"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[7])


# ----- 5: every page fits 1024 x 768 -------------------------------------------------------------

SMALL = QRect(0, 0, 1024, 768)
#: 1280 x 800 at scale 1.5, in logical pixels.
SCALED = QRect(0, 0, 853, 533)


@pytest.fixture
def screen_area(monkeypatch: pytest.MonkeyPatch) -> Callable[[QRect], None]:
    """Play a screen whose available area is the given rectangle."""

    def use(area: QRect) -> None:
        monkeypatch.setattr(window_geometry, "available_area", lambda _widget: QRect(area))

    return use


def _window(qtbot: QtBot, ui_app: App, session: Session, tasks: TaskManager) -> MainWindow:
    window = MainWindow(ui_app, session, tasks, passwords=cheap_passwords())
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def _inside(window: MainWindow, area: QRect) -> None:
    frame = window.frameGeometry()
    assert area.contains(frame), f"the window {frame} is not inside the screen's {area}"


def _visit_every_page(qtbot: QtBot, window: MainWindow, area: QRect) -> Iterator[str]:
    for key in window.pages:
        open_page(qtbot, window, key)
        # As the user sees it once it has loaded (a label whose text just came has not been
        # laid out yet: what is measured is the page at rest).
        qtbot.waitUntil(window.tasks.is_idle, timeout=10_000)
        settle(60)
        _inside(window, area)  # no page makes the window wider (or taller)
        yield key


def test_every_page_fits_1024_by_768_without_clipping(
    qtbot: QtBot,
    ui_app: App,
    admin_session: Session,
    tasks: TaskManager,
    screen_area: Callable[[QRect], None],
) -> None:
    screen_area(SMALL)
    window = _window(qtbot, ui_app, admin_session, tasks)
    _inside(window, SMALL)
    assert window.size() == QSize(1024 - FRAME_ALLOWANCE.width(), 768 - FRAME_ALLOWANCE.height())
    for key in _visit_every_page(qtbot, window, SMALL):
        lazy = window.pages[key]
        content = lazy.build()
        view = lazy.scroll_area.viewport()
        need = content.minimumSizeHint()
        # Each page fits without scrolling sideways, and its minimum fits 1024 x 768.
        assert need.width() <= view.width(), f"{key} needs {need.width()} px of {view.width()}"
        assert need.width() <= 1024 and need.height() <= 768
        assert not lazy.scroll_area.horizontalScrollBar().isVisible(), key
        not_clipped(window)
    # Personnel's form is not cut off on its right (Location … Access).
    personnel = window.page("personnel")
    assert isinstance(personnel, PersonnelPage)
    open_page(qtbot, window, "personnel")
    settle(60)
    form = personnel.editor_scroll
    assert form.widget().width() <= form.viewport().width()


# ----- 6: never larger than the screen; small screens scroll -----------------------------------


def test_at_scale_one_and_a_half_the_window_fits_and_pages_scroll(
    qtbot: QtBot,
    ui_app: App,
    admin_session: Session,
    tasks: TaskManager,
    screen_area: Callable[[QRect], None],
) -> None:
    screen_area(SCALED)
    window = _window(qtbot, ui_app, admin_session, tasks)
    _inside(window, SCALED)
    for key in _visit_every_page(qtbot, window, SCALED):
        lazy = window.pages[key]
        content = lazy.build()
        need = content.minimumSizeHint()
        # Scrolls rather than clips: the page keeps at least its minimum size, and the scroll
        # area can reach all of it.
        assert content.width() >= need.width() and content.height() >= need.height(), key
        bars = lazy.scroll_area.horizontalScrollBar(), lazy.scroll_area.verticalScrollBar()
        view = lazy.scroll_area.viewport()
        assert bars[0].maximum() >= content.width() - view.width(), key
        assert bars[1].maximum() >= content.height() - view.height(), key


def test_a_saved_size_larger_than_the_screen_is_clamped(
    qtbot: QtBot,
    ui_app: App,
    admin_session: Session,
    tasks: TaskManager,
    screen_area: Callable[[QRect], None],
) -> None:
    # Saved on a big screen: 1860 x 1200 at (40, 30).
    screen_area(QRect(0, 0, 3840, 2160))
    big = _window(qtbot, ui_app, admin_session, tasks)
    big.setGeometry(40, 30, 1860, 1200)
    settle()
    big.close()
    assert ui_app.settings.window_geometry
    screen_area(SCALED)
    window = MainWindow(ui_app, admin_session, tasks, passwords=cheap_passwords())
    qtbot.addWidget(window)
    assert window.width() <= SCALED.width() and window.height() <= SCALED.height()
    window.show()
    qtbot.waitExposed(window)
    _inside(window, SCALED)
    # And the default size, with nothing saved, on the small screen too.
    ui_app.settings.window_geometry = ""
    fresh = _window(qtbot, ui_app, admin_session, tasks)
    _inside(fresh, SCALED)


def test_dialogs_fit_small_screens(qtbot: QtBot, ui_app: App, tasks: TaskManager) -> None:
    dialogs: list[QDialog] = [
        LoginDialog(tasks),
        FirstRunDialog(ui_app.context, 1, tasks, passwords=cheap_passwords()),
        ReadinessDialog(
            [ShutOutPerson(i, f"user{i}", f"Person {i}", "no e-mail address") for i in range(30)],
            "E-mail",
        ),
        AddressDialog(Address(street="Kerkstraat 1"), {"city": "Enter a city."}),
        GroupNameDialog("New user group", "Create"),
    ]
    for dialog in dialogs:
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        settle()
        need = dialog.minimumSizeHint().expandedTo(dialog.minimumSize())
        for area in (SMALL, SCALED):
            room = area.size() - FRAME_ALLOWANCE
            assert need.width() <= room.width() and need.height() <= room.height(), (
                f"{dialog.objectName()} needs {need.toTuple()} on {area.size().toTuple()}"
            )
        dialog.close()


# ----- 5 and 6: screenshots of the small-screen layouts ---------------------------------------


def test_small_screen_screenshots(
    qtbot: QtBot,
    ui_app: App,
    admin_session: Session,
    tasks: TaskManager,
    screen_area: Callable[[QRect], None],
    tmp_path: Path,
) -> None:
    """docs/screenshots/small-screen-*.png with PMDESK_SCREENSHOTS=1 (``@1.5x`` at
    QT_SCALE_FACTOR=1.5): every page in a window on a 1024 x 768 screen."""
    folder = screenshot_dir(tmp_path / "screenshots")
    for number, (last, first) in enumerate((("Peeters", "Sofie"), ("Maes", "An")), start=2):
        add_person(ui_app.db, f"user{number}", first_name=first, last_name=last)
    screen_area(SMALL)
    window = _window(qtbot, ui_app, admin_session, tasks)
    for key in _visit_every_page(qtbot, window, SMALL):
        qtbot.waitUntil(lambda: tasks.is_idle(), timeout=10_000)
        settle(150)
        not_clipped(window)
        capture(window, f"small-screen-{key}", folder)
