"""System → Security as a first-time administrator meets it (issue 19: items 3, 8, 9, 10, 13, 19,
22 and 23)."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QScrollArea,
    QStyle,
    QStyleOptionComboBox,
    QWidget,
)
from pytestqt.qtbot import QtBot
from sqlalchemy import make_url

from pmdesk.bootstrap import App
from pmdesk.core.delivery.base import DeliverySettings
from pmdesk.core.screens import SecretState, SecurityState
from pmdesk.core.security import ConnectionStatus, SecurityService, database_link, delivery_link
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.system.security import SecurityPage
from tests.helpers import hardened
from tests.helpers.qt import answer, security_idle
from tests.helpers.smtp import SmtpServer
from tests.ui.system_pages import open_page
from tests.ui.test_security import OTHER

RED = "#b3261e"


@pytest.fixture
def page(qtbot: QtBot, admin_id: int, main_window: MainWindow) -> SecurityPage:
    widget = open_page(qtbot, main_window, "security")
    assert isinstance(widget, SecurityPage)
    qtbot.waitUntil(lambda: security_idle(widget) and widget.model.current_page is not None)
    return widget


def _activate(qtbot: QtBot, window: QWidget) -> None:
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window)


def _in_view(scroll: QScrollArea, widget: QWidget) -> bool:
    """Whether ``widget`` is wholly inside the scroll area's viewport."""
    view = scroll.viewport()
    where = QRect(widget.mapTo(view, QPoint(0, 0)), widget.size())
    return view.rect().contains(where)


def _save_plain_smtp(qtbot: QtBot, page: SecurityPage, host: str, port: int) -> None:
    box = page.mail_box
    box.method_combo.setCurrentIndex(box.method_combo.findData("smtp"))
    qtbot.keyClicks(box.edits["smtp_host"], host)
    box.security_combo.setCurrentIndex(box.security_combo.findData("none"))
    box.port_spin.setValue(port)
    qtbot.keyClicks(box.edits["smtp_from"], "pmdesk@example.com")
    qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and box.message.role == "success")


# ----- item 3: the status line says what is meant, red only for what is wrong ------------------


def _colour(label: QWidget) -> str:
    """The text colour style.qss gives ``label`` (QLabel[statusState=…])."""
    label.ensurePolished()
    return label.palette().color(label.foregroundRole()).name()


def test_mail_to_a_local_relay_is_not_reported_as_off_in_red(
    qtbot: QtBot, page: SecurityPage, smtp_plain_server: SmtpServer
) -> None:
    _save_plain_smtp(qtbot, page, smtp_plain_server.host, smtp_plain_server.port)
    qtbot.waitUntil(lambda: "E-mail via" in page.mail_status.text())
    text = page.mail_status.text()
    assert "Off" not in text and "On —" not in text
    assert "Encryption: none (local server only)" in text
    assert page.mail_status.state is None  # neutral: nothing is wrong
    assert _colour(page.mail_status.value) != RED
    page.mail_status.grab().save("/tmp/status-mail.png")


def test_database_line_says_encryption_and_is_red_only_over_the_network(
    page: SecurityPage,
) -> None:
    settings, shown = page.settings, page.status
    assert settings is not None and shown is not None

    def show(**changes: object) -> None:
        status = replace(shown, **changes)  # type: ignore[arg-type]
        page._show_state(SecurityState(settings, status, SecretState()))

    show(database_encrypted=False, database_link="local")
    assert page.database_status.text() == "Encryption: none (server on this computer only)"
    assert page.database_status.state is None
    show(database_encrypted=True, database_link="encrypted")
    assert page.database_status.text() == "Encryption: TLS"
    assert page.database_status.state is True
    show(database_encrypted=False, database_link="exposed")
    assert page.database_status.text().startswith("Not encrypted")
    assert page.database_status.state is False
    assert _colour(page.database_status.value) == RED


def test_the_core_knows_which_links_are_local(ui_app: App, page: SecurityPage) -> None:
    status = SecurityService(ui_app.context).connection_status(OTHER)
    assert isinstance(status, ConnectionStatus)
    server_link = "none" if ui_app.db.is_sqlite else "local"  # a server on 127.0.0.1
    assert (status.database_link, status.mail_link) == (server_link, "none")
    url = make_url
    assert database_link(False, url("postgresql+psycopg://u@127.0.0.1/pm")) == "local"
    assert database_link(False, url("postgresql+psycopg:///pm")) == "local"  # local socket
    assert database_link(False, url("postgresql+psycopg://u@db.office.lan/pm")) == "exposed"
    assert database_link(True, url("postgresql+psycopg://u@db.office.lan/pm")) == "encrypted"
    smtp = DeliverySettings(
        method="smtp", smtp_host="localhost", smtp_security="none", smtp_from="codes@example.com"
    )
    assert delivery_link(smtp) == "local"
    assert delivery_link(replace(smtp, smtp_host="mail.example.com")) == "exposed"
    assert delivery_link(replace(smtp, smtp_security="tls")) == "encrypted"
    assert delivery_link(DeliverySettings(method="sms", sms_url="http://127.0.0.1/s")) == "local"


# ----- item 8: the test code's result is where the user looks ----------------------------------


def test_send_test_code_result_is_scrolled_into_view(
    qtbot: QtBot, page: SecurityPage, main_window: MainWindow
) -> None:
    box = page.mail_box
    scroll = page.left_scroll
    bar = scroll.verticalScrollBar()
    # The test button is the last thing the user sees at the bottom of the panel.
    qtbot.keyClicks(box.test_edit, "jm@insypro.com")
    bottom = box.test_button.mapTo(scroll.widget(), QPoint(0, box.test_button.height())).y()
    bar.setValue(bottom - scroll.viewport().height() + 2)
    assert _in_view(scroll, box.test_button)
    qtbot.mouseClick(box.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and box.message.isVisible())
    assert box.message.role == "success"
    qtbot.waitUntil(lambda: _in_view(scroll, box.message))
    main_window.grab().save("/tmp/test-result.png")


# ----- item 9: the SMTP form's tab order is its visual order -----------------------------------


def test_smtp_form_tab_order_follows_the_layout(
    qtbot: QtBot, page: SecurityPage, main_window: MainWindow
) -> None:
    box = page.mail_box
    box.method_combo.setCurrentIndex(box.method_combo.findData("smtp"))
    _activate(qtbot, main_window)
    expected = [
        box.method_combo,
        box.edits["smtp_host"],
        box.port_spin,
        box.security_combo,
        box.edits["smtp_username"],
        box.edits["smtp_password"],
        box.edits["smtp_from"],
    ]
    # The visual order: top to bottom.
    tops = [w.mapTo(box, QPoint(0, 0)).y() for w in expected]
    assert tops == sorted(tops)
    box.method_combo.setFocus()
    qtbot.waitUntil(box.method_combo.hasFocus)
    seen = [box.method_combo]
    for _ in range(len(expected) - 1):
        qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        focus = QApplication.focusWidget()
        assert focus is not None
        seen.append(box.port_spin if box.port_spin.isAncestorOf(focus) else focus)
    assert [w.objectName() for w in seen] == [w.objectName() for w in expected]

    # A port typed after Server lands in Port.
    box.edits["smtp_host"].setFocus()
    qtbot.keyClick(box.edits["smtp_host"], Qt.Key.Key_Tab)
    focus = QApplication.focusWidget()
    assert focus is not None and box.port_spin.isAncestorOf(focus)


# ----- item 10: the scroll area follows the focus ----------------------------------------------


def test_focusing_a_widget_out_of_view_scrolls_it_into_view(
    qtbot: QtBot, page: SecurityPage, main_window: MainWindow
) -> None:
    _activate(qtbot, main_window)
    scroll = page.left_scroll
    scroll.verticalScrollBar().setValue(0)
    target = page.mail_box.test_edit
    assert not _in_view(scroll, target)
    target.setFocus()
    qtbot.waitUntil(target.hasFocus)
    qtbot.waitUntil(lambda: _in_view(scroll, target))

    # And back up: the two-step button, scrolled out of view, is shown when focused.
    button = page.two_factor_button
    assert not _in_view(scroll, button)
    button.setFocus()
    qtbot.waitUntil(lambda: _in_view(scroll, button))


def test_every_scroll_area_follows_the_focus(qtbot: QtBot, main_window: MainWindow) -> None:
    for key in ("security", "permissions", "personnel"):
        open_page(qtbot, main_window, key)
    areas = [a for a in main_window.findChildren(QScrollArea) if a.widget() is not None]
    assert {a.objectName() for a in areas} >= {"securityLeftScroll", "gridScroll", "editorScroll"}
    for area in areas:
        assert area.property("followsFocus") is True, area.objectName()


# ----- item 13: the two-step control says its state and names its action ----------------------


def test_two_step_state_is_text_and_the_button_names_its_action(
    qtbot: QtBot, page: SecurityPage
) -> None:
    assert page.two_factor_state.text() == "Off"
    assert page.two_factor_button.text() == "Turn on…"
    qtbot.mouseClick(page.two_factor_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.readiness_dialog is not None and page.readiness_dialog.isVisible())
    dialog = page.readiness_dialog
    assert dialog is not None
    qtbot.mouseClick(dialog.confirm_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and page.two_factor_state.text() == "On")
    assert page.two_factor_button.text() == "Turn off…"
    page.grab().save("/tmp/two-step-on.png")
    qtbot.mouseClick(page.two_factor_button, Qt.MouseButton.LeftButton)
    assert answer(qtbot, page, "Turn off") == "Turn two-step authentication off?"
    qtbot.waitUntil(lambda: security_idle(page) and page.two_factor_state.text() == "Off")
    assert page.two_factor_button.text() == "Turn on…"


# ----- item 19: the From error goes as soon as From is valid -----------------------------------


def test_from_error_is_cleared_as_soon_as_the_address_is_valid(
    qtbot: QtBot, page: SecurityPage
) -> None:
    box = page.mail_box
    box.method_combo.setCurrentIndex(box.method_combo.findData("smtp"))
    qtbot.keyClicks(box.edits["smtp_host"], "smtp.example.com")
    qtbot.mouseClick(box.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and box.message.isVisible())
    assert box.field_error("smtp_from") == "Enter the sender address (From) for code mails."
    edit = box.edits["smtp_from"]
    qtbot.keyClicks(edit, "pmdesk@example")
    assert box.field_error("smtp_from") != ""  # not an address yet
    qtbot.keyClicks(edit, ".com")
    assert box.field_error("smtp_from") == ""  # valid now: no red left, no need to leave it
    assert not edit.property("invalid")
    # Leaving the field does not bring it back either.
    edit.editingFinished.emit()
    assert box.field_error("smtp_from") == ""


# ----- item 22: the test e-mail is plainly a test ----------------------------------------------


@hardened.RELAY_DELIVERS
def test_test_email_says_its_code_signs_nobody_in(
    qtbot: QtBot, page: SecurityPage, ui_app: App
) -> None:
    box = page.mail_box
    qtbot.keyClicks(box.test_edit, "jm@insypro.com")
    qtbot.mouseClick(box.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and box.message.isVisible())
    [file] = Path(ui_app.context.outbox_default).glob("*.eml")
    mail = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    text = " ".join(str(part.get_content()).split())
    assert "THIS IS A TEST" in text
    assert "signs nobody in" in text
    assert "valid for" not in text and "used only once" not in text
    assert "cannot be used to sign in" not in text


# ----- item 23: no combo item is cut off -------------------------------------------------------


def test_no_delivery_combo_item_is_cut_off(qtbot: QtBot, page: SecurityPage) -> None:
    box = page.mail_box
    box.method_combo.setCurrentIndex(box.method_combo.findData("smtp"))
    qtbot.wait(20)
    for combo in box.findChildren(QComboBox):
        option = QStyleOptionComboBox()
        combo.initStyleOption(option)
        field = combo.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox,
            option,
            QStyle.SubControl.SC_ComboBoxEditField,
            combo,
        )
        metrics = combo.fontMetrics()
        for i in range(combo.count()):
            text = combo.itemText(i)
            assert metrics.horizontalAdvance(text) <= field.width(), (
                f"{text!r} is cut off in {combo.objectName()} ({field.width()} px)"
            )
    box.grab().save("/tmp/mail-box.png")
