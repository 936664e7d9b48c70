"""Keyboard, wheel and visible states (issue 19: items 1, 4, 11, 12, 20 and 27)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QDate, QEvent, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QImage, QWheelEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableView,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.auth import LoginService
from pmdesk.ui.icons import icon
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.personnel.view import PersonnelPage
from pmdesk.ui.system.log import LogPage
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.widgets import make_danger, make_primary
from tests.helpers.login import CollectingDelivery, cheap_passwords, enable_two_factor
from tests.ui.conftest import ADMIN_LOGIN, ADMIN_PASSWORD
from tests.ui.system_pages import open_page

Value = tuple[object, ...]


def _activate(qtbot: QtBot, window: QWidget) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)


def _value(widget: QWidget) -> Value:
    if isinstance(widget, QDateEdit):
        return (widget.date().toJulianDay(),)
    if isinstance(widget, QSpinBox | QDoubleSpinBox):
        return (widget.value(),)
    assert isinstance(widget, QComboBox)
    return (widget.currentIndex(), widget.currentText())


def _wheel(widget: QWidget, steps: int) -> None:
    """``steps`` notches of the wheel (positive: up) over the middle of ``widget``."""
    middle = QPointF(widget.rect().center())
    event = QWheelEvent(
        middle,
        QPointF(widget.mapToGlobal(middle)),
        QPoint(0, 0),
        QPoint(0, 120 * steps),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(widget, event)


class _WheelSeen(QObject):
    """Counts the wheel events that reach the watched widget."""

    def __init__(self, watched: QWidget) -> None:
        super().__init__(watched)
        self.count = 0
        watched.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Wheel:
            self.count += 1
        return False


def _scroll_area_of(widget: QWidget) -> QScrollArea | None:
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QScrollArea):
            return parent
        parent = parent.parentWidget()
    return None


def _inputs(page: QWidget) -> list[QWidget]:
    found: list[QWidget] = [
        w
        for w in page.findChildren(QWidget)
        if isinstance(w, QAbstractSpinBox | QComboBox) and w.isEnabled()
    ]
    return found


def _wheel_changes_nothing_without_focus(qtbot: QtBot, window: QWidget, page: QWidget) -> None:
    _activate(qtbot, window)
    inputs = _inputs(page)
    assert inputs
    for widget in inputs:
        window.setFocus()
        assert not widget.hasFocus()
        before = _value(widget)
        area = _scroll_area_of(widget)
        seen = _WheelSeen(area.viewport()) if area is not None else None
        for steps in (1, -1, -1, 3, -6):
            _wheel(widget, steps)
        assert _value(widget) == before, f"the wheel changed {widget.objectName()!r}"
        if seen is not None:
            assert seen.count == 5, f"the wheel over {widget.objectName()!r} did not reach the page"
        # A wheel notch over it never gives it the focus either (Qt.WheelFocus would).
        assert widget.focusPolicy() == Qt.FocusPolicy.StrongFocus, widget.objectName()


def _wheel_works_with_focus(qtbot: QtBot, widget: QWidget) -> None:
    widget.setFocus()
    qtbot.waitUntil(widget.hasFocus)
    before = _value(widget)
    _wheel(widget, -1)
    if _value(widget) == before:
        _wheel(widget, 1)
        _wheel(widget, 1)
    assert _value(widget) != before, f"the wheel did nothing on focused {widget.objectName()!r}"


# ----- item 1: the wheel changes values only with focus ---------------------------------------


def test_wheel_on_security_page_changes_nothing_without_focus(
    qtbot: QtBot, main_window: MainWindow
) -> None:
    page = open_page(qtbot, main_window, "security")
    qtbot.waitUntil(lambda: any(isinstance(w, QSpinBox) for w in _inputs(page)))
    _wheel_changes_nothing_without_focus(qtbot, main_window, page)
    spins = [w for w in _inputs(page) if isinstance(w, QSpinBox)]
    combos = [w for w in _inputs(page) if isinstance(w, QComboBox) and w.count() > 1]
    assert spins and combos
    _wheel_works_with_focus(qtbot, spins[0])
    _wheel_works_with_focus(qtbot, combos[0])


def test_wheel_on_log_page_changes_nothing_without_focus(
    qtbot: QtBot, main_window: MainWindow
) -> None:
    page = open_page(qtbot, main_window, "log")
    period = page.findChild(QComboBox, "logPeriodCombo")
    assert isinstance(period, QComboBox)
    period.setCurrentIndex(period.findData("range"))  # the dates show for a chosen range only
    dates = page.findChildren(QDateEdit)
    assert dates
    qtbot.waitUntil(lambda: all(date.isVisible() for date in dates))
    _wheel_changes_nothing_without_focus(qtbot, main_window, page)
    dates[0].setDate(QDate(2024, 6, 15))
    _wheel_works_with_focus(qtbot, dates[0])


def test_wheel_on_personnel_form_changes_nothing_without_focus(
    qtbot: QtBot, ui_app: App, admin_id: int, main_window: MainWindow
) -> None:
    page = main_window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    qtbot.waitUntil(lambda: not page.busy.running and page._lookups is not None)
    combos = [c for c in page.editor.findChildren(QComboBox) if c.count() > 1]
    assert combos
    _wheel_changes_nothing_without_focus(qtbot, main_window, page.editor)
    _wheel_works_with_focus(qtbot, combos[0])


def test_spin_and_combo_boxes_made_later_take_the_wheel_only_with_focus(
    qtbot: QtBot,
) -> None:
    holder = QWidget()
    qtbot.addWidget(holder)
    spin = QSpinBox(holder)
    spin.setValue(5)
    combo = QComboBox(holder)
    combo.addItems(["a", "b", "c"])
    holder.show()
    qtbot.waitExposed(holder)
    _wheel_changes_nothing_without_focus(qtbot, holder, holder)
    _wheel_works_with_focus(qtbot, spin)


# ----- item 20: Return and Enter click a focused button ---------------------------------------


def _press_on_focused(qtbot: QtBot, button: QAbstractButton, key: Qt.Key) -> int:
    button.setFocus()
    qtbot.waitUntil(button.hasFocus)
    clicks: list[bool] = []
    button.clicked.connect(lambda *_args: clicks.append(True))
    modifier = (
        Qt.KeyboardModifier.KeypadModifier
        if key == Qt.Key.Key_Enter
        else Qt.KeyboardModifier.NoModifier
    )
    qtbot.keyClick(button, key, modifier)
    return len(clicks)


def test_return_and_enter_click_a_focused_button(qtbot: QtBot, main_window: MainWindow) -> None:
    _activate(qtbot, main_window)
    log = open_page(qtbot, main_window, "log")
    assert isinstance(log, LogPage)
    refresh = log.refresh_button
    assert isinstance(refresh, QToolButton)
    assert _press_on_focused(qtbot, refresh, Qt.Key.Key_Return) == 1
    assert _press_on_focused(qtbot, refresh, Qt.Key.Key_Enter) == 1

    page = main_window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    qtbot.waitUntil(lambda: not page.busy.running and page._lookups is not None)
    assert isinstance(page.new_button, QPushButton)
    assert not page.new_button.autoDefault()
    assert _press_on_focused(qtbot, page.new_button, Qt.Key.Key_Return) == 1
    assert _press_on_focused(qtbot, page.new_button, Qt.Key.Key_Enter) == 1

    # Not a disabled button, and not with Ctrl (a shortcut).
    clicks: list[bool] = []
    page.new_button.clicked.connect(lambda *_args: clicks.append(True))
    qtbot.keyClick(page.new_button, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    page.new_button.setEnabled(False)
    qtbot.keyClick(page.new_button, Qt.Key.Key_Return)
    assert clicks == []


def test_dialogs_keep_their_default_button_and_line_edits_their_return(qtbot: QtBot) -> None:
    dialog = QDialog()
    qtbot.addWidget(dialog)
    edit = QLineEdit(dialog)
    other = QPushButton("Other", dialog)
    ok = QPushButton("OK", dialog)
    ok.setDefault(True)
    ok.clicked.connect(dialog.accept)
    layout = QVBoxLayout(dialog)
    for widget in (edit, other, ok):
        layout.addWidget(widget)
    dialog.show()
    qtbot.waitExposed(dialog)
    _activate(qtbot, dialog)

    # A focused auto-default button in a dialog: clicked once (by Qt), not twice.
    assert _press_on_focused(qtbot, other, Qt.Key.Key_Return) == 1
    assert dialog.isVisible()

    # Return in a line edit: returnPressed, then the dialog's default button.
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus)
    with qtbot.waitSignal(edit.returnPressed), qtbot.waitSignal(dialog.accepted):
        qtbot.keyClick(edit, Qt.Key.Key_Return)


# ----- item 4: Tab leaves every table ---------------------------------------------------------


def _tab_leaves(qtbot: QtBot, window: QWidget, page: QWidget, names: set[str]) -> None:
    """Every table of ``page`` lets Tab out (arrows move inside); the ``names`` are focused,
    Tab is pressed on them, and the focus must have left them."""
    _activate(qtbot, window)
    tables = page.findChildren(QTableView)
    assert {t.objectName() for t in tables} >= names
    for table in tables:
        assert not table.tabKeyNavigation(), f"Tab is trapped in {table.objectName()!r}"
    for table in tables:
        if table.objectName() not in names:
            continue
        qtbot.waitUntil(table.isVisible)
        table.setFocus()
        qtbot.waitUntil(table.hasFocus)
        if table.model().rowCount() > 0:
            table.setCurrentIndex(table.model().index(0, 0))
        qtbot.keyClick(table, Qt.Key.Key_Tab)
        assert not table.hasFocus(), f"Tab stayed in {table.objectName()!r}"
        assert QApplication.focusWidget() is not None


def test_tab_leaves_the_log_and_security_tables(qtbot: QtBot, main_window: MainWindow) -> None:
    log = open_page(qtbot, main_window, "log")
    assert isinstance(log, LogPage)
    qtbot.waitUntil(lambda: log.table.model().rowCount() > 0)
    _tab_leaves(qtbot, main_window, log, {"auditTable"})
    security = open_page(qtbot, main_window, "security")
    _tab_leaves(qtbot, main_window, security, {"trustedIpTable"})


def test_tab_leaves_the_personnel_tables(
    qtbot: QtBot, ui_app: App, admin_id: int, main_window: MainWindow
) -> None:
    page = main_window.show_page("personnel")
    assert isinstance(page, PersonnelPage)
    qtbot.waitUntil(lambda: not page.busy.running and page.model.rowCount() > 0)
    rect = page.table.visualRect(page.model.index(0, 0))
    qtbot.mouseClick(page.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: page.editor.record is not None and not page.busy.running)
    names = {"personnelTable"}
    sessions = page.findChild(QTableView, "sessionsTable")
    if sessions is not None and sessions.isVisibleTo(page):
        names.add("sessionsTable")
    _tab_leaves(qtbot, main_window, page, names)
    # Tab from the person list does not open another person.
    assert page.editor.record is not None and page.editor.record.id == admin_id


# ----- item 11: Esc on the code step goes back ------------------------------------------------


def test_escape_on_the_code_step_goes_back_to_the_password(
    qtbot: QtBot, ui_app: App, admin_id: int, tasks: TaskManager
) -> None:
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
            workstation="ws-ui-test",
        )
    )
    enable_two_factor(ui_app.context)
    qtbot.keyClicks(dialog.username_edit, ADMIN_LOGIN)
    qtbot.keyClicks(dialog.password_edit, ADMIN_PASSWORD)
    qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: dialog.step == dialog.CODE and not dialog.busy.running, timeout=20_000)
    rejected: list[bool] = []
    dialog.rejected.connect(lambda: rejected.append(True))

    qtbot.keyClick(dialog.code_edit, Qt.Key.Key_Escape)

    assert rejected == []
    assert dialog.isVisible()
    assert dialog.step == dialog.CREDENTIALS
    assert dialog.username_edit.text() == ADMIN_LOGIN
    assert dialog.focusWidget() is dialog.password_edit

    # On the password step, Esc still cancels (closes the dialog, as before).
    with qtbot.waitSignal(dialog.rejected):
        qtbot.keyClick(dialog.password_edit, Qt.Key.Key_Escape)


# ----- item 12: focus and disabled states can be seen -----------------------------------------


def _differing_pixels(first: QImage, second: QImage) -> int:
    assert first.size() == second.size()
    a = first.convertToFormat(QImage.Format.Format_RGB32)
    b = second.convertToFormat(QImage.Format.Format_RGB32)
    return sum(
        1 for y in range(a.height()) for x in range(a.width()) if a.pixel(x, y) != b.pixel(x, y)
    )


def _states_window(qtbot: QtBot) -> tuple[QWidget, QPushButton, QPushButton, QTabWidget]:
    window = QWidget()
    qtbot.addWidget(window)
    primary = make_primary(QPushButton("Login", window))
    danger = make_danger(QPushButton(icon("delete"), "Remove selected", window))
    tabs = QTabWidget(window)
    tabs.addTab(QLabel("first"), "Security")
    tabs.addTab(QLabel("second"), "Log")
    layout = QVBoxLayout(window)
    for widget in (primary, danger, tabs):
        layout.addWidget(widget)
    window.show()
    qtbot.waitExposed(window)
    _activate(qtbot, window)
    return window, primary, danger, tabs


def _focused(qtbot: QtBot, widget: QWidget) -> QImage:
    widget.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(widget.hasFocus)
    return widget.grab().toImage()


def test_focus_and_disabled_states_can_be_seen(qtbot: QtBot, tmp_path: Path) -> None:
    _window, primary, danger, tabs = _states_window(qtbot)
    images: dict[str, QImage] = {}

    images["primary-focused"] = _focused(qtbot, primary)
    images["danger-focused"] = _focused(qtbot, danger)
    images["primary"] = primary.grab().toImage()
    tab_bar = tabs.tabBar()
    images["tabs-focused"] = _focused(qtbot, tab_bar)
    images["danger"] = danger.grab().toImage()
    primary.setFocus()
    qtbot.waitUntil(primary.hasFocus)
    images["tabs"] = tab_bar.grab().toImage()
    danger.setEnabled(False)
    images["danger-disabled"] = danger.grab().toImage()
    for name, image in images.items():
        image.save(str(tmp_path / f"{name}.png"))

    ring = 2 * (primary.width() + primary.height())  # pixels around the button
    assert _differing_pixels(images["primary"], images["primary-focused"]) > ring, (
        "focus on a primary button cannot be seen"
    )
    assert _differing_pixels(images["danger"], images["danger-focused"]) > ring
    assert _differing_pixels(images["danger"], images["danger-disabled"]) > 100, (
        "a disabled danger button looks enabled"
    )
    assert _differing_pixels(images["tabs"], images["tabs-focused"]) > 100, (
        "a focused tab looks like the selected tab"
    )


# ----- item 27: no red cross on Cancel --------------------------------------------------------


def test_cancel_buttons_have_no_icon_where_dialog_buttons_have_icons(qtbot: QtBot) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    # As on a desktop whose theme puts icons on dialog buttons (GNOME, KDE).
    app.setStyleSheet(
        app.styleSheet() + "\nQDialogButtonBox { dialogbuttonbox-buttons-have-icons: 1; }\n"
    )
    box = QDialogButtonBox(
        QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
    )
    qtbot.addWidget(box)
    ok = box.button(QDialogButtonBox.StandardButton.Ok)
    cancel = box.button(QDialogButtonBox.StandardButton.Cancel)
    assert ok is not None and cancel is not None
    assert not ok.icon().isNull()  # icons are on
    assert cancel.icon().isNull(), "Cancel carries an icon (Qt's red cross)"
