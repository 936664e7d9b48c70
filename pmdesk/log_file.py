"""The rotating log file (no SQLAlchemy here: the GUI sets it up before loading it)."""

from __future__ import annotations

import logging
import logging.handlers
import os

from pmdesk.paths import AppPaths


def setup_logging(paths: AppPaths, level: int = logging.INFO) -> None:
    """A rotating log file in the log directory, added once however often this is called;
    secrets are never passed to the logger."""
    root = logging.getLogger()
    root.setLevel(level)
    target = os.path.abspath(paths.log_file)
    if any(
        isinstance(h, logging.handlers.RotatingFileHandler) and h.baseFilename == target
        for h in root.handlers
    ):
        return
    paths.log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        paths.log_file, maxBytes=2_000_000, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
