"""System → Security in Dutch and French: the header's language switch changes the open screen
at once (box titles, the trusted IP list's headers and paging, the spin boxes' units, the review
count), and back to English, without reopening anything (issue 15 §2)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.system.readiness import ReadinessDialog
from pmdesk.ui.system.review_count import own_tab
from pmdesk.ui.system.security import SecurityPage
from pmdesk.ui.system.trusted_ips_model import EXPIRES, NETWORK, REASONS, USER
from pmdesk.ui.translation import install_translation
from tests.helpers.qt import security_idle
from tests.helpers.staff import add_person
from tests.helpers.trusted_ips import trust_addresses
from tests.ui.screenshots import capture, screenshot_dir, settle
from tests.ui.system_pages import not_clipped, open_page

N_IPS = 5


@pytest.fixture
def page(qtbot: QtBot, ui_app: App, admin_id: int, main_window: MainWindow) -> SecurityPage:
    other = add_person(ui_app.db, "speeters", first_name="Sofie", last_name="Peeters")
    rows = [
        ((admin_id, other)[i % 2], f"10.1.{i}.1", timedelta(days=2, hours=i)) for i in range(N_IPS)
    ]
    trust_addresses(ui_app.db, rows, ui_app.context.clock)
    widget = open_page(qtbot, main_window, "security")
    assert isinstance(widget, SecurityPage)
    qtbot.waitUntil(lambda: security_idle(widget) and widget.ips.review_count is not None)
    return widget


def _header(page: SecurityPage, column: int) -> str:
    return str(page.model.headerData(column, Qt.Orientation.Horizontal))


def _tab_text(page: SecurityPage) -> str:
    found = own_tab(page.ips)
    assert found is not None
    tabs, index = found
    return tabs.tabText(index)


def test_the_open_security_screen_follows_the_language_at_once(
    qtbot: QtBot, page: SecurityPage
) -> None:
    assert page.trust.title() == "Trust and codes"
    qtbot.waitUntil(lambda: page.locked_box.message.text() == "Nobody is locked now.")
    assert page.ips.review_count == N_IPS  # no office networks: all outside them
    # a screen reader names the filter and reads its placeholder as the description
    filter_edit = page.ips.filter_edit
    assert filter_edit.accessibleName() == "Filter trusted IP addresses"
    assert filter_edit.accessibleDescription() == filter_edit.placeholderText() != ""

    assert install_translation("nl-BE")
    qtbot.waitUntil(lambda: page.trust.title() == "Vertrouwen en codes")
    assert page.two_step.title() == "Aanmelden in twee stappen"
    assert page.status_box.title() == "Beveiliging van de verbindingen"
    assert page.networks_box.title() == "Waar adressen vertrouwd mogen worden"
    assert page.lockout_box.title() == "Blokkering"
    assert page.locked_box.title() == "Nu geblokkeerd"
    assert page.locked_box.message.text() == "Niemand is nu geblokkeerd."
    assert page.ips.title() == f"Vertrouwde IP-adressen ({N_IPS} na te kijken)"
    assert page.ips.review_button.text() == f"Na te kijken ({N_IPS})"
    assert (_header(page, USER), _header(page, EXPIRES)) == ("Gebruiker", "Vervalt")
    assert page.trust.trust_days_spin.suffix() == " dagen"
    assert page.lockout_box.first_lock_spin.suffix() == " min"
    assert page.paging_label.text() == f"Items 1-{N_IPS} van {N_IPS}"
    assert page.two_factor_state.text() in {"Aan", "Uit"}
    qtbot.waitUntil(lambda: _tab_text(page).endswith(f"({N_IPS} na te kijken)"))
    assert _tab_text(page).count("(") == 1  # the count is never added twice

    assert install_translation("fr-BE")
    qtbot.waitUntil(lambda: page.trust.title() == "Confiance et codes")
    assert _header(page, USER) == "Utilisateur"
    assert page.trust.trust_days_spin.suffix() == " jours"
    assert page.ips.remove_button.text() == "Retirer"
    network = page.model.data(page.model.index(0, NETWORK))
    assert network == "Hors des réseaux du bureau"
    page.ips.review_button.click()  # the Reasons column, said in French
    qtbot.waitUntil(lambda: security_idle(page) and page.model.review)
    reasons = page.model.data(page.model.index(0, REASONS), Qt.ItemDataRole.ToolTipRole)
    assert str(reasons).startswith("Hors des réseaux du bureau\nJamais utilisée\nDe confiance ")
    assert page.model.data(page.model.index(0, REASONS)) == "Hors bureau, Jamais utilisée"
    qtbot.waitUntil(lambda: _tab_text(page).endswith(f"({N_IPS} à vérifier)"))
    assert _tab_text(page).count("(") == 1

    assert install_translation("en-GB")
    qtbot.waitUntil(lambda: page.trust.title() == "Trust and codes")
    assert page.ips.title() == f"Trusted IP addresses ({N_IPS} to review)"
    assert _header(page, USER) == "User"
    assert page.trust.trust_days_spin.suffix() == " days"
    assert page.paging_label.text() == f"Viewing items 1-{N_IPS} of {N_IPS}"
    qtbot.waitUntil(lambda: _tab_text(page).endswith(f"({N_IPS} to review)"))
    assert _tab_text(page).count("(") == 1


def test_the_readiness_dialog_follows_the_language(qtbot: QtBot, page: SecurityPage) -> None:
    dialog = ReadinessDialog([], "e-mail", page)
    qtbot.addWidget(dialog)
    assert dialog.confirm_button.text() == "Enable"

    assert install_translation("fr-BE")
    qtbot.waitUntil(lambda: dialog.confirm_button.text() == "Activer")
    assert dialog.windowTitle() == "Activer la connexion en deux étapes"
    header = dialog.model.headerData(1, Qt.Orientation.Horizontal)
    assert header == "Identifiant"

    assert install_translation("en-GB")
    qtbot.waitUntil(lambda: dialog.confirm_button.text() == "Enable")


@pytest.mark.parametrize("language", ["en-GB", "nl-BE", "fr-BE"])
def test_the_security_screen_fits_1024_by_768_in_each_language(
    qtbot: QtBot,
    page: SecurityPage,
    main_window: MainWindow,
    language: str,
    tmp_path: Path,
) -> None:
    """Nothing clipped; with PMDESK_SCREENSHOTS set, a picture to look at."""
    main_window.resize(1024, 768)
    assert install_translation(language)
    qtbot.waitUntil(lambda: language == "en-GB" or page.trust.title() != "Trust and codes")
    page.ips.review_button.click()  # the longest texts: the count on the button, Reasons
    qtbot.waitUntil(lambda: security_idle(page) and page.model.review)
    settle(60)
    not_clipped(main_window)
    for box in (page.trust, page.lockout_box, page.networks_box, page.ips):
        assert box.minimumSizeHint().width() <= box.width(), box.title()
    header = page.table.horizontalHeader()
    for column in (USER, REASONS):
        title = _header(page, column)
        assert header.fontMetrics().horizontalAdvance(title) < header.sectionSize(column), title
    page.left_scroll.ensureWidgetVisible(page.lockout_box, 0, 0)
    folder = screenshot_dir(tmp_path)
    capture(main_window, f"security-{language}", folder)
    capture(page.left_scroll.widget(), f"security-settings-{language}", folder)
