"""The rotating log file (no SQLAlchemy here: the GUI sets it up before loading it)."""

from __future__ import annotations

import logging
import logging.handlers
import os
from io import TextIOWrapper

from pmdesk.paths import PRIVATE_FILE, PRIVATE_FOLDER, AppPaths, FolderError


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A RotatingFileHandler whose files only this account may read (0600): the log names
    people and addresses. Rotation renames files, so the older ones keep the mode."""

    def _open(self) -> TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
        if os.name != "nt":
            os.fchmod(fd, PRIVATE_FILE)  # a file an older pmdesk made 0644
        stream: TextIOWrapper = open(  # noqa: SIM115 - the handler keeps it open
            fd, "a", encoding=self.encoding, errors=self.errors
        )
        return stream


def setup_logging(paths: AppPaths, level: int = logging.INFO) -> None:
    """A rotating log file in the log directory, added once however often this is called;
    secrets are never passed to the logger. FolderError when the folder cannot be written."""
    root = logging.getLogger()
    root.setLevel(level)
    target = os.path.abspath(paths.log_file)
    if any(
        isinstance(h, logging.handlers.RotatingFileHandler) and h.baseFilename == target
        for h in root.handlers
    ):
        return
    try:
        paths.log_dir.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
        handler = PrivateRotatingFileHandler(
            paths.log_file, maxBytes=2_000_000, backupCount=5, encoding="utf-8"
        )
    except OSError as exc:
        raise FolderError(
            f"Cannot write the log file {paths.log_file}: {exc.strerror or exc}. Check the log "
            "folder (PMDESK_LOG_DIR overrides the default)."
        ) from exc
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
