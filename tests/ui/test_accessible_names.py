"""What a screen reader hears: every control on every screen has a name, the right one.

Each test walks the widget tree of a screen and checks every visible interactive widget. Its
name is what Qt gives a screen reader: its accessible name, else a button's text, else the
text of a QLabel whose buddy it is (Qt looks for that label among the widget's siblings only).
Where Qt's own accessibility interface is available it must agree, except for combo boxes:
on Linux Qt reports a combo box's current value as its name and leaves the label to the
relation; their accessible name (used on Windows and macOS) is checked instead.

Inline errors are read with their field: while shown, they are its accessible description.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QDate, Qt
from PySide6.QtGui import QAccessible
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QAbstractSpinBox,
    QComboBox,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.auth import LoginService
from pmdesk.core.context import Actor
from pmdesk.core.modules import MODULES
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.ui.first_run import FirstRunDialog
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.personnel.address import Address, AddressDialog
from pmdesk.ui.personnel.view import PersonnelPage
from pmdesk.ui.system.log import LogPage
from pmdesk.ui.system.permission_grid import ACTIONS, action_label
from pmdesk.ui.system.permissions import PermissionsPage
from pmdesk.ui.system.security import SecurityPage
from pmdesk.ui.tasks import TaskManager
from tests.helpers.login import CollectingDelivery, cheap_passwords, enable_two_factor
from tests.helpers.staff import add_person
from tests.ui.conftest import ADMIN_LOGIN, ADMIN_PASSWORD, add_login
from tests.ui.system_pages import open_page

INTERACTIVE = (
    QAbstractButton,
    QLineEdit,
    QAbstractSpinBox,
    QComboBox,
    QAbstractItemView,
    QPlainTextEdit,
    QTextEdit,
)
SYSTEM = Actor.system("test set-up")


# ----- the walk --------------------------------------------------------------------------------


def spoken_name(widget: QWidget) -> str:
    """The name a screen reader gets for ``widget`` (see the module's docstring)."""
    if widget.accessibleName():
        return widget.accessibleName()
    if isinstance(widget, QAbstractButton) and widget.text():
        return widget.text().replace("&", "")
    parent = widget.parentWidget()
    if parent is not None:
        for label in parent.findChildren(QLabel, options=Qt.FindChildOption.FindDirectChildrenOnly):
            if label.buddy() is widget and label.text().strip():
                return label.text().replace("&", "")
    return ""


def _part_of_another(widget: QWidget) -> bool:
    """Pieces that Qt presents as part of their control: a table's headers, the text field of a
    spin box, date edit or combo box."""
    parent = widget.parentWidget()
    return isinstance(widget, QHeaderView) or (
        isinstance(widget, QLineEdit) and isinstance(parent, QAbstractSpinBox | QComboBox)
    )


def controls(top: QWidget) -> list[QWidget]:
    """The visible interactive widgets of ``top``, in creation order."""
    return [
        w
        for w in top.findChildren(QWidget)
        if isinstance(w, INTERACTIVE) and w.isVisibleTo(top) and not _part_of_another(w)
    ]


def _describe(widget: QWidget) -> str:
    return f"{type(widget).__name__} {widget.objectName() or '(no objectName)'}"


def assert_all_named(top: QWidget) -> list[QWidget]:
    """No visible control of ``top`` is nameless, and Qt's accessibility says the same."""
    found = controls(top)
    assert found, "nothing to check"
    unnamed = [_describe(w) for w in found if not spoken_name(w).strip()]
    assert not unnamed, f"no accessible name: {unnamed}"
    disagree = []
    for widget in found:
        if isinstance(widget, QComboBox):
            continue
        interface = QAccessible.queryAccessibleInterface(widget)
        if interface is None:
            continue
        said = interface.text(QAccessible.Text.Name)
        if said != spoken_name(widget):
            disagree.append(f"{_describe(widget)}: {said!r} != {spoken_name(widget)!r}")
    assert not disagree, disagree
    return found


def names(top: QWidget) -> dict[str, str]:
    """objectName → spoken name of the visible controls that have an objectName."""
    return {w.objectName(): spoken_name(w) for w in controls(top) if w.objectName()}


def assert_error_is_described(field: QWidget, show: object, clear: object, help_text: str) -> None:
    """``show()`` puts an inline error under ``field``, ``clear()`` removes it."""
    assert field.accessibleDescription() == help_text
    assert callable(show) and callable(clear)
    show()
    error = field.accessibleDescription()
    assert error and error != help_text
    clear()
    assert field.accessibleDescription() == help_text


# ----- first run and login ---------------------------------------------------------------------


def test_first_run_dialog(qtbot: QtBot, ui_app: App, tasks: TaskManager) -> None:
    dialog = FirstRunDialog(ui_app.context, 1, tasks, passwords=cheap_passwords())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert_all_named(dialog)
    assert names(dialog) | {"createButton": ""} == {
        "loginEdit": "Login",
        "firstNameEdit": "Forename",
        "lastNameEdit": "Lastname",
        "emailEdit": "Email",
        "passwordEdit": "Password",
        "confirmEdit": "Confirm password",
        "createButton": "",
    }
    # Every label is tied to its field (Alt+letter, and the label relation).
    for label in dialog.findChildren(QLabel):
        if label.text() in {"Login", "Forename", "Lastname", "Email", "Password", "Confirm"}:
            assert isinstance(label.buddy(), QLineEdit), label.text()

    login = dialog.editor("login")
    dialog.submit()  # everything empty: errors under the fields
    assert dialog.fields["login"].error.isVisible()
    assert login.accessibleDescription() == dialog.fields["login"].error.text() != ""
    dialog.show_errors({})
    assert login.accessibleDescription() == ""
    password = dialog.editor("password")
    assert_error_is_described(
        password,
        lambda: dialog.show_errors({"password": "Too short"}),
        lambda: dialog.show_errors({}),
        "At least 8 characters.",
    )


@pytest.fixture
def login_dialog(qtbot: QtBot, ui_app: App, admin_id: int, tasks: TaskManager) -> LoginDialog:
    delivery = CollectingDelivery()
    dialog = LoginDialog(tasks)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.set_backend(
        LoginService(
            ui_app.context,
            delivery_factory=delivery.factory,
            passwords=cheap_passwords(),
            workstation="ws-a11y-test",
        )
    )
    return dialog


def test_login_dialog_both_steps(qtbot: QtBot, login_dialog: LoginDialog, ui_app: App) -> None:
    dialog = login_dialog
    assert_all_named(dialog)
    enable_two_factor(ui_app.context)
    qtbot.keyClicks(dialog.username_edit, ADMIN_LOGIN)
    qtbot.keyClicks(dialog.password_edit, ADMIN_PASSWORD)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.step == dialog.CODE and not dialog.busy.running, timeout=20_000)
    assert dialog.code_edit in assert_all_named(dialog)


# ----- Personnel and the address dialog ----------------------------------------------------------


@pytest.fixture
def peeters(ui_app: App, admin_id: int) -> int:
    """A second person, with a trusted address (made before the main window opens)."""
    person = add_login(ui_app, "speeters", "a long secret", first_name="Sofie", last_name="Peeters")
    TrustedIpService(ui_app.context).trust_by_admin(SYSTEM, person, "192.0.2.44")
    return person


def _personnel(qtbot: QtBot, window: MainWindow) -> PersonnelPage:
    page = window.show_page("personnel")
    assert isinstance(page, PersonnelPage)

    def idle() -> bool:
        return not page.busy.running and not page.model.loading and page._lookups is not None

    qtbot.waitUntil(lambda: idle() and page.model.total == 2)
    row = next(
        r for r in range(page.model.rowCount()) if page.model.index(r, 0).data() == "Peeters"
    )
    rect = page.table.visualRect(page.model.index(row, 0))
    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: page.editor.record is not None and idle())
    qtbot.waitUntil(lambda: page.editor.ip_table.rowCount() == 1)
    return page


def test_personnel_with_a_person_open(qtbot: QtBot, peeters: int, main_window: MainWindow) -> None:
    page = _personnel(qtbot, main_window)
    qtbot.keyClicks(page.search_edit, "Pee")  # shows the clear button too
    qtbot.waitUntil(lambda: not page._search_timer.isActive() and not page.model.loading)
    # The open person's addresses may be read again meanwhile (a change elsewhere): settled.
    qtbot.waitUntil(
        lambda: page.tasks.is_idle() and page.editor.ip_table.rowCount() == 1, timeout=10_000
    )
    assert_all_named(main_window)
    found = names(page)
    expected = {
        "last_nameEdit": "Lastname",
        "first_nameEdit": "Forename",
        "numberEdit": "Number",
        "phoneEdit": "Phone",
        "mobileEdit": "Mobile",
        "emailEdit": "Email",
        "location_idCombo": "Location",
        "group_idCombo": "Usergroup",
        "language_idCombo": "Language",
        "team_idCombo": "Team",
        "hourly_costEdit": "Hourly Cost",
        "passwordEdit": "Password",
        "password_confirmEdit": "Confirm password",
        "loginEdit": "Login",
        "newsletterCheck": "Use e-mail for Newsletter",
        "invoicingCheck": "Use e-mail for Invoicing",
        "searchEdit": "Search personnel",
        "refreshButton": "Reload the list",
        "personnelTable": "Personnel",
        "trustedIpTable": "Trusted IP addresses",
    }
    assert {key: found.get(key) for key in expected} == expected
    # The address's remove button is named after its row's Id, which a shared database's
    # sequence decides: only one, and spoken as what it removes.
    removes = [name for key, name in found.items() if key.startswith("removeIp")]
    assert removes == ["Remove 192.0.2.44"]
    icon_buttons = [w for w in page.search_edit.findChildren(QAbstractButton) if w.isVisible()]
    assert "Search" in {spoken_name(b) for b in icon_buttons}

    editor = page.editor
    assert_error_is_described(
        editor.edits["last_name"],
        lambda: editor.set_errors({"last_name": "Enter a lastname."}),
        editor.clear_errors,
        "",
    )
    assert_error_is_described(
        editor.address_button,
        lambda: editor.set_errors({"city": "Enter a city."}),
        editor.clear_errors,
        "",
    )
    help_text = editor.edits["password"].accessibleDescription()
    assert help_text == editor.password_hint.text()
    assert_error_is_described(
        editor.edits["password"],
        lambda: editor.set_errors({"password": "Too short."}),
        editor.clear_errors,
        help_text,
    )


def test_address_dialog(qtbot: QtBot) -> None:
    dialog = AddressDialog(Address(street="Kerkstraat 1"), {"city": "Enter a city."})
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert_all_named(dialog)
    assert names(dialog) | {"": ""} == {
        "streetEdit": "Street",
        "postcodeEdit": "Postcode",
        "cityEdit": "City",
        "countryEdit": "Country",
        "": "",
    }
    assert dialog.edits["city"].accessibleDescription() == "Enter a city."
    assert dialog.edits["street"].accessibleDescription() == ""
    dialog.boxes["city"].set_error(None)
    assert dialog.edits["city"].accessibleDescription() == ""


# ----- System ----------------------------------------------------------------------------------


def test_permissions_and_the_new_group_dialog(qtbot: QtBot, main_window: MainWindow) -> None:
    page = open_page(qtbot, main_window, "permissions")
    assert isinstance(page, PermissionsPage)
    qtbot.waitUntil(lambda: page.current_grid is not None and not page.busy_now)
    assert_all_named(main_window)

    expected = {
        f"{module.name}: {action_label(action)}" for module in MODULES for action in ACTIONS
    }
    said = {spoken_name(check) for check in page.grid.checks.values()}
    assert len(page.grid.checks) == len(MODULES) * 3
    assert said == expected
    assert spoken_name(page.grid.check("invoicing", ACTIONS[1])) == "Invoicing: Edit"
    reload_name = spoken_name(page.reload_button)
    assert reload_name and reload_name != "Usergroup Selector"
    assert spoken_name(page.group_combo) == "Name"  # its label

    page.new_group()
    qtbot.waitUntil(lambda: page.name_dialog is not None and page.name_dialog.isVisible())
    dialog = page.name_dialog
    assert dialog is not None
    assert_all_named(dialog)
    assert spoken_name(dialog.name_edit) == "Name"
    assert_error_is_described(
        dialog.name_edit,
        lambda: dialog.set_error("That name is taken."),
        lambda: dialog.field.set_error(None),
        "",
    )
    dialog.reject()


def test_security(qtbot: QtBot, main_window: MainWindow, ui_app: App, admin_id: int) -> None:
    page = open_page(qtbot, main_window, "security")
    assert isinstance(page, SecurityPage)
    qtbot.waitUntil(lambda: page.loaded and page.tasks.is_idle())
    box = page.mail_box
    qtbot.keyClicks(page.filter_edit, "10.")  # shows the clear button too
    qtbot.waitUntil(lambda: not page.ips._filter_timer.isActive() and page.tasks.is_idle())
    for method in ("outbox", "smtp", "m365", "google", "graph", "sms", "twilio", "vonage", "cm"):
        box.method_combo.setCurrentIndex(box.method_combo.findData(method))
        assert_all_named(main_window)

    box.method_combo.setCurrentIndex(box.method_combo.findData("smtp"))
    found = names(page)
    expected = {
        "trustDaysSpin": "Trust an address for",
        "codeTtlSpin": "A code is valid for",
        "sessionHoursSpin": "Command-line sessions last",
        "neverTrustedEdit": "Never trust these addresses",
        "helpdeskMailboxEdit": "Helpdesk mailbox for trust alerts",
        "methodCombo": "Send codes by",
        "smtp_hostEdit": "Mail server",
        "smtpPortSpin": "Port",
        "smtpSecurityCombo": "Security",
        "smtp_usernameEdit": "User name",
        "secretEdit": "Password",
        "smtp_fromEdit": "From address",
        "testAddressEdit": "Send a test code to",
    }
    assert {key: found.get(key) for key in expected} == expected
    trio = [spoken_name(w) for w in (page.filter_edit, page.ips.reload_button, page.table)]
    assert len(set(trio)) == 3, trio
    assert trio.count("Trusted IP addresses") <= 1
    assert spoken_name(page.table) == "Trusted IP addresses"
    icon_buttons = [w for w in page.filter_edit.findChildren(QAbstractButton) if w.isVisible()]
    assert "Search" in {spoken_name(b) for b in icon_buttons}

    # Help stays a description; an error replaces it while shown.
    session = page.trust.session_hours_spin
    help_text = session.accessibleDescription()
    assert help_text.startswith("How long `pmdesk login`")
    assert_error_is_described(
        session,
        lambda: page.trust.session_hours_box.set_error("Between 1 and 168 hours."),
        lambda: page.trust.session_hours_box.set_error(None),
        help_text,
    )
    assert box.test_edit.accessibleDescription() == box.test_hint.text()
    host = box.edits["smtp_host"]
    assert_error_is_described(
        host,
        lambda: box.set_errors({"smtp_host": "Enter the server."}),
        lambda: box.boxes["smtp_host"].set_error(None),
        "The name of your mail server, such as smtp.example.com.",  # its hint
    )


def test_readiness_dialog(qtbot: QtBot, main_window: MainWindow, ui_app: App) -> None:
    add_person(ui_app.db, "amaes", first_name="An", last_name="Maes", email="")
    page = open_page(qtbot, main_window, "security")
    assert isinstance(page, SecurityPage)
    qtbot.waitUntil(lambda: page.loaded and page.two_factor_button.isEnabled())
    qtbot.mouseClick(page.two_factor_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.readiness_dialog is not None and page.readiness_dialog.isVisible())
    dialog = page.readiness_dialog
    assert dialog is not None
    assert dialog.table in assert_all_named(dialog)
    qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.readiness_dialog is None)
    qtbot.waitUntil(page.tasks.is_idle)


def test_log(qtbot: QtBot, main_window: MainWindow, tmp_path: Path) -> None:
    page = open_page(qtbot, main_window, "log")
    assert isinstance(page, LogPage)
    qtbot.waitUntil(lambda: not page.model.loading)
    qtbot.keyClicks(page.user_edit, "j")  # shows the clear button too
    qtbot.waitUntil(lambda: not page._filter_timer.isActive())
    page.period_combo.setCurrentIndex(page.period_combo.findData("range"))  # the date fields
    page.from_edit.setDate(QDate.currentDate().addDays(-1))
    qtbot.waitUntil(lambda: not page.model.loading)
    assert_all_named(main_window)
    found = names(page)
    expected = {
        "logUserEdit": "User",
        "logEventCombo": "Event",
        "logPeriodCombo": "Period",
        "logFromEdit": "From",
        "logToEdit": "To",
        "logRefreshButton": "Reload the log",
        "exportButton": "Export to CSV…",
        "auditTable": "Log events",
    }
    assert {key: found.get(key) for key in expected} == expected
    icon_buttons = [w for w in page.user_edit.findChildren(QAbstractButton) if w.isVisible()]
    assert "Search" in {spoken_name(b) for b in icon_buttons}
