"""System → Security's helpdesk mailbox, which receives a copy of every trust alert (issue 16
§4): edited in Trust and codes, a bad address is said under the field and nothing typed is
lost, a good one is saved and audited."""

from __future__ import annotations

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.audit import AuditService, Event
from pmdesk.core.context import Actor
from pmdesk.core.security import SecurityService
from pmdesk.ui.system.security import SecurityPage
from tests.ui.test_review_trust_box import page as page  # the fixture, reused

BAD = "helpdesk@workshop.example, thief@evil.example"
GOOD = "IT Helpdesk <helpdesk@workshop.example>"


def _saved(app: App) -> str:
    return SecurityService(app.context).get(Actor.system("t")).helpdesk_mailbox


def test_the_helpdesk_mailbox_is_one_address_said_under_its_field(
    qtbot: QtBot, page: SecurityPage, ui_app: App
) -> None:
    edit = page.trust.helpdesk_edit
    assert edit.isEnabled() and edit.text() == ""
    assert edit.accessibleName() == "Helpdesk mailbox for trust alerts"
    assert "Not you? Call the helpdesk" in edit.accessibleDescription()

    qtbot.keyClicks(edit, BAD)
    assert page.has_unsaved_changes() and page.trust.trust_save_button.isEnabled()
    qtbot.mouseClick(page.trust.trust_save_button, Qt.MouseButton.LeftButton)
    error = page.trust.helpdesk_box.error
    qtbot.waitUntil(lambda: error.isVisible() and page.tasks.is_idle())
    assert error.text() == "The helpdesk mailbox: enter one e-mail address only."
    assert edit.text() == BAD  # nothing typed is lost
    assert _saved(ui_app) == ""

    # Typing clears the error; one address, with a name, is saved and audited.
    edit.clear()
    qtbot.keyClicks(edit, GOOD)
    assert not error.isVisible()
    qtbot.mouseClick(page.trust.trust_save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.trust.trust_message.text() == "Saved." and page.tasks.is_idle())
    assert _saved(ui_app) == GOOD
    assert edit.text() == GOOD and not page.has_unsaved_changes()
    log = AuditService(ui_app.context).query(Actor.system("t"), event=Event.SETTING_CHANGED)
    assert any(f"helpdesk_mailbox '' → '{GOOD}'" in row.detail for row in log)
