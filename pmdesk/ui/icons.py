"""Icons and the style sheet, loaded from ``pmdesk/resources`` (also inside a PyInstaller bundle).

Icons are simple SVGs, so they stay sharp at any scale. A missing file gives an empty icon and a
log line, never a crash.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon, QPixmap

from pmdesk.paths import resource_dir

log = logging.getLogger(__name__)

ICON_NAMES = (
    "app",
    "add",
    "add-light",
    "address",
    "back",
    "check",
    "check-white",
    "chevron-down",
    "chevron-down-light",
    "clock",
    "database",
    "delete",
    "error",
    "export",
    "info",
    "lock",
    "mail",
    "network",
    "next",
    "previous",
    "refresh",
    "remove",
    "save",
    "save-light",
    "search",
    "settings",
    "shield",
    "sign-out",
    "sign-out-light",
    "unlock",
    "user",
    "warning",
)


def icon_path(name: str) -> Path:
    return resource_dir() / "icons" / f"{name}.svg"


@cache
def icon(name: str) -> QIcon:
    """The named icon (``resources/icons/<name>.svg``)."""
    path = icon_path(name)
    if not path.is_file():
        log.warning("Icon %s not found at %s", name, path)
        return QIcon()
    return QIcon(str(path))


def app_icon() -> QIcon:
    return icon("app")


def pixmap(name: str, size: int, device_pixel_ratio: float = 1.0) -> QPixmap:
    """The icon rendered at ``size`` logical pixels, sharp on high-DPI screens."""
    return icon(name).pixmap(QSize(size, size), device_pixel_ratio)


def style_sheet() -> str:
    """``resources/style.qss`` with ``@ICONS@`` pointing at the icon folder."""
    path = resource_dir() / "style.qss"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        log.warning("Style sheet not found at %s", path)
        return ""
    return text.replace("@ICONS@", (resource_dir() / "icons").as_posix())
