"""System → Log, driven as a user would: newest first, loaded as the list scrolls, filters by
user, event and date, and "Export to CSV…" of what the filters select."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtWidgets import QFileDialog
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from sqlalchemy import delete

from pmdesk.bootstrap import App
from pmdesk.core.audit import csv_safe
from pmdesk.core.db import Database
from pmdesk.core.delivery.mail_dates import mail_time
from pmdesk.core.models import AuditEvent
from pmdesk.core.modules import SYSTEM_LOG
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.page_context import Session
from pmdesk.ui.system.log import LogPage
from pmdesk.ui.system.log_model import ACTOR, ADDRESS, EVENT, SUBJECT, TIME
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import install_translation
from tests.helpers.qt import column, log_idle
from tests.helpers.staff import add_group, add_person
from tests.ui.screenshots import capture, screenshot_dir
from tests.ui.system_pages import not_clipped, open_page

N_EVENTS = 450
EVENTS = ["ip.removed", "login.succeeded", "code.sent", "person.updated", "ip.trusted"]
ACTORS = ["jsmets", "speeters", "system: expiry sweep"]
SUBJECTS = ["lmaes", "cdubois", "two-step authentication"]


def seeded(i: int, now: datetime) -> tuple[datetime, str, str, str]:
    """(time, actor, event, subject) of the i-th seeded event (0 = the newest)."""
    return (
        now - timedelta(hours=i + 1),
        ACTORS[i % 3],
        EVENTS[i % 5],
        SUBJECTS[(i // 3) % 3],
    )


@pytest.fixture
def now(ui_app: App, owner_db: Database, admin_id: int) -> datetime:
    """Seeds N_EVENTS audit rows, one an hour back from now; returns that now."""
    # The admin's own sign-up is audited; keep only the seeded trail so counts are exact. The
    # log is append-only for a workstation: the trail is written as the database's owner.
    with owner_db.session() as s:
        s.execute(delete(AuditEvent))  # only the seeded trail (not the set-up's own rows)
        moment = ui_app.context.clock.now(s)
        for i in reversed(range(N_EVENTS)):  # oldest first, as they happened
            when, actor, event, subject = seeded(i, moment)
            s.add(
                AuditEvent(
                    occurred_at=when,
                    actor=actor,
                    event=event,
                    subject=subject,
                    address="192.0.2.10" if i % 2 else "",
                    workstation="ws-office-01",
                    detail=f"seeded #{i}" if i % 7 else '=HYPERLINK("x")',
                )
            )
    return moment


@pytest.fixture
def page(qtbot: QtBot, now: datetime, main_window: MainWindow) -> LogPage:
    widget = open_page(qtbot, main_window, "log")
    assert isinstance(widget, LogPage)
    qtbot.waitUntil(lambda: log_idle(widget) and widget.model.rowCount() > 0)
    return widget


def _expected(now: datetime, keep: Callable[[int], bool]) -> int:
    return sum(1 for i in range(N_EVENTS) if keep(i))


def _wait_filtered(qtbot: QtBot, page: LogPage) -> None:
    qtbot.waitUntil(lambda: log_idle(page) and page.model.filters == page.filters())


# ----- the list ---------------------------------------------------------------------------------


def test_newest_first_with_local_time_and_utc_tooltip(page: LogPage, now: datetime) -> None:
    model = page.model
    titles = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert titles == ["Time", "Actor", "Event", "Subject", "Address", "Workstation", "Detail"]
    first_time, actor, _event, subject = seeded(0, now)
    local = first_time.astimezone()
    assert model.data(model.index(0, TIME)) == f"{local.day} {local:%b %Y %H:%M:%S}"
    utc = first_time.astimezone(UTC)
    assert model.data(model.index(0, TIME), Qt.ItemDataRole.ToolTipRole) == (
        f"{utc.day} {utc:%b %Y %H:%M:%S} UTC"
    )
    assert model.data(model.index(0, ACTOR)) == actor
    assert model.data(model.index(0, EVENT)) == "IP removed"
    assert model.data(model.index(0, EVENT), Qt.ItemDataRole.ToolTipRole) == "ip.removed"
    assert model.data(model.index(0, SUBJECT)) == subject


def test_loads_more_as_the_list_scrolls(qtbot: QtBot, page: LogPage) -> None:
    assert page.model.rowCount() == 200  # one block, not the whole trail
    assert page.count_label.text() == "Newest 200 events shown; scroll down for older ones."
    times = [datetime.strptime(t, "%d %b %Y %H:%M:%S") for t in column(page.model, TIME)]
    assert times == sorted(times, reverse=True)
    page.table.scrollToBottom()
    qtbot.waitUntil(lambda: log_idle(page) and page.model.rowCount() == 400)
    page.table.scrollToBottom()
    qtbot.waitUntil(lambda: log_idle(page) and page.model.rowCount() == N_EVENTS)
    assert page.model.exhausted
    assert page.count_label.text() == "450 events"
    assert page.model.blocks == 3


def test_model_passes_the_model_tester(qtmodeltester: ModelTester, page: LogPage) -> None:
    qtmodeltester.check(page.model)


# ----- filters ------------------------------------------------------------------------------------


def test_filter_by_user(qtbot: QtBot, page: LogPage, now: datetime) -> None:
    qtbot.keyClicks(page.user_edit, "SPEET")
    _wait_filtered(qtbot, page)
    assert set(column(page.model, ACTOR)) == {"speeters"}
    assert page.count_label.text() == f"{_expected(now, lambda i: i % 3 == 1)} events"

    page.user_edit.clear()
    qtbot.keyClicks(page.user_edit, "lmaes")  # whom it concerned
    _wait_filtered(qtbot, page)
    assert set(column(page.model, SUBJECT)) == {"lmaes"}


def test_filter_by_address_exact_or_by_its_start(
    qtbot: QtBot, page: LogPage, now: datetime
) -> None:
    """Issue 16, item 5: the events at one address, or in one block; a typo is said and the
    field marked, and typing again clears it."""
    page.event_combo.setCurrentIndex(page.event_combo.findText("IP removed"))
    qtbot.keyClicks(page.address_edit, "192.0.2.10")
    _wait_filtered(qtbot, page)
    assert set(column(page.model, ADDRESS)) == {"192.0.2.10"}
    at_address = _expected(now, lambda i: i % 2 == 1 and i % 5 == 0)
    assert page.count_label.text() == f"{at_address} events"

    page.address_edit.clear()
    qtbot.keyClicks(page.address_edit, "192.0.")  # how it starts
    _wait_filtered(qtbot, page)
    assert page.count_label.text() == f"{at_address} events"
    page.address_edit.clear()
    qtbot.keyClicks(page.address_edit, "10.")
    _wait_filtered(qtbot, page)
    assert page.count_label.text() == "No events match these filters."

    page.address_edit.clear()
    qtbot.keyClicks(page.address_edit, "192.0.2.x")
    qtbot.waitUntil(lambda: page.message.isVisible(), timeout=10_000)
    assert page.message.text() == "Type an IP address (192.0.2.10) or how it starts (192.0.2.)."
    assert page.address_edit.property("invalid") is True
    assert page.address_edit.text() == "192.0.2.x", "what was typed stays"
    qtbot.keyClick(page.address_edit, Qt.Key.Key_Backspace)
    assert not page.address_edit.property("invalid")
    _wait_filtered(qtbot, page)
    assert not page.message.isVisible()
    assert page.count_label.text() == f"{at_address} events"


def test_filter_by_event_and_family(qtbot: QtBot, page: LogPage, now: datetime) -> None:
    page.event_combo.setCurrentIndex(page.event_combo.findText("IP removed"))
    _wait_filtered(qtbot, page)
    assert set(column(page.model, EVENT)) == {"IP removed"}
    assert page.model.rowCount() == _expected(now, lambda i: i % 5 == 0)

    page.event_combo.setCurrentIndex(page.event_combo.findText("All trusted IP changes"))
    _wait_filtered(qtbot, page)
    assert set(column(page.model, EVENT)) == {"IP removed", "IP trusted"}
    assert page.model.rowCount() == _expected(now, lambda i: i % 5 in {0, 4})


def test_filter_by_date(qtbot: QtBot, page: LogPage, now: datetime) -> None:
    def local_day(i: int) -> date:
        return seeded(i, now)[0].astimezone().date()

    page.period_combo.setCurrentIndex(page.period_combo.findData("range"))
    assert page.from_edit.isVisible() and page.to_edit.isVisible()
    day = local_day(100)
    page.from_edit.setDate(QDate(day.year, day.month, day.day))
    page.to_edit.setDate(QDate(day.year, day.month, day.day))
    _wait_filtered(qtbot, page)
    expected = _expected(now, lambda i: local_day(i) == day)
    assert 20 <= expected <= 25
    assert page.model.rowCount() == expected
    assert {t.rsplit(" ", 1)[0] for t in column(page.model, TIME)} == {f"{day.day} {day:%b %Y}"}

    page.period_combo.setCurrentIndex(page.period_combo.findData("7"))
    assert not page.from_edit.isVisible()
    _wait_filtered(qtbot, page)
    first = date.today() - timedelta(days=6)
    page.table.scrollToBottom()
    qtbot.waitUntil(lambda: log_idle(page) and page.model.exhausted)
    assert page.model.rowCount() == _expected(now, lambda i: local_day(i) >= first)


def test_export_to_csv_writes_the_filtered_rows(
    qtbot: QtBot, page: LogPage, now: datetime, tmp_path: Path
) -> None:
    page.event_combo.setCurrentIndex(page.event_combo.findText("IP removed"))
    _wait_filtered(qtbot, page)
    qtbot.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.export_dialog is not None and page.export_dialog.isVisible())
    dialog = page.export_dialog
    assert isinstance(dialog, QFileDialog)
    assert dialog.acceptMode() == QFileDialog.AcceptMode.AcceptSave
    target = tmp_path / "trail"
    dialog.selectFile(str(target))
    dialog.accept()
    qtbot.waitUntil(lambda: log_idle(page) and page.message.isVisible())
    written = tmp_path / "trail.csv"
    expected = _expected(now, lambda i: i % 5 == 0)
    assert page.message.text() == f"{expected} events exported to {written}."
    with written.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    # What the list shows: its titles, event names and local times; then UTC for machines.
    titles = [
        page.model.headerData(c, Qt.Orientation.Horizontal) for c in range(page.model.columnCount())
    ]
    assert rows[0] == [*titles, "Time (UTC)"]
    assert len(rows) == expected + 1
    assert {r[2] for r in rows[1:]} == {"IP removed"}
    shown = [page.model.data(page.model.index(0, c)) for c in range(page.model.columnCount())]
    # The time as a spreadsheet reads it, whatever the app's language; the rest as shown.
    local = seeded(0, now)[0].astimezone()
    assert rows[1][:7] == [f"{local:%Y-%m-%d %H:%M:%S}", *(csv_safe(str(c)) for c in shown[1:])]
    assert rows[1][7] == seeded(0, now)[0].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert any(r[6].startswith("'=") for r in rows[1:])  # formulas are neutralised


def test_export_failure_is_a_clear_message(qtbot: QtBot, page: LogPage, tmp_path: Path) -> None:
    page.export_to(tmp_path / "no-such-folder" / "log.csv")
    qtbot.waitUntil(lambda: log_idle(page) and page.message.isVisible())
    assert page.message.role == "error"
    assert page.message.text().startswith("The file could not be written: ")
    assert page.export_button.isEnabled()


# ----- who sees it --------------------------------------------------------------------------------


def test_only_groups_with_log_read_see_the_log(
    qtbot: QtBot,
    ui_app: App,
    admin_id: int,
    tasks: TaskManager,
    session_for: Callable[[int, str, str], Session],
) -> None:
    group = add_group(ui_app.db, "Planners", {"system": "r"})
    person = add_person(ui_app.db, "planner", group_id=group, last_name="Planner")
    window = MainWindow(ui_app, session_for(person, "planner", "P. Planner"), tasks)
    qtbot.addWidget(window)
    assert "log" not in window.pages

    auditors = add_group(ui_app.db, "Auditors", {SYSTEM_LOG.key: "r"})
    auditor = add_person(ui_app.db, "auditor", group_id=auditors, last_name="Auditor")
    window2 = MainWindow(ui_app, session_for(auditor, "auditor", "An Auditor"), tasks)
    qtbot.addWidget(window2)
    window2.show()
    page = open_page(qtbot, window2, "log")
    assert isinstance(page, LogPage)
    qtbot.waitUntil(lambda: log_idle(page) and page.count_label.text() != "")
    assert page.message.role != "error"


# ----- screenshot ---------------------------------------------------------------------------------


REALISTIC = [
    # minutes ago, actor, event, subject, address, workstation, detail
    (3, "jsmets", "ip.removed", "speeters", "192.0.2.10", "ws-office-01",
     "address 81.164.20.7, trusted since 2026-11-02 18:40:12 UTC (#212)"),
    (9, "speeters", "login.succeeded", "speeters", "192.0.2.23", "ws-reception",
     "trusted address #188, created 28 Nov 2026 09:12 UTC by speeters on ws-reception"),
    (14, "speeters", "code.sent", "speeters", "192.0.2.23", "ws-reception",
     "to s***@garage-peeters.be by e-mail"),
    (15, "speeters", "login.code_required", "speeters", "192.0.2.23", "ws-reception", ""),
    (41, "jsmets", "2fa.enabled", "two-step authentication", "192.0.2.10", "ws-office-01",
     "accepted that 1 cannot receive a code: amaes"),
    (47, "jsmets", "setting.changed", "code delivery", "192.0.2.10", "ws-office-01",
     "changed: method, smtp_host, smtp_from"),
    (55, "jsmets", "mail.test_sent", "jm@insypro.com", "192.0.2.10", "ws-office-01",
     "E-mail via smtp.insypro.com:587 (STARTTLS)"),
    (63, "jsmets", "permission.changed", "Reception", "192.0.2.10", "ws-office-01",
     "Planning: read → read+edit"),
    (70, "ljanssens", "login.refused", "ljanssens", "198.51.100.4", "ws-workshop-2",
     "wrong password"),
    (71, "ljanssens", "login.refused", "ljanssens", "198.51.100.4", "ws-workshop-2",
     "wrong password"),
    (90, "jsmets", "account.unlocked", "cdubois", "192.0.2.10", "ws-office-01", ""),
    (125, "system: expiry sweep", "ip.expired", "kwouters", "", "ws-office-01",
     "address 192.0.2.77, trusted since 2026-10-28 07:58:03 UTC (#97)"),
    (180, "jsmets", "person.updated", "amaes", "192.0.2.10", "ws-office-01", "email, mobile"),
    (260, "cdubois", "code.failed", "cdubois", "192.0.2.31", "ws-office-02", "4 attempts left"),
    (262, "cdubois", "account.locked", "cdubois", "192.0.2.31", "ws-office-02",
     "10 failures in a row: locked for 1 min"),
    (300, "jsmets", "group.created", "Reception", "192.0.2.10", "ws-office-01", ""),
    (420, "kwouters", "ip.trusted", "kwouters", "192.0.2.77", "ws-workshop-1",
     "address 192.0.2.77"),
    (421, "kwouters", "login.succeeded", "kwouters", "192.0.2.77", "ws-workshop-1",
     "security code"),
    (600, "jsmets", "person.created", "amaes", "192.0.2.10", "ws-office-01", ""),
]  # fmt: skip


def test_screenshot(
    qtbot: QtBot,
    ui_app: App,
    owner_db: Database,
    admin_id: int,
    main_window: MainWindow,
    tmp_path: Path,
) -> None:
    """docs/screenshots/log.png (PMDESK_SCREENSHOTS=1), with a realistic morning's trail."""
    with owner_db.session() as s:
        s.execute(delete(AuditEvent))
        moment = ui_app.context.clock.now(s)
        for minutes, actor, event, subject, address, workstation, detail in reversed(REALISTIC):
            s.add(
                AuditEvent(
                    occurred_at=moment - timedelta(minutes=minutes),
                    actor=actor,
                    event=event,
                    subject=subject,
                    address=address,
                    workstation=workstation,
                    detail=detail,
                )
            )
    page = open_page(qtbot, main_window, "log")
    assert isinstance(page, LogPage)
    qtbot.waitUntil(lambda: log_idle(page) and page.model.rowCount() == len(REALISTIC))
    page.table.selectRow(0)
    window = page.window()
    capture(window, "log", screenshot_dir(tmp_path / "screenshots"))
    not_clipped(window)


def test_break_glass_rows_are_highlighted(
    qtbot: QtBot, page: LogPage, ui_app: App, admin_id: int
) -> None:
    """A recovery run with the database owner's credentials stands out in the Log."""
    from PySide6.QtGui import QColor, QFont

    from pmdesk.core import recovery
    from pmdesk.ui.system.log_model import HIGHLIGHT_BACKGROUND

    recovery.unlock(ui_app.context, "jsmets")
    page.refresh()
    qtbot.waitUntil(
        lambda: log_idle(page) and column(page.model, EVENT)[0] == "Break-glass recovery"
    )
    model = page.model
    assert model.data(model.index(0, ACTOR)).startswith("break-glass: ")
    assert model.data(model.index(0, SUBJECT)) == "jsmets"
    background = model.data(model.index(0, EVENT), Qt.ItemDataRole.BackgroundRole)
    assert isinstance(background, QColor) and background == HIGHLIGHT_BACKGROUND
    font = model.data(model.index(0, EVENT), Qt.ItemDataRole.FontRole)
    assert isinstance(font, QFont) and font.bold()
    assert model.data(model.index(1, EVENT), Qt.ItemDataRole.BackgroundRole) is None

    # And it is what the screen shows: the row is painted in the highlight colour.
    page.table.clearSelection()
    rect = page.table.visualRect(model.index(0, SUBJECT))
    image = page.table.viewport().grab().toImage()
    ratio = image.devicePixelRatio()
    pixel = image.pixelColor(int((rect.right() - 3) * ratio), int(rect.center().y() * ratio))
    assert abs(pixel.red() - background.red()) < 12
    assert abs(pixel.green() - background.green()) < 12
    assert abs(pixel.blue() - background.blue()) < 12


# ----- language ---------------------------------------------------------------------------------


def _titles(page: LogPage) -> list[str]:
    model = page.model
    return [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]


def _periods(page: LogPage) -> list[str]:
    return [page.period_combo.itemText(i) for i in range(page.period_combo.count())]


def test_the_open_log_switches_language_at_once(qtbot: QtBot, page: LogPage, now: datetime) -> None:
    """The header's language switch: the open Log's column titles, periods, event names and
    times change at once (the view is told), and back again."""
    model = page.model
    told: list[object] = []
    model.headerDataChanged.connect(lambda *_args: told.append("header"))
    model.dataChanged.connect(lambda *_args: told.append("data"))
    first_time = seeded(0, now)[0].astimezone()
    try:
        assert install_translation("fr-BE")
        qtbot.waitUntil(lambda: page.export_button.text() == "Exporter en CSV…")
        assert _titles(page) == [
            "Heure",
            "Auteur",
            "Événement",
            "Objet",
            "Adresse",
            "Poste de travail",
            "Détail",
        ]
        assert _periods(page) == [
            "Toute période",
            "Aujourd'hui",
            "7 derniers jours",
            "30 derniers jours",
            "Entre…",
        ]
        assert {"header", "data"} <= set(told)
        # the core's Qt-free mail dates, themselves checked against QLocale's month names
        assert model.data(model.index(0, TIME)) == mail_time(
            first_time.astimezone(), "fr-BE", seconds=True
        )
        assert model.data(model.index(0, EVENT)) == "IP retirée"
        assert page.event_combo.itemText(0) == "Tous les événements"
        assert page.count_label.text().startswith("Les 200 événements les plus récents")
    finally:
        install_translation("en-GB")
    qtbot.waitUntil(lambda: page.export_button.text() == "Export to CSV…")
    assert _titles(page)[:3] == ["Time", "Actor", "Event"]
    assert _periods(page)[0] == "Any time"
    assert model.data(model.index(0, TIME)) == f"{first_time.day} {first_time:%b %Y %H:%M:%S}"
    assert model.data(model.index(0, EVENT)) == "IP removed"
