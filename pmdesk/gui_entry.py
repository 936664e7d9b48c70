"""Start the desktop app. Kept apart from cli.py so that the CLI never imports Qt."""

from __future__ import annotations


def run_gui(database_url: str | None, self_test: bool = False) -> int:
    from pmdesk.ui.app import run

    return run(database_url=database_url, self_test=self_test)
