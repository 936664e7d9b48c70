"""Render screens off screen into PNG files, to look at them (docs/screenshots/).

``capture(widget, name)`` grabs a widget as it is painted. Where the files go:

- ``PMDESK_SCREENSHOTS=1``: ``docs/screenshots/`` in the repository (commit them when a screen
  changed on purpose);
- ``PMDESK_SCREENSHOTS=/some/folder``: that folder;
- unset: the test's temporary folder (the screens are still rendered and checked).

At a device pixel ratio other than 1 (``QT_SCALE_FACTOR=2``) the file name gets ``@2x``::

    QT_QPA_PLATFORM=offscreen PMDESK_SCREENSHOTS=1 pytest tests/ui/test_app_screenshots.py
    QT_SCALE_FACTOR=2 QT_QPA_PLATFORM=offscreen PMDESK_SCREENSHOTS=1 \\
        pytest tests/ui/test_app_screenshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer
from PySide6.QtWidgets import QWidget

REPOSITORY = Path(__file__).resolve().parents[2]
DOCS_DIR = REPOSITORY / "docs" / "screenshots"


def screenshot_dir(default: Path) -> Path:
    value = os.environ.get("PMDESK_SCREENSHOTS", "").strip()
    if not value:
        folder = default
    elif value == "1":
        folder = DOCS_DIR
    else:
        folder = Path(value).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def settle(ms: int = 30) -> None:
    """Let pending layout and paint events run (an event loop, not a processEvents spin)."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()
    QCoreApplication.sendPostedEvents()


def capture(widget: QWidget, name: str, folder: Path) -> Path:
    """Save ``widget`` as ``<name>.png`` (``<name>@2x.png`` at a device pixel ratio of 2)."""
    settle()
    image = widget.grab()
    ratio = image.devicePixelRatio()
    suffix = "" if ratio == 1 else f"@{ratio:g}x"
    path = folder / f"{name}{suffix}.png"
    if not image.save(str(path)):
        raise OSError(f"Could not write {path}")
    return path
