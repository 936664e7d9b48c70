"""The trusted-address list's "Needs review" parts (issue 16 §2): its toggle, the columns it
shows, and where the count shows ("the tab shows a count"): the box title "Trusted IP addresses
(3 to review)", the "Needs review (3)" toggle and the System → Security tab, "Security (3 to
review)". Nothing shows when none needs review."""

from __future__ import annotations

from collections.abc import Callable

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

from pmdesk.ui.system.trusted_ips_model import CREATED, EXPIRES, NETWORK, REASONS, USER


def _t(text: str) -> str:
    return QCoreApplication.translate("TrustedIpPanel", text)


def review_button(parent: QWidget, toggled: Callable[[bool], None]) -> QPushButton:
    """The checkable "Needs review" beside the filter."""
    button = QPushButton(_t("Needs review"), parent)
    button.setObjectName("reviewButton")
    button.setCheckable(True)
    button.setAutoDefault(False)
    button.setAccessibleName(_t("Show only addresses needing review"))
    button.setToolTip(
        _t(
            "Only addresses outside the office networks, public ones, ones shared by several "
            "people and ones never used since they were trusted"
        )
    )
    button.toggled.connect(toggled)
    return button


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


def label_review_count(
    box: QGroupBox, button: QPushButton, count: int, tab_title: str | None
) -> str | None:
    """Show ``count`` on the box, its button and its tab; returns the tab's own title (read the
    first time, so that the count is never added twice)."""
    box.setTitle(
        _t("Trusted IP addresses ({n} to review)").format(n=count)
        if count
        else _t("Trusted IP addresses")
    )
    button.setText(_t("Needs review ({n})").format(n=count) if count else _t("Needs review"))
    found = own_tab(box)
    if found is None:
        return tab_title
    tabs, index = found
    title = tab_title if tab_title is not None else tabs.tabText(index)
    tabs.setTabText(
        index, _t("{tab} ({n} to review)").format(tab=title, n=count) if count else title
    )
    return title


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
