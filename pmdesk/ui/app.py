"""The desktop app (placeholder until the GUI lands)."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication, QLabel


def run(database_url: str | None, self_test: bool = False) -> int:
    app = QApplication.instance() or QApplication(sys.argv)
    label = QLabel("pmdesk")
    label.show()
    if self_test:
        return 0
    return int(app.exec())
