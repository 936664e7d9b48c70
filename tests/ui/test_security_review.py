"""System → Security, "Needs review" (issue 16 §2), driven as a helpdesk user would: the toggle
shows only the addresses needing review with their reasons, the count is on the box, the
toggle and the Security tab, and a removal offers Undo for a while, which puts the rows back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot
from sqlalchemy import select

from pmdesk.bootstrap import App
from pmdesk.core.models import TrustedIp
from pmdesk.core.modules import SYSTEM_SECURITY
from pmdesk.core.office_networks import OfficeNetworkService
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.page_context import Session
from pmdesk.ui.system.security import SecurityPage
from pmdesk.ui.system.trusted_ips_model import ADDRESS, NETWORK, REASONS
from pmdesk.ui.tasks import TaskManager
from tests.helpers.qt import answer, column, security_idle
from tests.helpers.staff import actor, add_group, add_person
from tests.helpers.trusted_ips import trust_addresses
from tests.ui.screenshots import capture, screenshot_dir
from tests.ui.system_pages import open_page, security_page_of

DAY = timedelta(days=1)
HOME = "81.2.69.160"


def stored(app: App) -> list[tuple[int, str, object, object]]:
    with app.db.session() as s:
        rows = s.execute(
            select(
                TrustedIp.person_id, TrustedIp.address, TrustedIp.created_at, TrustedIp.last_used_at
            ).order_by(TrustedIp.id)
        ).all()
        return [tuple(r) for r in rows]  # type: ignore[misc]


@pytest.fixture
def page(qtbot: QtBot, ui_app: App, admin_id: int, main_window: MainWindow) -> SecurityPage:
    """Head office 10.1.0.0/16; six addresses, three of them needing review."""
    OfficeNetworkService(ui_app.context).add(actor(admin_id), "Head office", ["10.1.0.0/16"])
    staff = add_group(ui_app.db, "Staff")  # no rights: anyone may remove their addresses
    sofie = add_person(
        ui_app.db, "speeters", first_name="Sofie", last_name="Peeters", group_id=staff
    )
    an = add_person(ui_app.db, "amaes", first_name="An", last_name="Maes", group_id=staff)
    ids = trust_addresses(
        ui_app.db,
        [
            (sofie, HOME, 2 * DAY),  # public, shared by Sofie and An
            (an, HOME, 3 * DAY),
            (an, "192.168.1.20", 4 * DAY),  # a home network
            (admin_id, "10.1.0.5", 12 * timedelta(hours=1)),
            (sofie, "10.1.0.6", timedelta(hours=13)),
            (an, "10.1.0.7", timedelta(hours=14)),
        ],
        ui_app.context.clock,
    )
    assert len(ids) == 6
    widget = open_page(qtbot, main_window, "security")
    assert isinstance(widget, SecurityPage)
    qtbot.waitUntil(lambda: security_idle(widget) and widget.ips.review_count == 3)
    return widget


def _review_on(qtbot: QtBot, page: SecurityPage) -> None:
    qtbot.mouseClick(page.ips.review_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: security_idle(page) and page.paging_label.text() == "Viewing items 1-3 of 3"
    )


def test_needs_review_shows_only_those_rows_with_their_reasons_and_the_count(
    qtbot: QtBot, page: SecurityPage, main_window: MainWindow
) -> None:
    ips = page.ips
    assert ips.title() == "Trusted IP addresses (3 to review)"
    assert ips.review_button.text() == "Needs review (3)"
    tabs = main_window.findChild(type(main_window.top_tabs), "systemTabs")
    assert tabs is not None
    assert "Security (3 to review)" in [tabs.tabText(i) for i in range(tabs.count())]
    assert page.paging_label.text() == "Viewing items 1-6 of 6"
    assert ips.table.isColumnHidden(REASONS)

    _review_on(qtbot, page)
    assert not ips.table.isColumnHidden(REASONS) and ips.table.isColumnHidden(NETWORK)
    assert ips.review_button.isChecked() and ips.review_button.accessibleName()
    reasons = dict(zip(column(page.model, ADDRESS), column(page.model, REASONS), strict=True))
    assert reasons == {
        HOME: "Outside, Public, Shared (2), Never used",
        "192.168.1.20": "Outside, Never used",
    }
    tooltip = page.model.data(page.model.index(0, REASONS), Qt.ItemDataRole.ToolTipRole)
    assert tooltip.startswith(
        "Outside office networks\nPublic address\nShared by 2 people\nNever used\nTrusted "
    )
    assert column(page.model, ADDRESS).count(HOME) == 2
    # Off again: every row.
    qtbot.mouseClick(ips.review_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: security_idle(page) and page.paging_label.text() == "Viewing items 1-6 of 6"
    )
    assert ips.table.isColumnHidden(REASONS)


def _remove_all_shown(qtbot: QtBot, page: SecurityPage) -> None:
    page.ips.table.selectAll()
    qtbot.mouseClick(page.ips.remove_button, Qt.MouseButton.LeftButton)
    assert answer(qtbot, page, "Remove") == "Remove 3 trusted addresses?"
    qtbot.waitUntil(lambda: security_idle(page) and page.ips.review_count == 0)


def test_removing_offers_undo_which_puts_the_same_rows_back(
    qtbot: QtBot, page: SecurityPage, ui_app: App
) -> None:
    before = stored(ui_app)
    _review_on(qtbot, page)
    _remove_all_shown(qtbot, page)
    ips = page.ips
    assert ips.undo_bar.offered
    assert ips.undo_bar.message.text() == "Removed 3 trusted addresses."
    assert ips.title() == "Trusted IP addresses" and ips.review_button.text() == "Needs review"
    assert ips.empty_label.text() == "No trusted address needs review."
    assert len(stored(ui_app)) == 3

    qtbot.mouseClick(ips.undo_bar.undo_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: security_idle(page) and ips.review_count == 3)
    assert not ips.undo_bar.offered
    assert ips.ip_message.text() == "3 trusted addresses put back."
    assert page.paging_label.text() == "Viewing items 1-3 of 3"
    assert stored(ui_app) == before, "the same people, addresses and times"


def test_undo_goes_away_after_its_time(qtbot: QtBot, page: SecurityPage, ui_app: App) -> None:
    page.ips.undo_bar.duration_ms = 1500  # instead of 10 s; long enough to be seen offered
    _review_on(qtbot, page)
    _remove_all_shown(qtbot, page)
    assert page.ips.undo_bar.offered
    qtbot.waitUntil(lambda: not page.ips.undo_bar.offered, timeout=10_000)
    assert len(stored(ui_app)) == 3
    assert page.ips.review_count == 0


def test_screenshot(
    qtbot: QtBot, page: SecurityPage, main_window: MainWindow, tmp_path: Path
) -> None:
    main_window.resize(1024, 768)
    _review_on(qtbot, page)
    page.ips.table.scrollTo(page.model.index(0, 0))
    capture(main_window, "security-review", screenshot_dir(tmp_path))


def test_without_security_edit_a_removal_offers_no_undo(
    qtbot: QtBot,
    ui_app: App,
    page: SecurityPage,
    tasks: TaskManager,
    session_for: Callable[[int, str, str], Session],
) -> None:
    """Putting back needs System → Security Edit: a helpdesk with Read and Delete removes as
    before, with the plain sentence and no Undo."""
    group = add_group(ui_app.db, "Helpdesk", {SYSTEM_SECURITY.key: "rd"})
    helper = add_person(ui_app.db, "helper", group_id=group, last_name="Helper")
    session = session_for(helper, "helper", "H. Helper")
    theirs = security_page_of(qtbot, ui_app, session, tasks, (1024, 768))
    qtbot.waitUntil(lambda: security_idle(theirs) and theirs.ips.review_count == 3)
    _review_on(qtbot, theirs)
    _remove_all_shown(qtbot, theirs)
    assert not theirs.ips.undo_bar.offered
    assert theirs.ips.ip_message.text() == "3 trusted addresses removed."
    assert len(stored(ui_app)) == 3
