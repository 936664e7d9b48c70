"""System → Permissions, Log and Security (in the product's tab order)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pmdesk.core.modules import SYSTEM, SYSTEM_LOG, SYSTEM_SECURITY
from pmdesk.ui.system.log import LogPage
from pmdesk.ui.system.permissions import PermissionsPage
from pmdesk.ui.system.security import SecurityPage

if TYPE_CHECKING:
    from pmdesk.ui.page_context import PageHost

__all__ = ["LogPage", "PermissionsPage", "SecurityPage", "install_system_pages"]


def install_system_pages(window: PageHost) -> None:
    """Register the System screens; each is shown only when the user's group may read it."""
    window.add_system_page("permissions", window.tr("Permissions"), PermissionsPage, SYSTEM)
    window.add_system_page("log", window.tr("Log"), LogPage, SYSTEM_LOG)
    window.add_system_page("security", window.tr("Security"), SecurityPage, SYSTEM_SECURITY)
