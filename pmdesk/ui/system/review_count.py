"""Where the number of trusted addresses needing review shows (issue 16 §2: "the tab shows a
count"): the box title "Trusted IP addresses (3 to review)", the "Needs review (3)" button and
the System → Security tab, "Security (3 to review)". Nothing shows when none needs review."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QGroupBox, QPushButton, QStackedWidget, QTabWidget, QWidget


def _t(text: str) -> str:
    return QCoreApplication.translate("TrustedIpPanel", text)


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
