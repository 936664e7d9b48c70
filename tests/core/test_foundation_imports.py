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
