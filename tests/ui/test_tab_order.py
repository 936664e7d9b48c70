"""Issue 19, item 9: in every form, Tab goes through the controls in the order they are seen.

The visual order is read from the layouts, as a reader goes through the screen:

- a vertical layout or a form top to bottom (in a form row, the label, then its field), a
  horizontal one left to right;
- a grid down each column, then the next column to the right (Personnel's two columns, the
  Access boxes); a row that spans the whole grid starts a new section under the columns (the lock
  state and open sessions under Security's two columns);
- but a grid whose first column holds only text labels is a table (Permissions: a module name,
  then its Read / Edit / Delete boxes), read row by row;
- a splitter or a scroll area: what it holds, in order; a table's buttons in its cells (the red
  remove icons) right after the table, top to bottom.

A control counts when Tab can reach it: shown, enabled and taking focus by Tab. A control inside
another (the line edit of a spin box) is the outer one. The test presses Tab from the first
control and compares where the focus goes with that order.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QFormLayout,
    QGridLayout,
    QLabel,
    QLayout,
    QLayoutItem,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QWidget,
)
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.auth import LoginService
from pmdesk.core.context import Actor
from pmdesk.core.modules import Action
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.ui.first_run import FirstRunDialog
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.personnel.address import Address, AddressDialog
from pmdesk.ui.personnel.view import PersonnelPage
from pmdesk.ui.system.permissions import PermissionsPage
from pmdesk.ui.system.security import SecurityPage
from pmdesk.ui.tasks import TaskManager
from tests.helpers import hardened
from tests.helpers.login import CollectingDelivery, cheap_passwords, enable_two_factor
from tests.helpers.qt import personnel_idle
from tests.ui.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.ui.system_pages import open_page
from tests.ui.test_personnel import STAFF, _add_staff, _open

# ----- the visual order, from the layouts ----------------------------------------------------


def _takes_tab(widget: QWidget) -> bool:
    if isinstance(widget, QScrollArea | QSplitter):
        return False  # containers: Tab goes to what they hold
    return bool(widget.focusPolicy() & Qt.FocusPolicy.TabFocus) and widget.isEnabled()


def visual_order(root: QWidget) -> list[QWidget]:
    """The controls Tab can reach under ``root``, in reading order (see the module's rule)."""
    return list(_in_widget(root, root))


def _in_widget(widget: QWidget, root: QWidget) -> Iterator[QWidget]:
    if widget is not root and not widget.isVisibleTo(root):
        return
    if widget is not root and _takes_tab(widget):
        yield widget
    if isinstance(widget, QTableWidget):
        cells = (
            widget.cellWidget(row, column)
            for row in range(widget.rowCount())
            for column in range(widget.columnCount())
        )
        yield from (cell for cell in cells if cell is not None and _takes_tab(cell))
        return
    if isinstance(widget, QAbstractItemView) or (widget is not root and _takes_tab(widget)):
        return  # a control's insides (a spin box's line edit) are the control
    if isinstance(widget, QScrollArea):
        inner = widget.widget()
        if inner is not None:
            yield from _in_widget(inner, root)
        return
    if isinstance(widget, QSplitter):
        for index in range(widget.count()):
            yield from _in_widget(widget.widget(index), root)
        return
    layout = widget.layout()
    if layout is not None:
        yield from _in_layout(layout, root)


def _in_item(item: QLayoutItem | None, root: QWidget) -> Iterator[QWidget]:
    if item is None:
        return
    widget, layout = item.widget(), item.layout()
    if widget is not None:
        yield from _in_widget(widget, root)
    elif layout is not None:
        yield from _in_layout(layout, root)


def _in_layout(layout: QLayout, root: QWidget) -> Iterator[QWidget]:
    if isinstance(layout, QFormLayout):
        for row in range(layout.rowCount()):
            for role in (
                QFormLayout.ItemRole.LabelRole,
                QFormLayout.ItemRole.FieldRole,
                QFormLayout.ItemRole.SpanningRole,
            ):
                yield from _in_item(layout.itemAt(row, role), root)
    elif isinstance(layout, QGridLayout):
        for index in _grid_reading_order(layout):
            yield from _in_item(layout.itemAt(index), root)
    else:
        for index in range(layout.count()):
            yield from _in_item(layout.itemAt(index), root)


def _grid_reading_order(grid: QGridLayout) -> list[int]:
    places = {i: grid.getItemPosition(i) for i in range(grid.count())}  # row, column, spans
    first_column = [grid.itemAt(i).widget() for i, (_r, c, _rs, _cs) in places.items() if c == 0]
    if grid.columnCount() > 1 and all(isinstance(w, QLabel) for w in first_column):
        return sorted(places, key=lambda i: (places[i][0], places[i][1]))  # a table
    full_rows = sorted(r for r, _c, _rs, cs in places.values() if cs >= grid.columnCount())

    def key(index: int) -> tuple[int, int, int]:
        row, column, _row_span, column_span = places[index]
        if column_span >= grid.columnCount():
            return (row, -1, row)
        section = max((r for r in full_rows if r <= row), default=-1)
        return (section, column, row)

    return sorted(places, key=key)


# ----- Tab, as a user presses it -------------------------------------------------------------


def tab_order(qtbot: QtBot, expected: list[QWidget]) -> list[QWidget]:
    """Where Tab goes from the first of ``expected``, one press per control (each focus given
    as the control of ``expected`` that holds it)."""
    window = expected[0].window()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)
    expected[0].setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(expected[0].hasFocus)
    seen: list[QWidget] = []
    for step in range(len(expected)):
        if step:
            focus = QApplication.focusWidget()
            assert focus is not None
            qtbot.keyClick(focus, Qt.Key.Key_Tab)
        focus = QApplication.focusWidget()
        assert focus is not None
        seen.append(next((w for w in expected if w is focus or w.isAncestorOf(focus)), focus))
    return seen


def _names(widgets: list[QWidget]) -> list[str]:
    def name(widget: QWidget) -> str:
        text = widget.text() if isinstance(widget, QAbstractButton) else ""
        return widget.objectName() or widget.accessibleName() or text or type(widget).__name__

    return [name(w) for w in widgets]


def assert_tab_follows_the_layout(qtbot: QtBot, root: QWidget) -> list[QWidget]:
    expected = visual_order(root)
    assert len(expected) > 3, _names(expected)
    assert _names(tab_order(qtbot, expected)) == _names(expected)
    return expected


# ----- each form -----------------------------------------------------------------------------


@pytest.fixture
def personnel(
    qtbot: QtBot, ui_app: App, admin_id: int, main_window: MainWindow
) -> Iterator[PersonnelPage]:
    ids = _add_staff(ui_app)
    # Two trusted addresses: their red remove icons are in the order too.
    trusted = TrustedIpService(ui_app.context)
    for address in ("192.0.2.44", "198.51.100.7"):
        trusted.trust_by_admin(Actor.system("test"), ids["Dubois"], address)
    page = main_window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    page.refresh()
    qtbot.waitUntil(lambda: personnel_idle(page) and page.model.total == len(STAFF))
    yield page


def test_personnel_form(qtbot: QtBot, personnel: PersonnelPage) -> None:
    """The form went Email → Hourly Cost → Login → Password → the lists (the order the fields
    were made in); now down the left column, then the right, box by box."""
    _open(qtbot, personnel, "Dubois")
    editor = personnel.editor
    assert editor.ip_table.rowCount() == 2
    order = assert_tab_follows_the_layout(qtbot, personnel)
    names = _names(order)
    # The page: search, Reload, New, the list, the form, then Delete and Save.
    assert names[:4] == ["searchEdit", "refreshButton", "newButton", "personnelTable"]
    assert names[-1] == "deleteButton"  # Save is disabled until something changes
    assert names.index("emailEdit") < names.index("location_idCombo")
    assert names.index("hourly_costEdit") < names.index("passwordEdit")
    assert names.index("loginEdit") < names.index("access_planningCheck")
    removes = [i for i, name in enumerate(names) if name.startswith("removeIp")]
    assert len(removes) == 2 and min(removes) > names.index("access_receptionCheck")

    # A new person: the same order without what only a stored person has.
    qtbot.mouseClick(personnel.new_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: editor.record is None)
    assert_tab_follows_the_layout(qtbot, editor)


def test_first_run_dialog(qtbot: QtBot, ui_app: App, tasks: TaskManager) -> None:
    dialog = FirstRunDialog(ui_app.context, 1, tasks, passwords=cheap_passwords())
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    order = assert_tab_follows_the_layout(qtbot, dialog)
    assert order[0] is dialog.editor("login")
    assert order[-2:] == [dialog.cancel_button, dialog.create_button]


@hardened.LOOPBACK_NEVER_TRUSTED
def test_login_dialog_both_steps(
    qtbot: QtBot, ui_app: App, admin_id: int, tasks: TaskManager
) -> None:
    dialog = LoginDialog(tasks)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    delivery = CollectingDelivery()
    dialog.set_backend(
        LoginService(
            ui_app.context,
            delivery_factory=delivery.factory,
            passwords=cheap_passwords(),
            workstation="ws-tab-order",
        )
    )
    order = assert_tab_follows_the_layout(qtbot, dialog)
    assert order[:2] == [dialog.username_edit, dialog.password_edit]

    enable_two_factor(ui_app.context)
    qtbot.keyClicks(dialog.username_edit, ADMIN_LOGIN)
    qtbot.keyClicks(dialog.password_edit, ADMIN_PASSWORD)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.step == dialog.CODE and not dialog.busy.running, timeout=20_000)
    order = assert_tab_follows_the_layout(qtbot, dialog)
    assert order[0] is dialog.code_edit
    assert order.index(dialog.trust_check) < order.index(dialog.login_button)


def test_security_code_delivery_box(qtbot: QtBot, admin_id: int, main_window: MainWindow) -> None:
    """The SMTP form (fixed first: Server was followed by User name, not Port)."""
    page = open_page(qtbot, main_window, "security")
    assert isinstance(page, SecurityPage)
    box = page.mail_box
    qtbot.waitUntil(lambda: page.tasks.is_idle() and page.loaded)
    box.method_combo.setCurrentIndex(box.method_combo.findData("smtp"))
    qtbot.waitUntil(lambda: box.edits["smtp_host"].isEnabled())
    order = assert_tab_follows_the_layout(qtbot, box)
    assert order[:3] == [box.method_combo, box.edits["smtp_host"], box.port_spin]


def test_security_code_delivery_box_for_every_method(
    qtbot: QtBot, admin_id: int, main_window: MainWindow
) -> None:
    """Only the fields of the method chosen, top to bottom (Microsoft 365 with a certificate:
    its thumbprint row comes and goes with the choice)."""
    page = open_page(qtbot, main_window, "security")
    assert isinstance(page, SecurityPage)
    box = page.mail_box
    qtbot.waitUntil(lambda: page.tasks.is_idle() and page.loaded)
    for method in ("m365", "google", "twilio", "cm", "outbox"):
        box.method_combo.setCurrentIndex(box.method_combo.findData(method))
        if method == "m365":
            box.auth_combo.setCurrentIndex(box.auth_combo.findData("certificate"))
        qtbot.waitUntil(lambda: box.edits["smtp_host"].isEnabled())
        order = assert_tab_follows_the_layout(qtbot, box)
        inputs = box.fields.inputs()
        assert [w for w in order if w in inputs] == inputs, method
        assert order[0] is box.method_combo
    box.method_combo.setCurrentIndex(box.method_combo.findData("m365"))
    assert box.edits["m365_thumbprint"] in box.fields.inputs()


def test_permissions(qtbot: QtBot, admin_id: int, main_window: MainWindow) -> None:
    page = open_page(qtbot, main_window, "permissions")
    assert isinstance(page, PermissionsPage)
    qtbot.waitUntil(lambda: not page.busy_now and page.tasks.is_idle())
    qtbot.waitUntil(lambda: page.grid.check("job", Action.READ).isEnabled())
    order = assert_tab_follows_the_layout(qtbot, page)
    assert order[0] is page.group_combo
    # The grid row by row: a module's Read, Edit and Delete together.
    boxes = [w.objectName() for w in order if w.parent() is page.grid]
    assert boxes[:4] == ["job_read", "job_edit", "job_delete", "invoicing_read"]


def test_security_page_as_a_whole(qtbot: QtBot, admin_id: int, main_window: MainWindow) -> None:
    """Status, two-step switch, the settings, delivery, then the trusted-address list."""
    page = open_page(qtbot, main_window, "security")
    assert isinstance(page, SecurityPage)
    qtbot.waitUntil(lambda: page.tasks.is_idle() and page.loaded)
    assert_tab_follows_the_layout(qtbot, page)


def test_address_dialog(qtbot: QtBot) -> None:
    dialog = AddressDialog(Address(street="Kerkstraat 1", city="Gent"), {})
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    order = assert_tab_follows_the_layout(qtbot, dialog)
    assert order[0] is dialog.edits["street"]
