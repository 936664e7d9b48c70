"""Whether this session has a display for Qt: asked by the launcher (``pmdesk.gui_entry``) and by
the app's self-test (``pmdesk.ui.app``). Standard library only: the CLI may ask without Qt."""

from __future__ import annotations

import os
import sys


def has_display() -> bool:
    """Whether Qt can show a window here; Qt itself aborts the process when it cannot."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
