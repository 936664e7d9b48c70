"""System → Security, driven as a user would: the 2FA toggle with its readiness report, the
trusted IP list (red icon, paging, filter, multi-select), trust settings and code delivery."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.modeltest import ModelTester
from pytestqt.qtbot import QtBot
from sqlalchemy import func, select

from pmdesk.bootstrap import App
from pmdesk.core.context import Actor
from pmdesk.core.delivery.base import DeliverySettings
from pmdesk.core.models import GroupPermission, TrustedIp
from pmdesk.core.modules import SYSTEM, SYSTEM_SECURITY
from pmdesk.core.security import SecurityService
from pmdesk.core.server.relay_status import RelayReport, relay_down
from pmdesk.core.trusted_ip_row import TrustedIpRow
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.secrets import sms_key, smtp_key
from pmdesk.ui.background import BackgroundServices
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.page_context import Session
from pmdesk.ui.reconnect import Backoff
from pmdesk.ui.system.security import ReadinessDialog, SecurityPage
from pmdesk.ui.system.trusted_ips_model import (
    ADDRESS,
    CREATED,
    EXPIRES,
    ID,
    REASONS,
    REMOVE,
    USER,
)
from pmdesk.ui.tasks import TaskManager
from tests.helpers import hardened
from tests.helpers.qt import answer, column, security_idle, visible_box
from tests.helpers.smtp import SmtpServer
from tests.helpers.staff import add_group, add_person
from tests.helpers.trusted_ips import trust_addresses
from tests.ui.screenshots import capture, screenshot_dir
from tests.ui.system_pages import not_clipped, open_page, security_page_of

OTHER = Actor.system("another workstation")
N_IPS = 45


# ----- set-up -----------------------------------------------------------------------------------


def address(i: int) -> str:
    """The address of the i-th seeded row (0 = the newest)."""
    return f"10.1.{i}.{i % 7 + 1}"


def seed_trusted_ips(app: App, people: list[int], n: int = N_IPS) -> None:
    """``n`` trusted addresses, one an hour back from now, shared out among ``people``."""
    rows = [(people[i % len(people)], address(i), timedelta(hours=i + 1)) for i in range(n)]
    trust_addresses(app.db, rows, app.context.clock)


def ip_count(app: App) -> int:
    with app.db.session() as s:
        return int(s.execute(select(func.count(TrustedIp.id))).scalar_one())


def ip_exists(app: App, row_id: int) -> bool:
    with app.db.session() as s:
        return s.get(TrustedIp, row_id) is not None


@pytest.fixture
def staff(ui_app: App, admin_id: int) -> dict[str, int]:
    return {
        "jsmets": admin_id,
        "speeters": add_person(
            ui_app.db, "speeters", first_name="Sofie", last_name="Peeters", email="sofie@p.be"
        ),
        "amaes": add_person(ui_app.db, "amaes", first_name="An", last_name="Maes", email=""),
    }


@pytest.fixture
def page(qtbot: QtBot, ui_app: App, staff: dict[str, int], main_window: MainWindow) -> SecurityPage:
    seed_trusted_ips(ui_app, [staff["jsmets"], staff["speeters"], staff["amaes"]])
    widget = open_page(qtbot, main_window, "security")
    assert isinstance(widget, SecurityPage)
    qtbot.waitUntil(lambda: security_idle(widget) and widget.model.current_page is not None)
    return widget


def _wait_page(qtbot: QtBot, page: SecurityPage, label: str) -> None:
    qtbot.waitUntil(lambda: security_idle(page) and page.paging_label.text() == label)


def _click_cell(qtbot: QtBot, page: SecurityPage, row: int, column: int) -> None:
    rect = page.table.visualRect(page.model.index(row, column))
    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


# ----- who sees what ----------------------------------------------------------------------------


def test_a_group_without_security_rights_does_not_see_the_tab(
    qtbot: QtBot,
    ui_app: App,
    admin_id: int,
    tasks: TaskManager,
    session_for: Callable[[int, str, str], Session],
) -> None:
    group = add_group(ui_app.db, "Planners", {SYSTEM.key: "re", "planning": "red"})
    person = add_person(ui_app.db, "planner", group_id=group, last_name="Planner")
    window = MainWindow(ui_app, session_for(person, "planner", "P. Planner"), tasks)
    qtbot.addWidget(window)
    window.show()
    assert "permissions" in window.pages
    assert "security" not in window.pages
    system_tabs = window.findChild(QWidget, "systemTabs")
    titles = [system_tabs.tabText(i) for i in range(system_tabs.count())]  # type: ignore[attr-defined]
    assert "Security" not in titles

    security_only = add_group(ui_app.db, "Helpdesk", {SYSTEM_SECURITY.key: "r"})
    helper = add_person(ui_app.db, "helper", group_id=security_only, last_name="Helper")
    window2 = MainWindow(ui_app, session_for(helper, "helper", "H. Helper"), tasks)
    qtbot.addWidget(window2)
    assert "security" in window2.pages and "permissions" not in window2.pages


def test_read_only_group_sees_but_cannot_change(
    qtbot: QtBot,
    ui_app: App,
    staff: dict[str, int],
    tasks: TaskManager,
    session_for: Callable[[int, str, str], Session],
) -> None:
    seed_trusted_ips(ui_app, [staff["speeters"]], 3)
    group = add_group(ui_app.db, "Helpdesk", {SYSTEM_SECURITY.key: "r"})
    helper = add_person(ui_app.db, "helper", group_id=group, last_name="Helper")
    session = session_for(helper, "helper", "H. Helper")
    page = security_page_of(qtbot, ui_app, session, tasks, (1280, 820))
    qtbot.waitUntil(lambda: security_idle(page) and page.model.rowCount() == 3)
    assert not page.two_factor_button.isEnabled()
    assert not page.trust.trust_days_spin.isEnabled()
    assert not page.mail_box.method_combo.isEnabled()
    page.table.selectRow(0)
    assert not page.ips.remove_button.isEnabled()
    assert "Security Delete" in page.ips.remove_button.toolTip()
    _click_cell(qtbot, page, 0, REMOVE)  # the red icon does nothing without Delete
    qtbot.wait(50)
    assert not any(b.isVisible() for b in page.findChildren(QMessageBox))
    assert ip_count(ui_app) == 3


@pytest.mark.not_hardened(
    "takes System → Security's Edit right from everyone, which a hardened server refuses as "
    "leaving nobody to administer it (tests/core/test_server_rules.py); a clerk's refused "
    "change is shown by the screens' other tests there"
)
def test_a_refusal_by_the_service_is_shown(qtbot: QtBot, page: SecurityPage, ui_app: App) -> None:
    """Rights are read at sign-in; when they were taken away since, the service says no."""
    with ui_app.db.session() as s:
        for row in s.execute(
            select(GroupPermission).where(GroupPermission.module_key == SYSTEM_SECURITY.key)
        ).scalars():
            row.can_edit = False
    page.trust.trust_days_spin.setValue(14)
    qtbot.mouseClick(page.trust.trust_save_button, Qt.MouseButton.LeftButton)
    answer(qtbot, page, "Shorten")  # the preview only reads: Security Read is still there
    qtbot.waitUntil(lambda: security_idle(page) and page.trust.trust_message.isVisible())
    assert page.trust.trust_message.role == "error"
    assert page.trust.trust_message.text().startswith(
        "Your user group may not change System → Security."
    )


# ----- connection status ------------------------------------------------------------------------


def test_connection_status_and_workstation_address(page: SecurityPage, ui_app: App) -> None:
    expected = (
        "Embedded database on this computer (no network link)"
        if ui_app.db.is_sqlite
        else "Encryption: none (server on this computer only)"
    )
    assert page.database_status.text() == expected
    mail = page.mail_status.text().splitlines()
    assert mail[-1].startswith("Outbox folder")
    if not ui_app.db.is_sqlite:  # the relay sends the codes, with the settings shown below
        assert mail[0].startswith("Sent by the relay on ")
    assert page.address_label.text() not in {"", "…"}


# ----- two step authentication --------------------------------------------------------------------


def test_enabling_two_step_lists_who_would_be_shut_out(
    qtbot: QtBot, page: SecurityPage, ui_app: App
) -> None:
    assert page.two_factor_button.text() == "Turn on…"
    qtbot.mouseClick(page.two_factor_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.readiness_dialog is not None and page.readiness_dialog.isVisible())
    dialog = page.readiness_dialog
    assert isinstance(dialog, ReadinessDialog)
    model = dialog.model
    rows = [
        [model.data(model.index(r, c)) for c in range(model.columnCount())]
        for r in range(model.rowCount())
    ]
    assert rows == [["An Maes", "amaes", "no e-mail address"]]
    assert dialog.confirm_button.text() == "Enable anyway"
    assert dialog.findChild(QWidget, "readinessTitle").text() == (  # type: ignore[union-attr]
        "1 person could not receive a security code."
    )
    assert SecurityService(ui_app.context).get(OTHER).two_factor_enabled is False
    # Sized to its text at its width: no empty band above the buttons.
    assert dialog.height() <= dialog.heightForWidth(dialog.width()) + 2

    qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and page.two_factor_button.text() == "Turn off…")
    assert SecurityService(ui_app.context).get(OTHER).two_factor_enabled is True
    assert page.message.text() == "Two-step authentication is on."

    qtbot.mouseClick(page.two_factor_button, Qt.MouseButton.LeftButton)
    assert answer(qtbot, page, "Turn off") == "Turn two-step authentication off?"
    qtbot.waitUntil(lambda: security_idle(page) and page.two_factor_button.text() == "Turn on…")
    assert SecurityService(ui_app.context).get(OTHER).two_factor_enabled is False


def test_cancelling_the_readiness_report_changes_nothing(
    qtbot: QtBot, page: SecurityPage, ui_app: App
) -> None:
    qtbot.mouseClick(page.two_factor_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.readiness_dialog is not None and page.readiness_dialog.isVisible())
    dialog = page.readiness_dialog
    assert dialog is not None
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.readiness_dialog is None)
    qtbot.wait(50)
    assert security_idle(page)
    assert page.two_factor_button.text() == "Turn on…"
    assert SecurityService(ui_app.context).get(OTHER).two_factor_enabled is False


def test_readiness_model(qtmodeltester: ModelTester, qtbot: QtBot, page: SecurityPage) -> None:
    qtbot.mouseClick(page.two_factor_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.readiness_dialog is not None)
    assert page.readiness_dialog is not None
    qtmodeltester.check(page.readiness_dialog.model)
    page.readiness_dialog.reject()


# ----- the trusted IP list ----------------------------------------------------------------------


def test_trusted_ip_model_passes_the_model_tester(
    qtmodeltester: ModelTester, page: SecurityPage
) -> None:
    qtmodeltester.check(page.model)


def test_columns_and_newest_first(page: SecurityPage) -> None:
    model = page.model
    titles = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert titles == ["Id", "IP", "Network", "Creation Date", "User", "Expires", "Reasons", ""]
    assert page.ips.table.isColumnHidden(REASONS), "Reasons only in the Needs review list"
    assert page.paging_label.text() == "Viewing items 1-20 of 45"
    assert column(page.model, ADDRESS)[:3] == [address(0), address(1), address(2)]
    assert column(page.model, USER)[:3] == ["Jean-Marie Smets", "Sofie Peeters", "An Maes"]
    assert model.data(model.index(0, REMOVE), Qt.ItemDataRole.DecorationRole) is not None
    tip = model.data(model.index(0, CREATED), Qt.ItemDataRole.ToolTipRole)
    assert tip.endswith("UTC")


def test_paging_with_previous_and_next(qtbot: QtBot, page: SecurityPage) -> None:
    first = column(page.model, ID)
    assert len(first) == 20
    assert not page.ips.previous_button.isEnabled() and page.next_button.isEnabled()
    qtbot.mouseClick(page.next_button, Qt.MouseButton.LeftButton)
    _wait_page(qtbot, page, "Viewing items 21-40 of 45")
    second = column(page.model, ID)
    assert len(second) == 20 and not set(first) & set(second)
    assert column(page.model, ADDRESS)[0] == address(20)
    qtbot.mouseClick(page.next_button, Qt.MouseButton.LeftButton)
    _wait_page(qtbot, page, "Viewing items 41-45 of 45")
    assert len(column(page.model, ID)) == 5
    assert not page.next_button.isEnabled()
    assert page.ips.page_label.text() == "3"
    qtbot.mouseClick(page.ips.previous_button, Qt.MouseButton.LeftButton)
    _wait_page(qtbot, page, "Viewing items 21-40 of 45")
    assert column(page.model, ID) == second
    qtbot.mouseClick(page.ips.previous_button, Qt.MouseButton.LeftButton)
    _wait_page(qtbot, page, "Viewing items 1-20 of 45")
    assert column(page.model, ID) == first


def test_red_icon_removes_that_row(qtbot: QtBot, page: SecurityPage, ui_app: App) -> None:
    row_id = int(column(page.model, ID)[1])
    address = column(page.model, ADDRESS)[1]
    _click_cell(qtbot, page, 1, REMOVE)
    question = answer(qtbot, page, "Remove")
    assert question == f"Remove the trusted address {address} of Sofie Peeters?"
    _wait_page(qtbot, page, "Viewing items 1-20 of 44")
    assert address not in column(page.model, ADDRESS)
    assert not ip_exists(ui_app, row_id)
    assert page.ips.undo_bar.message.text() == "Removed 1 trusted address."


def test_cancel_keeps_the_row(qtbot: QtBot, page: SecurityPage, ui_app: App) -> None:
    row_id = int(column(page.model, ID)[0])
    _click_cell(qtbot, page, 0, REMOVE)
    answer(qtbot, page, "Cancel")
    qtbot.wait(50)
    assert ip_exists(ui_app, row_id)
    assert page.paging_label.text() == "Viewing items 1-20 of 45"


def test_select_several_and_remove_them(qtbot: QtBot, page: SecurityPage, ui_app: App) -> None:
    ids = [int(i) for i in column(page.model, ID)]
    _click_cell(qtbot, page, 2, ADDRESS)
    rect = page.table.visualRect(page.model.index(4, ADDRESS))
    qtbot.mouseClick(
        page.table.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.ShiftModifier,
        rect.center(),
    )
    rect = page.table.visualRect(page.model.index(7, ADDRESS))
    qtbot.mouseClick(
        page.table.viewport(),
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.ControlModifier,
        rect.center(),
    )
    assert page.ips.selected_ids() == [ids[2], ids[3], ids[4], ids[7]]
    assert page.ips.remove_button.text() == "Remove selected (4)"
    qtbot.mouseClick(page.ips.remove_button, Qt.MouseButton.LeftButton)
    assert answer(qtbot, page, "Remove") == "Remove 4 trusted addresses?"
    _wait_page(qtbot, page, "Viewing items 1-20 of 41")
    assert page.ips.undo_bar.message.text() == "Removed 4 trusted addresses."
    for gone in (ids[2], ids[3], ids[4], ids[7]):
        assert not ip_exists(ui_app, gone)
    assert ip_count(ui_app) == N_IPS - 4


def test_remove_selected_stays_greyed_while_a_removal_runs(
    qtbot: QtBot, page: SecurityPage, ui_app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second click (or Delete) while the first removal is on its way asks nothing more."""
    row_id = int(column(page.model, ID)[2])
    release = threading.Event()
    remove = page.ips.ip_service.remove

    def slow_remove(actor: Actor, ids: list[int], seen: list[TrustedIpRow]) -> int:
        release.wait(10)  # a slow database: the removal is still running meanwhile
        assert [r.id for r in seen] == ids  # as the list shows them: the one-trip way
        return remove(actor, ids, seen)

    monkeypatch.setattr(page.ips.ip_service, "remove", slow_remove)
    _click_cell(qtbot, page, 2, ADDRESS)
    assert page.ips.remove_button.isEnabled()
    qtbot.mouseClick(page.ips.remove_button, Qt.MouseButton.LeftButton)
    answer(qtbot, page, "Remove")
    assert page.ips.removing.running
    assert not page.ips.remove_button.isEnabled()
    page.ips.remove_selected()  # the Delete key
    qtbot.wait(100)
    assert not any(box.isVisible() for box in page.findChildren(QMessageBox))
    release.set()
    _wait_page(qtbot, page, "Viewing items 1-20 of 44")
    assert page.ips.undo_bar.message.text() == "Removed 1 trusted address."
    assert not ip_exists(ui_app, row_id)


def test_filter_by_user_or_address(qtbot: QtBot, page: SecurityPage) -> None:
    before = page.model.requests
    qtbot.keyClicks(page.filter_edit, "speet")
    qtbot.waitUntil(lambda: security_idle(page) and page.model.filter_text == "speet")
    assert page.model.requests == before + 1  # one query once typing paused
    assert set(column(page.model, USER)) == {"Sofie Peeters"}
    assert page.paging_label.text() == "Viewing items 1-15 of 15"

    page.filter_edit.clear()
    qtbot.keyClicks(page.filter_edit, "10.1.4")  # the start of an address
    qtbot.waitUntil(lambda: security_idle(page) and page.model.filter_text == "10.1.4")
    assert column(page.model, ADDRESS) == [address(4), *(address(i) for i in range(40, 45))]

    page.filter_edit.clear()
    qtbot.keyClicks(page.filter_edit, address(7))  # a whole address: that address only
    qtbot.waitUntil(lambda: security_idle(page) and page.model.filter_text == address(7))
    assert column(page.model, ADDRESS) == [address(7)]

    page.filter_edit.clear()
    qtbot.keyClicks(page.filter_edit, "nobody")
    qtbot.waitUntil(lambda: security_idle(page) and page.model.filter_text == "nobody")
    assert page.model.rowCount() == 0
    assert page.paging_label.text() == "No items found."
    assert page.ips.empty_label.text() == "No trusted address matches “nobody”."

    page.filter_edit.clear()
    _wait_page(qtbot, page, "Viewing items 1-20 of 45")


def test_changes_elsewhere_reload_the_same_page_keeping_the_selection(
    qtbot: QtBot, page: SecurityPage, ui_app: App
) -> None:
    qtbot.mouseClick(page.next_button, Qt.MouseButton.LeftButton)
    _wait_page(qtbot, page, "Viewing items 21-40 of 45")
    ids = [int(i) for i in column(page.model, ID)]
    page.table.selectionModel().select(
        page.model.index(5, 0),
        QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows,
    )
    with ui_app.db.session() as s:  # another workstation removes a row on this page
        row = s.get(TrustedIp, ids[0])
        assert row is not None
        s.delete(row)
    page.trusted_ips_changed_elsewhere()
    page.trusted_ips_changed_elsewhere()  # a burst of notifications: one reload
    _wait_page(qtbot, page, "Viewing items 21-40 of 44")
    assert ids[0] not in [int(i) for i in column(page.model, ID)]
    assert page.ips.selected_ids() == [ids[5]]


def test_trust_period_setting(qtbot: QtBot, page: SecurityPage, ui_app: App) -> None:
    assert page.trust.trust_days_spin.value() == 30 and page.trust.code_ttl_spin.value() == 10
    expires_before = column(page.model, EXPIRES)[0]
    assert page.trust.session_hours_spin.value() == 8
    page.trust.trust_days_spin.setValue(7)
    page.trust.code_ttl_spin.setValue(5)
    page.trust.session_hours_spin.setValue(4)
    assert page.has_unsaved_changes()
    assert page.window().unsaved_pages() == ["security"]  # type: ignore[attr-defined]
    qtbot.mouseClick(page.trust.trust_save_button, Qt.MouseButton.LeftButton)
    box = visible_box(qtbot, page)
    assert box.text() == "Trust addresses for 7 days instead of 30?"
    assert box.informativeText() == "No trusted address is affected."  # all under 2 days old
    answer(qtbot, page, "Shorten")
    qtbot.waitUntil(lambda: security_idle(page) and page.trust.trust_message.text() == "Saved.")
    saved = SecurityService(ui_app.context).get(OTHER)
    assert (saved.trust_days, saved.code_ttl_minutes, saved.session_hours) == (7, 5, 4)
    assert page.window().unsaved_pages() == []  # type: ignore[attr-defined]
    qtbot.waitUntil(
        lambda: security_idle(page) and column(page.model, EXPIRES)[0] != expires_before
    )
    assert not page.has_unsaved_changes()


def test_a_shorter_trust_period_says_what_it_ends_and_asks_first(
    qtbot: QtBot, page: SecurityPage, ui_app: App, staff: dict[str, int]
) -> None:
    """Issue 16 §7: before a shorter period takes effect, how many addresses and people it
    affects; Cancel saves nothing and keeps what was typed."""
    trust_addresses(ui_app.db, [(staff["speeters"], "192.0.2.200", timedelta(days=10))])
    page.trust.trust_days_spin.setValue(7)
    qtbot.mouseClick(page.trust.trust_save_button, Qt.MouseButton.LeftButton)
    box = visible_box(qtbot, page)
    assert box.informativeText() == (
        "1 address stops being trusted, 1 person affected: their next sign-in asks for a code."
    )
    answer(qtbot, page, "Cancel")
    qtbot.waitUntil(lambda: security_idle(page))
    assert SecurityService(ui_app.context).get(OTHER).trust_days == 30
    assert page.trust.trust_days_spin.value() == 7 and page.has_unsaved_changes()

    qtbot.mouseClick(page.trust.trust_save_button, Qt.MouseButton.LeftButton)
    answer(qtbot, page, "Shorten")
    qtbot.waitUntil(lambda: security_idle(page) and page.trust.trust_message.text() == "Saved.")
    assert SecurityService(ui_app.context).get(OTHER).trust_days == 7


# ----- code delivery ------------------------------------------------------------------------------


@hardened.RELAY_DELIVERS
def test_send_test_code_to_the_outbox(qtbot: QtBot, page: SecurityPage, ui_app: App) -> None:
    box = page.mail_box
    assert box.method == "outbox"
    qtbot.keyClicks(box.test_edit, "jm@insypro.com")
    qtbot.mouseClick(box.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and box.message.isVisible())
    assert box.message.role == "success"
    assert box.message.text().startswith("Test code for jm@insypro.com written to ")
    files = list(Path(ui_app.context.outbox_default).glob("*.eml"))
    assert len(files) == 1 and str(files[0]) in box.message.text()


def test_invalid_smtp_settings_are_marked_next_to_each_field(
    qtbot: QtBot, page: SecurityPage, ui_app: App
) -> None:
    box = page.mail_box
    box.method_combo.setCurrentIndex(box.method_combo.findData("smtp"))
    assert box.visible_fields() == [
        "smtp_host",
        "smtp_port",
        "smtp_security",
        "smtp_username",
        "secret",
        "smtp_from",
    ]
    assert not box.edits["outbox_folder"].isVisible()
    qtbot.keyClicks(box.edits["smtp_host"], "not a host")
    box.edits["smtp_host"].editingFinished.emit()
    assert box.field_error("smtp_host") == "'not a host' is not a valid server name."
    assert not box.test_button.isEnabled()  # unsaved settings are not tested
    qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and box.message.isVisible())
    assert box.message.text() == "Not saved: correct the fields marked in red."
    assert box.field_error("smtp_from") == "Enter the sender address (From) for code mails."
    assert SecurityService(ui_app.context).get(OTHER).delivery.method == "outbox"


@hardened.RELAY_DELIVERS
def test_smtp_settings_password_in_the_keyring_and_a_real_test_mail(
    qtbot: QtBot, page: SecurityPage, ui_app: App, smtp_plain_server: SmtpServer
) -> None:
    box = page.mail_box
    box.method_combo.setCurrentIndex(box.method_combo.findData("smtp"))
    qtbot.keyClicks(box.edits["smtp_host"], "Mail.Example.com")
    box.security_combo.setCurrentIndex(box.security_combo.findData("tls"))
    assert box.port_spin.value() == 465  # follows the security's usual port
    qtbot.keyClicks(box.edits["smtp_username"], "codes")
    qtbot.keyClicks(box.edits["secret"], "s3cret-pass")
    qtbot.keyClicks(box.edits["smtp_from"], "pmdesk@example.com")
    qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and box.message.isVisible())
    assert box.message.role == "success", box.message.text()
    saved = SecurityService(ui_app.context).get(OTHER).delivery
    assert (saved.method, saved.smtp_host, saved.smtp_port, saved.smtp_security) == (
        "smtp",
        "mail.example.com",
        465,
        "tls",
    )
    assert ui_app.context.secrets.get(smtp_key("mail.example.com", "codes")) == "s3cret-pass"
    assert box.edits["secret"].text() == ""  # never shown back
    assert box.edits["secret"].placeholderText() == "stored in the keyring; type to replace"
    assert page.mail_status.text().endswith("Encryption: TLS")  # label: the core's words
    assert "mail.example.com:465" in page.mail_status.text()

    # Now a server that really answers: plain SMTP to a relay on this machine, no login.
    for name in ("smtp_host", "smtp_username"):
        box.edits[name].clear()
        box.edits[name].textEdited.emit("")
    qtbot.keyClicks(box.edits["smtp_host"], smtp_plain_server.host)
    box.security_combo.setCurrentIndex(box.security_combo.findData("none"))
    box.port_spin.setValue(smtp_plain_server.port)
    qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: security_idle(page) and box.message.role == "success" and box.test_edit.isEnabled()
    )
    qtbot.keyClicks(box.test_edit, "sofie@peeters.be")
    assert box.test_button.isEnabled()
    qtbot.mouseClick(box.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: security_idle(page) and "Test code sent" in box.message.text(), timeout=15_000
    )
    assert box.message.text().startswith("Test code sent to sofie@peeters.be (E-mail via ")
    assert len(smtp_plain_server.received) == 1
    assert smtp_plain_server.received[0].rcpt_tos == ["sofie@peeters.be"]


@hardened.RELAY_DELIVERS
def test_test_code_failure_is_a_clear_message(
    qtbot: QtBot, page: SecurityPage, closed_port: int
) -> None:
    box = page.mail_box
    box.method_combo.setCurrentIndex(box.method_combo.findData("smtp"))
    qtbot.keyClicks(box.edits["smtp_host"], "127.0.0.1")
    box.security_combo.setCurrentIndex(box.security_combo.findData("none"))
    box.port_spin.setValue(closed_port)
    qtbot.keyClicks(box.edits["smtp_from"], "pmdesk@example.com")
    qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and box.message.role == "success")
    qtbot.keyClicks(box.test_edit, "jm@insypro.com")
    qtbot.mouseClick(box.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and box.message.role == "error", timeout=15_000)
    assert "127.0.0.1" in box.message.text()
    assert not box.message.text().endswith("Error).")  # the core's sentence, not a class name


# ----- screenshots --------------------------------------------------------------------------------


def test_screenshots(
    qtbot: QtBot, ui_app: App, staff: dict[str, int], main_window: MainWindow, tmp_path: Path
) -> None:
    """docs/screenshots/security.png and security-2fa-readiness.png (PMDESK_SCREENSHOTS=1)."""
    folder = screenshot_dir(tmp_path / "screenshots")
    more = [
        add_person(ui_app.db, login, first_name=first, last_name=last, email=email)
        for login, first, last, email in (
            ("ljanssens", "Luc", "Janssens", "luc@janssens.be"),
            ("cdubois", "Camille", "Dubois", ""),
            ("kwouters", "Koen", "Wouters", "koen.wouters@example"),
        )
    ]
    seed_trusted_ips(ui_app, [staff["jsmets"], staff["speeters"], *more])
    service = SecurityService(ui_app.context)
    current = service.get(OTHER)
    service.update_delivery(
        OTHER,
        DeliverySettings(
            method="smtp",
            smtp_host="smtp.insypro.com",
            smtp_port=587,
            smtp_security="starttls",
            smtp_username="codes@insypro.com",
            smtp_from="planmanager@insypro.com",
        ),
        current.version,
    )
    ui_app.context.secrets.set(smtp_key("smtp.insypro.com", "codes@insypro.com"), "x")
    service.update(OTHER, service.get(OTHER).version, helpdesk_mailbox="helpdesk@insypro.com")
    page = open_page(qtbot, main_window, "security")
    assert isinstance(page, SecurityPage)
    qtbot.waitUntil(lambda: security_idle(page) and page.model.rowCount() == 20)
    page.table.selectRow(2)
    capture(main_window, "security", folder)
    not_clipped(main_window)
    bar = page.left_scroll.verticalScrollBar()
    bar.setValue(bar.maximum())
    capture(main_window, "security-delivery", folder)
    bar.setValue(0)

    qtbot.mouseClick(page.two_factor_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.readiness_dialog is not None and page.readiness_dialog.isVisible())
    dialog = page.readiness_dialog
    assert dialog is not None and dialog.model.rowCount() == 3
    capture(dialog, "security-2fa-readiness", folder)
    not_clipped(dialog)
    dialog.reject()


def test_spin_box_arrows_exist_and_draw(qapp: object) -> None:
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QIcon

    from pmdesk.ui.icons import style_sheet

    security = style_sheet().split("System → Security", 1)[1]
    urls = [u.split('"', 1)[0] for u in security.split('url("')[1:]]
    assert len(urls) == 2
    for url in urls:
        image = QIcon(url).pixmap(QSize(24, 24)).toImage()
        assert Path(url).is_file() and not image.isNull(), url
        assert any(image.pixelColor(x, y).alpha() > 0 for x in range(24) for y in range(24))


def test_follows_changes_from_other_workstations(
    qtbot: QtBot, ui_app: App, staff: dict[str, int], main_window: MainWindow
) -> None:
    """With the window's background services (``window.background``), a trusted IP removed on
    another workstation disappears from the page on screen without a click."""
    seed_trusted_ips(ui_app, [staff["speeters"]], 25)
    services = BackgroundServices(
        ui_app.context,
        main_window.tasks,
        sweep=False,
        poll_interval_s=0.1,
        min_gap_s=0.05,
        backoff=Backoff(0.05, 0.2),
    )
    main_window.background = services  # type: ignore[attr-defined]
    try:
        services.start()
        page = open_page(qtbot, main_window, "security")
        assert isinstance(page, SecurityPage)
        _wait_page(qtbot, page, "Viewing items 1-20 of 25")
        qtbot.mouseClick(page.next_button, Qt.MouseButton.LeftButton)
        _wait_page(qtbot, page, "Viewing items 21-25 of 25")
        gone = int(column(page.model, ID)[2])
        TrustedIpService(ui_app.context).remove(OTHER, [gone])  # another workstation
        _wait_page(qtbot, page, "Viewing items 21-24 of 24")
        assert gone not in [int(i) for i in column(page.model, ID)]
    finally:
        assert services.stop()


def test_next_pages_by_keyset_cursor(qtbot: QtBot, page: SecurityPage) -> None:
    """Next and Previous continue from the row next to them (fast however deep the list)."""
    calls: list[tuple[int, bool]] = []
    source = page.model._source
    original = source.page

    def recording(
        filter_text: str, number: int, cursor: object, size: int, *rest: object
    ) -> object:
        calls.append((number, cursor is not None))
        return original(filter_text, number, cursor, size, *rest)  # type: ignore[arg-type]

    source.page = recording  # type: ignore[method-assign, assignment]
    qtbot.mouseClick(page.next_button, Qt.MouseButton.LeftButton)
    _wait_page(qtbot, page, "Viewing items 21-40 of 45")
    qtbot.mouseClick(page.ips.previous_button, Qt.MouseButton.LeftButton)
    _wait_page(qtbot, page, "Viewing items 1-20 of 45")
    assert calls == [(2, True), (1, True)]
    assert page.model.rowCount() == 20  # one page held, never the whole list


@hardened.RELAY_DELIVERS
def test_sms_gateway_settings_and_token(qtbot: QtBot, page: SecurityPage, ui_app: App) -> None:
    box = page.mail_box
    box.method_combo.setCurrentIndex(box.method_combo.findData("sms"))
    assert box.visible_fields() == ["sms_url", "secret", "phone_region"]
    qtbot.keyClicks(box.edits["sms_url"], "http://sms.example.com/send")
    box.edits["sms_url"].editingFinished.emit()
    assert box.field_error("sms_url") == (
        "The SMS gateway must use https:// (http:// only to this machine)."
    )
    box.edits["sms_url"].clear()
    qtbot.keyClicks(box.edits["sms_url"], "https://sms.example.com/send")
    box.edits["sms_url"].editingFinished.emit()
    assert box.field_error("sms_url") == ""
    qtbot.keyClicks(box.edits["secret"], "tok-123")
    qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and box.message.isVisible())
    assert box.message.role == "success", box.message.text()
    saved = SecurityService(ui_app.context).get(OTHER).delivery
    assert (saved.method, saved.sms_url) == ("sms", "https://sms.example.com/send")
    assert ui_app.context.secrets.get(sms_key("https://sms.example.com/send")) == "tok-123"
    assert box.edits["secret"].text() == ""
    assert page.mail_status.text().endswith("Encryption: TLS")
    assert "sms.example.com" in page.mail_status.text()
    assert box.test_edit.placeholderText() == "mobile number"


def test_on_a_hardened_database_the_delivery_line_names_the_relay(page: SecurityPage) -> None:
    """Codes are sent by the relay there: its heartbeat is what the line reports."""
    status = page.service.connection_status(page.actor)
    running = replace(status, relay=RelayReport("relay on mail01, last seen 5 s ago", True))
    page.status_box._show_mail_link(running)
    assert page.mail_status.text().startswith("Sent by the relay on mail01, last seen 5 s ago\n")
    assert page.mail_status.state is None  # the outbox: nothing crosses the network
    down = replace(status, relay=RelayReport(relay_down(7 * 60) or "", False))
    page.status_box._show_mail_link(down)
    assert page.mail_status.text() == "Codes cannot be sent: the relay was last seen 7 minutes ago."
    assert page.mail_status.state is False
