"""Start the desktop app. Kept apart from cli.py so that the CLI never imports Qt."""

from __future__ import annotations

import sys

from pmdesk.display import has_display

NO_DISPLAY = (
    "pmdesk: no display to open the desktop app on (DISPLAY and WAYLAND_DISPLAY are not set). "
    "Start it from a desktop session, use a command (pmdesk --help), or check it headless with "
    "QT_QPA_PLATFORM=offscreen pmdesk --self-test"
)


def run_gui(database_url: str | None, self_test: bool = False) -> int:
    # The self-test needs no display: it runs off screen when there is none.
    if not self_test and not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        return 1
    try:
        from pmdesk.ui.imports import skip_pyside_source_scan

        skip_pyside_source_scan()
        from pmdesk.ui.app import run
    except ImportError as exc:  # a broken install: say so in one line, not a traceback
        print(
            f"pmdesk: the desktop app cannot start ({exc}). Reinstall pmdesk, or use the "
            "command line: pmdesk --help",
            file=sys.stderr,
        )
        return 1
    return run(database_url=database_url, self_test=self_test)
