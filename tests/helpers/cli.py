"""Run the real ``pmdesk`` command in a subprocess, as a deployment script would."""

from __future__ import annotations

import os
import subprocess
import sys

from pmdesk.core.db import Database


def database_arg(db: Database) -> str:
    return db.url.render_as_string(hide_password=False)


def run_pmdesk(
    *args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pmdesk", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
