"""The core and the CLI must stay Qt-free: they run in scripts and on servers."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import importlib, pkgutil, sys
import pmdesk.core, pmdesk.cli
for info in pkgutil.walk_packages(pmdesk.core.__path__, "pmdesk.core."):
    if ".migrations" in info.name:
        continue
    importlib.import_module(info.name)
import pmdesk.commands, pmdesk.bootstrap, pmdesk.config, pmdesk.paths, pmdesk.secrets
loaded = sorted(m for m in sys.modules if m.startswith(("PySide6", "shiboken6")))
print(",".join(loaded) or "none")
"""


def test_core_and_cli_import_no_qt() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none", f"Qt loaded by core/CLI: {result.stdout}"


def test_gui_start_path_knows_every_command() -> None:
    """cli.COMMAND_NAMES must list every sub-command, or that command would open the GUI."""
    import argparse

    from pmdesk import cli

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == cli.COMMAND_NAMES


GUI_PATH = """
import sys
import pmdesk.cli as cli
assert cli._gui_arguments(["--database", "sqlite:///x.db", "--self-test"]) is not None
assert cli._gui_arguments(["user", "list"]) is None
loaded = [m for m in ("sqlalchemy", "alembic", "pmdesk.commands") if m in sys.modules]
print(",".join(loaded) or "none")
"""


def test_starting_the_gui_imports_no_database_code_before_the_dialog() -> None:
    result = subprocess.run(
        [sys.executable, "-c", GUI_PATH], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "none"
