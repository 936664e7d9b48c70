"""The "Trace" window: everyone and every event at one address, from System → Security's
trusted IP list and from a row of System → Log (issue 16, item 5)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, Qt
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core import audit
from pmdesk.core.audit import Event
from pmdesk.core.clock import DatabaseClock
from pmdesk.core.context import Actor
from pmdesk.core.db import Database
from pmdesk.core.modules import SYSTEM_SECURITY
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.system.log import LogPage
from pmdesk.ui.system.security import SecurityPage
from pmdesk.ui.system.trace_dialog import TraceDialog
from pmdesk.ui.system.trusted_ips_model import ADDRESS
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import install_translation
from tests.helpers.databases import stage
from tests.helpers.qt import column
from tests.helpers.relay_codes import relay_settled
from tests.helpers.staff import add_group, add_person
from tests.ui.screenshots import capture, screenshot_dir
from tests.ui.system_pages import not_clipped, open_page

HOME = "83.134.100.157"
OTHER = Actor.system("another workstation")


def _seed(app: App, owner_db: Database) -> None:
    sofie = add_person(app.db, "speeters", first_name="Sofie", last_name="Peeters")
    luc = add_person(app.db, "ljanssens", first_name="Luc", last_name="Janssens")
    trusted = TrustedIpService(app.context)
    trusted.trust_by_admin(OTHER, sofie, HOME)
    trusted.trust_by_admin(OTHER, luc, HOME)
    trusted.trust_by_admin(OTHER, luc, "192.0.2.44")
    with stage(owner_db) as s:
        for who, address in (("speeters", HOME), ("ljanssens", HOME), ("cdubois", "192.0.2.9")):
            there = Actor(who, person_id=None, address=address, workstation="WS-07")
            audit.record(s, DatabaseClock(), there, Event.LOGIN_SUCCEEDED, subject=who)
    if owner_db is not app.db:  # hardened: the relay sends the trust alerts, and logs them
        relay_settled(owner_db)


def _wait_trace(qtbot: QtBot, dialog: TraceDialog) -> None:
    qtbot.waitUntil(lambda: dialog.trace is not None or dialog.message.isVisible(), timeout=10_000)


def test_trace_from_the_trusted_ip_list(
    qtbot: QtBot, ui_app: App, owner_db: Database, main_window: MainWindow, tmp_path: Path
) -> None:
    _seed(ui_app, owner_db)
    page = open_page(qtbot, main_window, "security")
    assert isinstance(page, SecurityPage)
    qtbot.waitUntil(lambda: page.model.rowCount() == 3, timeout=10_000)
    assert not page.ips.trace_button.isEnabled(), "nothing chosen yet"
    page.table.selectRow(column(page.model, ADDRESS).index(HOME))
    assert page.ips.trace_button.isEnabled()
    page.table.selectAll()
    assert not page.ips.trace_button.isEnabled(), "one address at a time"
    page.table.clearSelection()
    page.table.selectRow(column(page.model, ADDRESS).index(HOME))

    qtbot.mouseClick(page.ips.trace_button, Qt.MouseButton.LeftButton)
    dialog = page.findChild(TraceDialog)
    assert dialog is not None
    _wait_trace(qtbot, dialog)
    assert dialog.heading.text() == f"{HOME} · Outside office networks"
    assert dialog.trusted_label.text() == "Trusted for 2 people"
    logins = {dialog.trusted_table.item(r, 0).text() for r in range(2)}
    assert logins == {"speeters", "ljanssens"}
    # Their sign-ins there, and the trust alerts that went to each of them (trust_alerts.py).
    assert dialog.events_label.text() == "Events at this address (4, newest first)"
    actors = {dialog.events_table.item(r, 1).text() for r in range(4)}
    assert actors == {"speeters", "ljanssens"}, "only this address's events"
    assert dialog.seen_label.text() == "Seen there: ljanssens, speeters"
    qtbot.waitExposed(dialog)
    not_clipped(dialog)
    capture(dialog, "security-trace", screenshot_dir(tmp_path))
    dialog.reject()


def test_trace_from_a_row_of_the_log(
    qtbot: QtBot, ui_app: App, owner_db: Database, main_window: MainWindow
) -> None:
    _seed(ui_app, owner_db)
    page = open_page(qtbot, main_window, "log")
    assert isinstance(page, LogPage)
    qtbot.waitUntil(lambda: not page.model.loading and page.model.rowCount() >= 3)
    rows = [page.model.row_at(r) for r in range(page.model.rowCount())]
    with_address = next(r for r, row in enumerate(rows) if row and row.address == "192.0.2.9")
    without = next(r for r, row in enumerate(rows) if row and not row.address)
    select = QItemSelectionModel.SelectionFlag.ClearAndSelect
    page.table.selectionModel().setCurrentIndex(page.model.index(without, 0), select)
    assert not page.trace_button.isEnabled(), "an event without an address"
    page.table.selectionModel().setCurrentIndex(page.model.index(with_address, 0), select)
    assert page.trace_button.isEnabled()
    qtbot.mouseClick(page.trace_button, Qt.MouseButton.LeftButton)
    dialog = page.findChild(TraceDialog)
    assert dialog is not None
    _wait_trace(qtbot, dialog)
    assert dialog.heading.text() == "192.0.2.9 · Outside office networks"
    assert dialog.trusted_label.text() == "Trusted for nobody"
    assert dialog.events_table.rowCount() == 1
    assert dialog.events_table.item(0, 1).text() == "cdubois"
    assert dialog.seen_label.text() == "Seen there: cdubois"
    # The header's language switch reaches the open window at once, and back.
    try:
        assert install_translation("fr-BE")
        qtbot.waitUntil(lambda: dialog.windowTitle() == "Traçage 192.0.2.9")
        assert dialog.trusted_label.text() == "De confiance pour personne"
        assert dialog.events_table.horizontalHeaderItem(0).text() == "Heure"
        assert dialog.events_table.item(0, 2).text() == "Connexion réussie"
    finally:
        install_translation("en-GB")
    qtbot.waitUntil(lambda: dialog.windowTitle() == "Trace 192.0.2.9")
    assert dialog.events_table.item(0, 2).text() == "Login succeeded"
    dialog.reject()


def test_without_the_logs_right_the_trace_says_so(
    qtbot: QtBot, ui_app: App, owner_db: Database, tasks: TaskManager
) -> None:
    """The core checks: a person who may read Security but not the Log is told, not shown."""
    _seed(ui_app, owner_db)
    helpdesk = add_group(ui_app.db, "Helpdesk", {SYSTEM_SECURITY.key: "r"})
    person = add_person(ui_app.db, "helper", group_id=helpdesk)
    helper = Actor("helper", person_id=person, address="192.0.2.10")
    dialog = TraceDialog(ui_app.context, helper, tasks, HOME)
    qtbot.addWidget(dialog)
    dialog.show()
    _wait_trace(qtbot, dialog)
    assert dialog.trace is None
    assert dialog.message.text().startswith("Your user group may not see System → Log")
