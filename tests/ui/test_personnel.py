"""Maintenance → Organisation → Personnel, driven as a user would."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, QLocale, QPoint, Qt
from PySide6.QtWidgets import QHeaderView, QPushButton
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from sqlalchemy import text

from pmdesk.bootstrap import App
from pmdesk.core import sessions
from pmdesk.core.clock import ShiftedClock
from pmdesk.core.context import Actor
from pmdesk.core.db import Database
from pmdesk.core.models import Person
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.ui.main_window import MainWindow, load_session
from pmdesk.ui.page_context import Session
from pmdesk.ui.personnel.address import AddressDialog
from pmdesk.ui.personnel.model import COLUMNS, PersonnelModel
from pmdesk.ui.personnel.view import PersonnelPage
from pmdesk.ui.tasks import TaskManager
from tests.helpers.login import cheap_passwords
from tests.helpers.qt import answer, column, personnel_idle
from tests.helpers.staff import add_group
from tests.ui.conftest import add_login, click_check, make_app, signed_in

STAFF = [
    ("Smets", "Jean-Marie", "E0001", "jm@insypro.com"),  # the signed-in admin (fixture)
    ("Peeters", "Sofie", "E0002", "sofie@peeters.be"),
    ("Janssens", "Luc", "E0003", "luc@janssens.be"),
    ("Maes", "An", "E0004", ""),
    ("Dubois", "Camille", "E0005", "camille@dubois.be"),
]
SYSTEM = Actor.system("another workstation")


@pytest.fixture(autouse=True)
def english() -> Iterator[None]:
    """The app's default language, English (United Kingdom), writes "100,001 people" (a bare
    test process has the C locale, which writes 100001)."""
    before = QLocale()
    QLocale.setDefault(QLocale("en_GB"))
    yield
    QLocale.setDefault(before)


def _add_staff(app: App) -> dict[str, int]:
    service = PersonnelService(app.context)
    ids = {}
    for last, first, number, email in STAFF[1:]:
        record = service.create(
            SYSTEM,
            PersonForm(last_name=last, first_name=first, number=number, email=email, group_id=1),
        )
        ids[last] = record.id
    return ids


@pytest.fixture
def staff(ui_app: App, admin_id: int) -> dict[str, int]:
    ids = _add_staff(ui_app)
    ids["Smets"] = admin_id
    return ids


@pytest.fixture
def page(qtbot: QtBot, staff: dict[str, int], main_window: MainWindow) -> PersonnelPage:
    widget = main_window.show_page("personnel")
    assert isinstance(widget, PersonnelPage)
    qtbot.waitUntil(lambda: personnel_idle(widget) and widget.model.total == len(STAFF))
    return widget


def _open(qtbot: QtBot, page: PersonnelPage, last_name: str) -> None:
    row = column(page.model, 0).index(last_name)
    rect = page.table.visualRect(page.model.index(row, 0))
    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(
        lambda: (
            page.editor.record is not None
            and page.editor.record.form.last_name == last_name
            and personnel_idle(page)
        )
    )


def _retype(qtbot: QtBot, page: PersonnelPage, field: str, value: str) -> None:
    edit = page.editor.edits[field]
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    qtbot.keyClicks(edit, value)


def _save(qtbot: QtBot, page: PersonnelPage) -> None:
    assert page.save_button.isEnabled()
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: personnel_idle(page) and page.editor.message.isVisible())


def _header_click(qtbot: QtBot, page: PersonnelPage, column: int) -> None:
    header = page.table.horizontalHeader()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))


# ----- the list ------------------------------------------------------------------------------


def test_list_shows_everybody_sorted_by_name(page: PersonnelPage) -> None:
    assert [c.title for c in COLUMNS] == [
        "Lastname",
        "Forename",
        "Number",
        "Login",
        "Email",
        "Usergroup",
        "Locked",
    ]
    assert column(page.model, 0) == ["Dubois", "Janssens", "Maes", "Peeters", "Smets"]
    row = column(page.model, 0).index("Smets")
    model = page.model
    assert [model.data(model.index(row, c)) for c in range(6)] == [
        "Smets",
        "Jean-Marie",
        "",
        "jsmets",
        "jm@insypro.com",
        "Administrator",
    ]
    assert page.count_label.text() == "5 people"
    header = page.table.verticalHeader()
    assert header.sectionResizeMode(0) == QHeaderView.ResizeMode.Fixed
    assert header.defaultSectionSize() == 26


def test_locked_people_are_marked(
    qtbot: QtBot, page: PersonnelPage, ui_app: App, owner_db: Database, staff: dict[str, int]
) -> None:
    with owner_db.session() as s:  # a lockout, as the sign-in's own function records it
        now = ui_app.context.clock.now(s)
        person = s.get(Person, staff["Maes"])
        assert person is not None
        person.locked_until = now + timedelta(minutes=5)
        person.failed_logins = 10
    page.refresh()
    qtbot.waitUntil(lambda: personnel_idle(page))
    model = page.model
    locked = [model.data(model.index(r, 6)) for r in range(model.rowCount())]
    assert locked == ["", "", "Locked", "", ""]
    assert model.data(model.index(2, 6), Qt.ItemDataRole.DecorationRole) is not None
    assert "Locked until" in model.data(model.index(2, 6), Qt.ItemDataRole.ToolTipRole)


def test_search_as_you_type_filters_in_the_database(qtbot: QtBot, page: PersonnelPage) -> None:
    refreshes: list[int] = []
    page.model.refreshed.connect(lambda: refreshes.append(1))
    qtbot.keyClicks(page.search_edit, "pee")
    qtbot.waitUntil(lambda: page.model.total == 1 and personnel_idle(page))
    assert column(page.model, 0) == ["Peeters"]
    assert page.count_label.text() == "1 person matches"
    assert len(refreshes) == 1  # one query after typing stopped, not one per key

    page.search_edit.clear()
    qtbot.keyClicks(page.search_edit, "luc@")
    qtbot.waitUntil(lambda: page.model.search == "luc@" and personnel_idle(page))
    assert column(page.model, 0) == ["Janssens"]

    page.search_edit.clear()
    qtbot.waitUntil(lambda: page.model.total == len(STAFF) and personnel_idle(page))


def test_header_click_sorts_in_the_database(qtbot: QtBot, page: PersonnelPage) -> None:
    _header_click(qtbot, page, 1)  # Forename
    qtbot.waitUntil(lambda: page.model.sort_column == 1 and personnel_idle(page))
    assert column(page.model, 1) == ["An", "Camille", "Jean-Marie", "Luc", "Sofie"]
    _header_click(qtbot, page, 1)
    qtbot.waitUntil(lambda: page.model.descending and personnel_idle(page))
    assert column(page.model, 1) == ["Sofie", "Luc", "Jean-Marie", "Camille", "An"]
    _header_click(qtbot, page, 2)  # Number
    qtbot.waitUntil(lambda: page.model.sort_column == 2 and personnel_idle(page))
    assert column(page.model, 2) == ["", "E0002", "E0003", "E0004", "E0005"]

    # Locked is computed from the clock: not sortable, the indicator stays where it was.
    _header_click(qtbot, page, 6)
    header = page.table.horizontalHeader()
    assert header.sortIndicatorSection() == 2
    assert page.model.sort_column == 2


def test_model_passes_the_item_model_tester(
    qtbot: QtBot, page: PersonnelPage, qtmodeltester: ModelTester
) -> None:
    qtmodeltester.check(page.model, force_py=False)
    page.search_edit.setText("s")
    qtbot.waitUntil(lambda: page.model.search == "s" and personnel_idle(page))
    qtmodeltester.check(page.model, force_py=True)


# ----- editing -------------------------------------------------------------------------------


def test_new_and_save_creates_a_person(qtbot: QtBot, page: PersonnelPage, ui_app: App) -> None:
    qtbot.mouseClick(page.new_button, Qt.MouseButton.LeftButton)
    editor = page.editor
    assert editor.record is None
    assert editor.title_label.text() == "New person"
    assert page.window().focusWidget() is editor.edits["last_name"]
    assert not page.save_button.isEnabled()  # nothing typed yet
    qtbot.keyClicks(editor.edits["last_name"], "Wouters")
    qtbot.keyClicks(editor.edits["first_name"], "Koen")
    qtbot.keyClicks(editor.edits["email"], "koen@wouters.be")
    qtbot.keyClicks(editor.edits["hourly_cost"], "42,50")
    click_check(qtbot, editor.flag_checks["access_reception"])
    _save(qtbot, page)
    assert editor.message.text() == "Koen Wouters saved."
    assert editor.record is not None
    qtbot.waitUntil(lambda: page.model.total == len(STAFF) + 1 and personnel_idle(page))
    assert "Wouters" in column(page.model, 0)

    stored = PersonnelService(ui_app.context).get(SYSTEM, editor.record.id)
    assert stored.form.email == "koen@wouters.be"
    assert stored.form.hourly_cost == "42.50"
    assert stored.form.access_reception
    assert not page.editor.is_dirty()


def test_invalid_email_is_shown_next_to_the_field_and_the_text_is_kept(
    qtbot: QtBot, page: PersonnelPage, ui_app: App, staff: dict[str, int]
) -> None:
    _open(qtbot, page, "Peeters")
    _retype(qtbot, page, "email", "sofie@peeters")
    _retype(qtbot, page, "phone", "+32 9 234 56 78")
    _save(qtbot, page)
    editor = page.editor
    assert editor.field_error("email") == "'sofie@peeters' is not a valid e-mail address."
    assert editor.boxes["email"].error.isVisibleTo(editor)
    assert editor.edits["email"].property("invalid") is True
    assert editor.field_error("phone") == ""
    assert editor.message.role == "error"
    # Everything typed is still there, and nothing was saved.
    assert editor.edits["email"].text() == "sofie@peeters"
    assert editor.edits["phone"].text() == "+32 9 234 56 78"
    assert editor.is_dirty()
    stored = PersonnelService(ui_app.context).get(SYSTEM, staff["Peeters"])
    assert stored.form.email == "sofie@peeters.be"

    _retype(qtbot, page, "email", "sofie@peeters.be")
    _save(qtbot, page)
    assert editor.field_error("email") == ""
    assert editor.edits["email"].property("invalid") is False
    stored = PersonnelService(ui_app.context).get(SYSTEM, staff["Peeters"])
    assert stored.form.phone == "+3292345678"


def test_a_conflicting_save_shows_both_versions_and_loses_nothing(
    qtbot: QtBot, page: PersonnelPage, ui_app: App, staff: dict[str, int]
) -> None:
    _open(qtbot, page, "Janssens")
    _retype(qtbot, page, "number", "A-17")
    _retype(qtbot, page, "phone", "09 234 56 78")

    # Meanwhile, another workstation saves the same person.
    service = PersonnelService(ui_app.context)
    theirs = service.get(SYSTEM, staff["Janssens"])
    service.update(
        SYSTEM, theirs.id, theirs.version, replace(theirs.form, number="B-99", city="Gent")
    )

    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.conflict_dialog is not None)
    dialog = page.conflict_dialog
    assert dialog is not None
    rows = {
        dialog.table.item(r, 0).text(): (
            dialog.table.item(r, 1).text(),
            dialog.table.item(r, 2).text(),
        )
        for r in range(dialog.table.rowCount())
    }
    assert rows == {
        "Number": ("A-17", "B-99"),
        "City": ("—", "Gent"),
        "Phone": ("09 234 56 78", "—"),
    }
    # Nothing typed is lost while the question is open.
    assert page.editor.edits["number"].text() == "A-17"
    assert "changed on another workstation" in page.editor.message.text()

    # Keep editing: still all there, still not saved.
    qtbot.mouseClick(dialog.keep_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.conflict_dialog is None)
    assert page.editor.edits["phone"].text() == "09 234 56 78"
    assert service.get(SYSTEM, staff["Janssens"]).form.number == "B-99"

    # Save again and overwrite theirs with mine.
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.conflict_dialog is not None)
    dialog = page.conflict_dialog
    assert dialog is not None
    qtbot.mouseClick(dialog.overwrite_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: personnel_idle(page) and page.editor.message.role == "success")
    stored = service.get(SYSTEM, staff["Janssens"])
    assert stored.form.number == "A-17"
    assert stored.form.phone == "+3292345678"
    assert stored.form.city == ""  # the form held no city: mine won, as chosen


def test_a_conflict_can_load_their_version_instead(
    qtbot: QtBot, page: PersonnelPage, ui_app: App, staff: dict[str, int]
) -> None:
    _open(qtbot, page, "Dubois")
    _retype(qtbot, page, "number", "MINE")
    service = PersonnelService(ui_app.context)
    theirs = service.get(SYSTEM, staff["Dubois"])
    service.update(SYSTEM, theirs.id, theirs.version, replace(theirs.form, number="THEIRS"))
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.conflict_dialog is not None)
    dialog = page.conflict_dialog
    assert dialog is not None
    qtbot.mouseClick(dialog.reload_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.editor.edits["number"].text() == "THEIRS" and personnel_idle(page))
    assert not page.editor.is_dirty()
    assert page.editor.record is not None
    assert page.editor.record.version == theirs.version + 1


def test_delete_asks_first(
    qtbot: QtBot, page: PersonnelPage, ui_app: App, staff: dict[str, int]
) -> None:
    _open(qtbot, page, "Maes")
    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    answer(qtbot, page, "Cancel")
    assert PersonnelService(ui_app.context).count(SYSTEM) == len(STAFF)

    qtbot.mouseClick(page.delete_button, Qt.MouseButton.LeftButton)
    answer(qtbot, page, "Delete")
    qtbot.waitUntil(lambda: page.model.total == len(STAFF) - 1 and personnel_idle(page))
    assert "Maes" not in column(page.model, 0)
    # The first person opens in its place (not an empty form), and the message stays.
    qtbot.waitUntil(lambda: page.editor.record is not None and personnel_idle(page))
    assert page.editor.record.form.last_name == "Dubois"
    assert page.editor.message.text() == "An Maes was deleted."


def test_nobody_deletes_their_own_account(qtbot: QtBot, page: PersonnelPage) -> None:
    _open(qtbot, page, "Smets")
    assert not page.delete_button.isEnabled()
    assert "your own account" in page.delete_button.toolTip()


def test_lock_state_and_unlock(
    qtbot: QtBot, page: PersonnelPage, ui_app: App, owner_db: Database, staff: dict[str, int]
) -> None:
    with owner_db.session() as s:  # a lockout, as the sign-in's own function records it
        now = ui_app.context.clock.now(s)
        person = s.get(Person, staff["Peeters"])
        assert person is not None
        person.locked_until = now + timedelta(minutes=8)
        person.failed_logins = 10
    _open(qtbot, page, "Peeters")
    editor = page.editor
    assert editor.lock_label.text().startswith("Locked until ")
    assert "after 10 failed logins" in editor.lock_label.text()
    assert editor.unlock_button.isVisibleTo(editor)
    qtbot.mouseClick(editor.unlock_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: editor.lock_label.text() == "Not locked." and personnel_idle(page))
    assert not editor.unlock_button.isVisibleTo(editor)
    assert editor.message.text() == "Sofie Peeters can sign in again."
    with owner_db.session() as s:
        person = s.get(Person, staff["Peeters"])
        assert person is not None
        assert person.locked_until is None and person.failed_logins == 0


def test_trusted_addresses_are_listed_and_removed(
    qtbot: QtBot, page: PersonnelPage, ui_app: App, staff: dict[str, int]
) -> None:
    trusted = TrustedIpService(ui_app.context)
    trusted.trust_by_admin(SYSTEM, staff["Peeters"], "83.134.100.157")
    trusted.trust_by_admin(SYSTEM, staff["Peeters"], "192.0.2.44")
    _open(qtbot, page, "Peeters")
    table = page.editor.ip_table
    assert table.isVisibleTo(page.editor)
    addresses = {table.item(r, 0).text() for r in range(table.rowCount())}
    assert addresses == {"83.134.100.157", "192.0.2.44"}
    row = [table.item(r, 0).text() for r in range(table.rowCount())].index("83.134.100.157")
    remove = table.cellWidget(row, 3)
    assert remove is not None and remove.isEnabled()
    qtbot.mouseClick(remove, Qt.MouseButton.LeftButton)
    answer(qtbot, page, "Remove")
    qtbot.waitUntil(lambda: table.rowCount() == 1 and personnel_idle(page))
    assert table.item(0, 0).text() == "192.0.2.44"
    left = trusted.for_person(SYSTEM, staff["Peeters"])
    assert [r.address for r in left] == ["192.0.2.44"]


def test_the_address_dialog(
    qtbot: QtBot, page: PersonnelPage, ui_app: App, staff: dict[str, int]
) -> None:
    _open(qtbot, page, "Dubois")
    editor = page.editor
    assert editor.address_button.text() == "Click here to change the address."
    qtbot.mouseClick(editor.address_button, Qt.MouseButton.LeftButton)
    dialog = editor.findChild(AddressDialog)
    assert dialog is not None
    qtbot.waitExposed(dialog)
    for name, value in {
        "street": "Kortrijksesteenweg 12",
        "postcode": "9000",
        "city": "Gent",
        "country": "Belgium",
    }.items():
        qtbot.keyClicks(dialog.edits[name], value)
    qtbot.keyClick(dialog.edits["country"], Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert editor.address_label.text() == "Kortrijksesteenweg 12, 9000 Gent, Belgium"
    _save(qtbot, page)
    stored = PersonnelService(ui_app.context).get(SYSTEM, staff["Dubois"])
    assert (stored.form.street, stored.form.postcode, stored.form.city) == (
        "Kortrijksesteenweg 12",
        "9000",
        "Gent",
    )


def test_leaving_unsaved_changes_asks_first(
    qtbot: QtBot, page: PersonnelPage, staff: dict[str, int]
) -> None:
    _open(qtbot, page, "Dubois")
    _retype(qtbot, page, "number", "X-1")
    row = column(page.model, 0).index("Peeters")
    rect = page.table.visualRect(page.model.index(row, 0))
    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    answer(qtbot, page, "Keep editing")
    assert page.editor.edits["number"].text() == "X-1"
    assert page.editor.record is not None and page.editor.record.id == staff["Dubois"]

    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    answer(qtbot, page, "Discard changes")
    qtbot.waitUntil(lambda: page.editor.record is not None and personnel_idle(page))
    qtbot.waitUntil(lambda: page.editor.record.form.last_name == "Peeters")


# ----- rights --------------------------------------------------------------------------------


def test_read_only_group_cannot_change_anything(
    qtbot: QtBot,
    ui_app: App,
    staff: dict[str, int],
    tasks: TaskManager,
    session_for: Callable[[int, str, str], Session],
) -> None:
    group = add_group(ui_app.db, "Reception", {"maintenance": "r"})
    person_id = add_login(ui_app, "viewer", "a long secret", last_name="Viewer", group_id=group)
    window = MainWindow(
        ui_app, session_for(person_id, "viewer", "Viewer"), tasks, passwords=cheap_passwords()
    )
    qtbot.addWidget(window)
    window.show()
    widget = window.show_page("personnel")
    assert isinstance(widget, PersonnelPage)
    qtbot.waitUntil(lambda: personnel_idle(widget) and widget.model.total == len(STAFF) + 1)
    _open(qtbot, widget, "Peeters")
    assert not widget.new_button.isEnabled()
    assert not widget.save_button.isEnabled()
    assert not widget.delete_button.isEnabled()
    assert widget.editor.edits["email"].isReadOnly()
    assert not widget.editor.combos["group_id"].isEnabled()
    assert isinstance(widget.editor.address_button, QPushButton)
    window.close()


# ----- 100,000 people ------------------------------------------------------------------------

_BULK = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count)
INSERT INTO personnel (
  id, last_name, first_name, number, street, postcode, city, country, phone, mobile, email,
  email_newsletter, email_invoicing, group_id, login, login_key, last_name_key, first_name_key,
  number_key, email_key, visible, access_planning, access_notifications, access_inspection,
  access_webservice, access_courtesy_car, access_reception, failed_logins, lock_count,
  created_at, updated_at, version)
SELECT 1000 + i, 'Name ' || printf('%06d', i), 'First ' || (i % 97), printf('E%07d', i),
  '', '', '', '', '', '', printf('person%06d@example.com', i), 0, 0, 1, NULL, NULL,
  'name ' || printf('%06d', i), 'first ' || (i % 97), printf('e%07d', i),
  printf('person%06d@example.com', i), 1, 0, 0, 0, 0, 0, 0, 0, 0, :now, :now, 1
FROM n
"""


@pytest.mark.slow
@pytest.mark.not_hardened(
    "fills the list with one statement of SQLite's SQL; the list's speed under row-level "
    "security is measured by bench/perf_personnel_rls.py"
)
def test_a_hundred_thousand_people_scroll_smoothly(
    qtbot: QtBot,
    ui_app: App,
    admin_session: Session,
    tasks: TaskManager,
    qtmodeltester: ModelTester,
) -> None:
    with ui_app.db.session() as s:
        s.execute(text(_BULK), {"count": 100_000, "now": "2026-01-01 00:00:00.000000"})
        s.execute(text("ANALYZE"))
    window = MainWindow(ui_app, admin_session, tasks, passwords=cheap_passwords())
    qtbot.addWidget(window)
    window.resize(1280, 820)
    window.show()
    widget = window.show_page("personnel")
    assert isinstance(widget, PersonnelPage)
    qtbot.waitUntil(
        lambda: personnel_idle(widget) and widget.model.total == 100_001, timeout=20_000
    )
    model: PersonnelModel = widget.model
    assert widget.count_label.text() == "100,001 people"
    first_queries = model.queries

    # Jump to the end, as dragging the scroll bar does: only the blocks shown are fetched.
    widget.table.scrollToBottom()
    qtbot.waitUntil(lambda: model.row_at(100_000) is not None and not model.loading, timeout=20_000)
    assert model.data(model.index(100_000, 0)) == "Smets"  # the admin sorts after "Name …"
    assert model.data(model.index(99_999, 0)) == "Name 100000"
    assert model.queries - first_queries <= 2

    # Walk through the middle in big jumps: each answer comes back, nothing blocks.
    bar = widget.table.verticalScrollBar()
    for fraction in (0.25, 0.5, 0.75):
        bar.setValue(int(bar.maximum() * fraction))
        top = widget.table.rowAt(0)
        qtbot.waitUntil(lambda t=top: model.row_at(t) is not None, timeout=20_000)
    assert model.queries - first_queries <= 8
    assert len(model._blocks) <= model.MAX_BLOCKS

    # Choosing a row whose block has not arrived yet opens that person once it has.
    row = 60_123
    assert row // model.BLOCK_SIZE not in model._blocks
    widget.table.selectionModel().setCurrentIndex(
        model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
    )
    qtbot.waitUntil(
        lambda: widget.editor.record is not None and personnel_idle(widget), timeout=20_000
    )
    assert widget.editor.record.form.last_name == model.data(model.index(row, 0))

    # A search narrows 100,001 rows to a handful in SQL.
    widget.search_edit.setText("person004242@")
    qtbot.waitUntil(lambda: model.total == 1 and personnel_idle(widget), timeout=20_000)
    assert model.data(model.index(0, 4)) == "person004242@example.com"
    qtmodeltester.check(model, force_py=True)
    window.close()


# ----- every engine --------------------------------------------------------------------------


def test_list_search_and_conflict_on_every_engine(
    qtbot: QtBot,
    db: Database,
    clock: ShiftedClock,
    tmp_path: Path,
    tasks: TaskManager,
) -> None:
    """The same screen against SQLite, PostgreSQL and MariaDB: blocks, search, optimistic lock."""
    app = make_app(db, clock, tmp_path)
    admin = add_login(app, "jsmets", "a long secret", first_name="Jean-Marie", last_name="Smets")
    ids = _add_staff(app)
    session = load_session(app, signed_in(app, admin, "jsmets", "Jean-Marie Smets"))
    window = MainWindow(app, session, tasks, passwords=cheap_passwords())
    qtbot.addWidget(window)
    window.resize(1280, 820)
    window.show()
    widget = window.show_page("personnel")
    assert isinstance(widget, PersonnelPage)
    qtbot.waitUntil(
        lambda: personnel_idle(widget) and widget.model.total == len(STAFF), timeout=20_000
    )
    assert column(widget.model, 0) == ["Dubois", "Janssens", "Maes", "Peeters", "Smets"]

    qtbot.keyClicks(widget.search_edit, "jan")
    qtbot.waitUntil(lambda: widget.model.search == "jan" and personnel_idle(widget), timeout=20_000)
    assert column(widget.model, 0) == ["Janssens"]

    _open(qtbot, widget, "Janssens")
    _retype(qtbot, widget, "number", "MINE")
    service = PersonnelService(app.context)
    theirs = service.get(SYSTEM, ids["Janssens"])
    service.update(SYSTEM, theirs.id, theirs.version, replace(theirs.form, number="THEIRS"))
    qtbot.mouseClick(widget.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: widget.conflict_dialog is not None, timeout=20_000)
    dialog = widget.conflict_dialog
    assert dialog is not None
    assert dialog.fields == ["number"]
    qtbot.mouseClick(dialog.overwrite_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: personnel_idle(widget) and widget.editor.message.role == "success")
    assert service.get(SYSTEM, ids["Janssens"]).form.number == "MINE"
    window.close()


def _start_session(app: App, owner: Database, person_id: int, kind: str, address: str) -> None:
    """A session of the person's, as the sign-in starts it (its own function, on a hardened
    database: the owner's connection here)."""
    with owner.write_session() as s:
        person = s.get(Person, person_id)
        assert person is not None
        sessions.start(
            s, app.context.clock.now(s), person, kind, address=address, workstation="WS-FRONT"
        )


def test_open_sessions_are_listed_and_ended(
    qtbot: QtBot, page: PersonnelPage, ui_app: App, owner_db: Database, staff: dict[str, int]
) -> None:
    _start_session(ui_app, owner_db, staff["Peeters"], sessions.DESKTOP, "192.0.2.31")
    _start_session(ui_app, owner_db, staff["Peeters"], sessions.COMMAND_LINE, "192.0.2.32")
    _open(qtbot, page, "Peeters")
    editor = page.editor
    table = editor.sessions_table
    assert table.isVisibleTo(editor) and table.rowCount() == 2
    listed = {(table.item(r, 0).text(), table.item(r, 1).text()) for r in range(2)}
    assert listed == {("Desktop app", "192.0.2.31"), ("Command line", "192.0.2.32")}
    assert "WS-FRONT" in table.item(0, 2).text()
    assert editor.end_sessions_button.isEnabled()

    qtbot.mouseClick(editor.end_sessions_button, Qt.MouseButton.LeftButton)
    answer(qtbot, page, "End sessions")
    qtbot.waitUntil(lambda: table.rowCount() == 0 and personnel_idle(page))
    assert editor.sessions_empty.isVisibleTo(editor)
    assert not editor.end_sessions_button.isEnabled()
    assert "signed out everywhere (2 sessions ended)" in editor.message.text()
    with owner_db.session() as s:
        left = s.execute(
            text("SELECT count(*) FROM user_sessions WHERE person_id = :p"),
            {"p": staff["Peeters"]},
        ).scalar()
    assert left == 0
