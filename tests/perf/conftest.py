"""Small versions of the performance benchmarks (``bench/perf_*.py``): small data, asserting
behaviour (what was fetched, what was imported, that the GUI thread kept running), not time.

The desktop fixtures are those of ``tests/ui``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.conftest import (  # noqa: F401  (fixtures)
    _OFFSCREEN_NOISE,
    _styled,
    admin_id,
    admin_session,
    main_window,
    session_for,
    tasks,
    ui_app,
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.qt_log_ignore(_OFFSCREEN_NOISE))
