"""The trusted-address list's "Needs review" parts (issue 16 §2): its toggle, the columns it
shows, and where the count shows ("the tab shows a count"): the box title "Trusted IP addresses
(3 to review)", the "Needs review (3)" toggle and the System → Security tab, "Security (3 to
review)". Nothing shows when none needs review."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import (
    QGroupBox,
    QHeaderView,
    QPushButton,
    QStackedWidget,
    QTableView,
    QTabWidget,
    QWidget,
)

from pmdesk.ui.system.common import local_number
from pmdesk.ui.system.trusted_ips_model import CREATED, EXPIRES, NETWORK, REASONS, USER

translate = QCoreApplication.translate


def review_button(parent: QWidget, toggled: Callable[[bool], None]) -> QPushButton:
    """The checkable "Needs review" beside the filter."""
    button = QPushButton(parent)
    button.setObjectName("reviewButton")
    button.setCheckable(True)
    button.setAutoDefault(False)
    describe_review_button(button)
    button.toggled.connect(toggled)
    return button


def describe_review_button(button: QPushButton) -> None:
    """The button's spoken name and tooltip, in the app's language."""
    button.setAccessibleName(translate("TrustedIpPanel", "Show only addresses needing review"))
    button.setToolTip(
        translate(
            "TrustedIpPanel",
            "Only addresses outside the office networks, public ones, ones shared by several "
            "people and ones never used since they were trusted",
        )
    )


def review_columns(table: QTableView, on: bool) -> None:
    """Room for the Reasons column in review mode: the network is one of the reasons, the
    dates are in its tooltip; the user column gives way."""
    for hidden in (NETWORK, CREATED, EXPIRES):
        table.setColumnHidden(hidden, on)
    table.setColumnHidden(REASONS, not on)
    header = table.horizontalHeader()
    header.setSectionResizeMode(USER, QHeaderView.ResizeMode.Interactive)
    header.setSectionResizeMode(REASONS, QHeaderView.ResizeMode.Interactive)
    header.setSectionResizeMode(REASONS if on else USER, QHeaderView.ResizeMode.Stretch)
    if on:
        header.resizeSection(USER, 110)


def no_count(_exc: BaseException) -> None:
    """A count that fails shows nothing: the list beside it says what went wrong."""
    return None


@dataclass
class TabTitle:
    """The Security tab's own title (without the count) and the text last put on it, so that
    the count is never added twice, and a title the window set anew (another language) is
    taken as the new own title."""

    title: str | None = None
    shown: str | None = None


def label_review_count(box: QGroupBox, button: QPushButton, count: int, tab: TabTitle) -> None:
    """Show ``count`` on the box, its button and its tab (``tab`` remembers the tab's title)."""
    n = local_number(count)
    box.setTitle(
        translate("TrustedIpPanel", "Trusted IP addresses ({n} to review)").format(n=n)
        if count
        else translate("TrustedIpPanel", "Trusted IP addresses")
    )
    button.setText(
        translate("TrustedIpPanel", "Needs review ({n})").format(n=n)
        if count
        else translate("TrustedIpPanel", "Needs review")
    )
    found = own_tab(box)
    if found is None:
        return
    tabs, index = found
    now = tabs.tabText(index)
    if tab.title is None or now != tab.shown:
        tab.title = now  # the first time, or the window named the tab anew
    text = (
        translate("TrustedIpPanel", "{tab} ({n} to review)").format(tab=tab.title, n=n)
        if count
        else tab.title
    )
    tabs.setTabText(index, text)
    tab.shown = text


def own_tab(widget: QWidget) -> tuple[QTabWidget, int] | None:
    """The tab whose page holds ``widget`` (the nearest), and its index; None outside tabs."""
    current: QWidget | None = widget
    while current is not None:
        stack = current.parentWidget()
        tabs = stack.parentWidget() if isinstance(stack, QStackedWidget) else None
        if isinstance(tabs, QTabWidget) and tabs.indexOf(current) >= 0:
            return tabs, tabs.indexOf(current)
        current = stack
    return None
