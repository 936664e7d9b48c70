"""Start the desktop app. Kept apart from cli.py so that the CLI never imports Qt."""

from __future__ import annotations

import sys


def run_gui(database_url: str | None, self_test: bool = False) -> int:
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
