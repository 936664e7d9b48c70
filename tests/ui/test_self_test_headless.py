"""``pmdesk --self-test`` on a machine with no display at all (a CI box, an SSH session)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pmdesk.core.db import sqlite_url
from tests.helpers.cli import run_pmdesk

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="DISPLAY / WAYLAND_DISPLAY are Linux's"
)


def test_self_test_runs_without_a_display_and_goes_off_screen_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)  # run_pmdesk passes on this environment
    database_file = tmp_path / "app.sqlite3"
    database_file.touch()  # away from the default location pmdesk makes no new file
    env = {"PMDESK_DATABASE_URL": str(sqlite_url(database_file))}
    for name in ("CONFIG", "DATA", "LOG"):
        folder = tmp_path / name.lower()
        folder.mkdir()
        env[f"PMDESK_{name}_DIR"] = str(folder)
    result = run_pmdesk("--self-test", env=env)
    lines = result.stdout.splitlines()
    assert "no display" not in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("ok   login dialog shows (offscreen,"), result.stdout
    assert lines[1].startswith("ok   database opens and is migrated"), result.stdout
    # The keyring may or may not be reachable here; either way the self-test says so.
    assert lines[2].startswith(("ok   keyring backend found", "FAIL keyring")), result.stdout
    assert database_file.exists()
