"""System → Permissions, Log and Security (in the product's tab order)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QT_TRANSLATE_NOOP

from pmdesk.core.modules import SYSTEM, SYSTEM_LOG, SYSTEM_SECURITY
from pmdesk.ui.system.log import LogPage
from pmdesk.ui.system.permissions import PermissionsPage
from pmdesk.ui.system.security import SecurityPage

if TYPE_CHECKING:
    from pmdesk.ui.page_context import PageHost

__all__ = ["LogPage", "PermissionsPage", "SecurityPage", "install_system_pages"]


def install_system_pages(window: PageHost) -> None:
    """Register the System screens; each is shown only when the user's group may read it.
    The titles are English, translated by the window (context "MainWindow")."""
    permissions, log, security = (
        str(QT_TRANSLATE_NOOP("MainWindow", "Permissions")),
        str(QT_TRANSLATE_NOOP("MainWindow", "Log")),
        str(QT_TRANSLATE_NOOP("MainWindow", "Security")),
    )
    window.add_system_page("permissions", permissions, PermissionsPage, SYSTEM)
    window.add_system_page("log", log, LogPage, SYSTEM_LOG)
    window.add_system_page("security", security, SecurityPage, SYSTEM_SECURITY)
