"""System → Security's office networks, driven as an administrator would (issue 16, item 1): add
one, see a mistake under its field with what was typed kept, remove one after seeing what it
changes; and the trusted-IP list names each address's network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from pmdesk.bootstrap import App
from pmdesk.core.context import Actor
from pmdesk.core.db import Database
from pmdesk.core.models import AuditEvent, OfficeNetwork, SecuritySettings
from pmdesk.core.modules import MAINTENANCE
from pmdesk.core.office_networks import OFFICE_NETWORKS, OfficeNetworkService
from pmdesk.core.security import SecurityService
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.page_context import Session
from pmdesk.ui.system.office_networks_box import NAME, RANGES, OfficeNetworksBox
from pmdesk.ui.system.security import SecurityPage
from pmdesk.ui.system.trusted_ips_model import ADDRESS, NETWORK
from pmdesk.ui.tasks import TaskManager
from tests.helpers.qt import answer, column, visible_box
from tests.helpers.staff import add_group, add_person
from tests.ui.conftest import add_login
from tests.ui.screenshots import capture, screenshot_dir
from tests.ui.system_pages import not_clipped, open_page

OTHER = Actor.system("another workstation")


@pytest.fixture
def box(
    qtbot: QtBot, ui_app: App, admin_session: Session, tasks: TaskManager
) -> Iterator[OfficeNetworksBox]:
    widget = OfficeNetworksBox(
        OfficeNetworkService(ui_app.context),
        SecurityService(ui_app.context),
        admin_session.actor,
        tasks,
        can_edit=True,
    )
    qtbot.addWidget(widget)
    widget.resize(460, 420)
    widget.show()
    widget.load()
    qtbot.waitUntil(lambda: tasks.is_idle())
    yield widget


def _idle(box: OfficeNetworksBox) -> bool:
    return not box.ops.busy and not box.loading.running


def _stored(owner_db: Database) -> list[tuple[str, str]]:
    """The office networks as stored (read as the owner: on a hardened database too)."""
    with owner_db.session() as s:
        rows = s.execute(
            select(OfficeNetwork.name, OfficeNetwork.ranges).order_by(OfficeNetwork.id)
        )
        return [(r[0], r[1]) for r in rows]


def _add(qtbot: QtBot, box: OfficeNetworksBox, name: str, ranges: str) -> None:
    box.name_edit.clear()
    box.ranges_edit.clear()
    qtbot.keyClicks(box.name_edit, name)
    qtbot.keyClicks(box.ranges_edit, ranges)
    qtbot.mouseClick(box.add_button, Qt.MouseButton.LeftButton)
    answered = (box.message, box.name_box.error, box.ranges_box.error)
    qtbot.waitUntil(lambda: _idle(box) and any(w.isVisible() for w in answered), timeout=10_000)


def test_add_a_network_and_see_it_listed(
    qtbot: QtBot, box: OfficeNetworksBox, ui_app: App, owner_db: Database
) -> None:
    assert box.table.rowCount() == 0
    _add(qtbot, box, "Head office", "10.1.0.0/16, 10.8.0.0/24")
    assert box.message.role == "success"
    assert box.message.text() == "Office network “Head office” added: 10.1.0.0/16, 10.8.0.0/24."
    qtbot.waitUntil(lambda: box.table.rowCount() == 1)
    assert box.table.item(0, NAME).text() == "Head office"
    assert box.table.item(0, RANGES).text() == "10.1.0.0/16, 10.8.0.0/24"
    assert (box.name_edit.text(), box.ranges_edit.text()) == ("", ""), "cleared for the next"
    assert _stored(owner_db) == [("Head office", "10.1.0.0/16, 10.8.0.0/24")]
    with owner_db.session() as s:
        events = s.execute(select(AuditEvent.event, AuditEvent.subject)).all()
    assert ("network.added", "office network Head office") in [(e[0], e[1]) for e in events]


def test_a_mistake_is_shown_under_its_field_and_what_was_typed_stays(
    qtbot: QtBot, box: OfficeNetworksBox, ui_app: App, owner_db: Database
) -> None:
    _add(qtbot, box, "VPN", "10.8.0.0/33")
    assert not box.name_box.error.isVisible()
    assert box.ranges_box.error.isVisible()
    assert "10.8.0.0/33" in box.ranges_box.error.text()
    assert (box.name_edit.text(), box.ranges_edit.text()) == ("VPN", "10.8.0.0/33")
    assert _stored(owner_db) == []
    # Typing again clears the mark; a name already taken is said under the name.
    qtbot.keyClicks(box.ranges_edit, "\b\b24")
    assert not box.ranges_box.error.isVisible()
    OfficeNetworkService(ui_app.context).add(OTHER, "vpn", ["10.9.0.0/24"])
    qtbot.mouseClick(box.add_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _idle(box) and box.name_box.error.isVisible(), timeout=10_000)
    assert box.name_box.error.text() == "An office network named 'VPN' exists."
    assert _stored(owner_db) == [("vpn", "10.9.0.0/24")]


def test_removing_says_what_stops_being_trusted_first(
    qtbot: QtBot, box: OfficeNetworksBox, ui_app: App, owner_db: Database
) -> None:
    networks = OfficeNetworkService(ui_app.context)
    networks.add(OTHER, "Head office", ["10.1.0.0/16"])
    security = SecurityService(ui_app.context)
    security.update(OTHER, security.get(OTHER).version, trust_policy=OFFICE_NETWORKS)
    person = add_person(ui_app.db, "speeters", first_name="Sofie", last_name="Peeters")
    TrustedIpService(ui_app.context).trust_by_admin(OTHER, person, "10.1.2.3")
    box.load()
    qtbot.waitUntil(lambda: _idle(box) and box.table.rowCount() == 1)
    assert not box.remove_button.isEnabled(), "nothing chosen yet"
    box.table.selectRow(0)
    assert box.remove_button.isEnabled()

    qtbot.mouseClick(box.remove_button, Qt.MouseButton.LeftButton)
    asked = answer(qtbot, box, "Cancel")
    assert asked == "Remove the office network “Head office” (10.1.0.0/16)?"
    assert _stored(owner_db) == [("Head office", "10.1.0.0/16")], "Cancel keeps it"

    qtbot.mouseClick(box.remove_button, Qt.MouseButton.LeftButton)
    question = visible_box(qtbot, box)
    assert question.informativeText() == (
        "1 address stops being trusted, 1 person affected: their next sign-in asks for a code."
    )
    answer(qtbot, box, "Remove")
    qtbot.waitUntil(lambda: _idle(box) and box.table.rowCount() == 0, timeout=10_000)
    assert box.message.text() == "Office network “Head office” removed."
    assert _stored(owner_db) == []


def test_without_edit_rights_nothing_can_be_changed(
    qtbot: QtBot, ui_app: App, tasks: TaskManager
) -> None:
    widget = OfficeNetworksBox(
        OfficeNetworkService(ui_app.context),
        SecurityService(ui_app.context),
        OTHER,
        tasks,
        can_edit=False,
    )
    qtbot.addWidget(widget)
    widget.show()
    assert not widget.add_button.isEnabled()
    assert not widget.name_edit.isEnabled() and not widget.ranges_edit.isEnabled()
    assert not widget.remove_button.isEnabled()
    assert not widget.policy_combo.isEnabled() and not widget.policy_save_button.isEnabled()
    assert widget.add_button.toolTip() == "Your user group may not change System → Security."


def test_a_clerk_is_refused_by_the_service_even_with_the_button(
    qtbot: QtBot, ui_app: App, owner_db: Database, admin_id: int, tasks: TaskManager
) -> None:
    """The button follows the rights read at sign-in; the core checks again."""
    clerks = add_group(ui_app.db, "Clerks", {MAINTENANCE.key: "r"})
    clerk = add_login(ui_app, "clerk", "a long secret", group_id=clerks)
    widget = OfficeNetworksBox(
        OfficeNetworkService(ui_app.context),
        SecurityService(ui_app.context),
        Actor(name="clerk", person_id=clerk, address="192.0.2.10"),
        tasks,
        can_edit=True,  # as if the rights were taken away after sign-in
    )
    qtbot.addWidget(widget)
    widget.show()
    _add(qtbot, widget, "Home", "192.0.2.0/24")
    assert widget.message.role == "error"
    assert widget.message.text().startswith("Your user group may not change System → Security.")
    assert _stored(owner_db) == []


def test_the_trusted_ip_list_names_each_addresses_network(
    qtbot: QtBot, ui_app: App, main_window: MainWindow
) -> None:
    OfficeNetworkService(ui_app.context).add(OTHER, "Head office", ["10.1.0.0/16"])
    person = add_person(ui_app.db, "speeters", first_name="Sofie", last_name="Peeters")
    trusted = TrustedIpService(ui_app.context)
    trusted.trust_by_admin(OTHER, person, "10.1.2.3")
    trusted.trust_by_admin(OTHER, person, "83.134.100.157")
    page = open_page(qtbot, main_window, "security")
    assert isinstance(page, SecurityPage)
    qtbot.waitUntil(lambda: page.model.rowCount() == 2, timeout=10_000)
    shown = dict(zip(column(page.model, ADDRESS), column(page.model, NETWORK), strict=True))
    assert shown == {"10.1.2.3": "Head office", "83.134.100.157": "Outside office networks"}
    outside = column(page.model, ADDRESS).index("83.134.100.157")
    tip = page.model.data(page.model.index(outside, NETWORK), Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("In none of the office networks")


def _policy(owner_db: Database) -> str:
    with owner_db.session() as s:
        return str(s.execute(select(SecuritySettings.trust_policy)).scalar_one())


def test_the_trust_policy_shows_what_it_changes_before_it_is_saved(
    qtbot: QtBot, ui_app: App, owner_db: Database, main_window: MainWindow, tmp_path: Path
) -> None:
    OfficeNetworkService(ui_app.context).add(OTHER, "Head office", ["10.1.0.0/16"])
    people = [add_person(ui_app.db, login) for login in ("speeters", "amaes")]
    trusted = TrustedIpService(ui_app.context)
    trusted.trust_by_admin(OTHER, people[0], "10.1.2.3")  # inside: stays under office-networks
    trusted.trust_by_admin(OTHER, people[0], "83.134.100.157")
    trusted.trust_by_admin(OTHER, people[1], "81.82.83.84")
    page = open_page(qtbot, main_window, "security")
    assert isinstance(page, SecurityPage)
    box = page.networks_box
    qtbot.waitUntil(lambda: box.policy == "anywhere" and box.table.rowCount() == 1)
    assert box.policy_combo.currentText() == "Anywhere"
    assert not box.policy_save_button.isEnabled(), "nothing changed yet"

    box.policy_combo.setCurrentIndex(box.policy_combo.findText("Only inside office networks"))
    assert box.policy_save_button.isEnabled()
    qtbot.mouseClick(box.policy_save_button, Qt.MouseButton.LeftButton)
    question = visible_box(qtbot, box)
    assert question.text() == "Trust addresses: Only inside office networks?"
    assert question.informativeText() == (
        "2 addresses stop being trusted, 2 people affected: their next sign-in asks for a code."
    )
    answer(qtbot, box, "Cancel")
    assert _policy(owner_db) == "anywhere", "Cancel saves nothing"
    assert box.policy_combo.currentText() == "Only inside office networks", "the choice stays"

    qtbot.mouseClick(box.policy_save_button, Qt.MouseButton.LeftButton)
    answer(qtbot, box, "Change")
    qtbot.waitUntil(lambda: box.policy == "office-networks" and not box.ops.busy, timeout=10_000)
    assert box.message.text() == "Trust policy saved: Only inside office networks."
    assert _policy(owner_db) == "office-networks"
    assert not box.policy_save_button.isEnabled()
    page.left_scroll.ensureWidgetVisible(box)
    not_clipped(box)
    capture(box, "security-trust-policy", screenshot_dir(tmp_path))
    # The page's own settings follow (no conflict at its next save).
    qtbot.waitUntil(
        lambda: page.settings is not None and page.settings.trust_policy == "office-networks",
        timeout=10_000,
    )
