"""Every file location pmdesk uses, and who may read them.

platformdirs gives the per-OS defaults; ``PMDESK_CONFIG_DIR``, ``PMDESK_DATA_DIR`` and
``PMDESK_LOG_DIR`` override them (tests, portable installs).

The embedded database holds password hashes and the audit trail, so nobody but this account may
read pmdesk's files. On Linux and macOS the folders pmdesk creates are 0700 and its files 0600
(the database with its -wal and -shm files, settings.toml, pmdesk.log and its rotations, the .eml
files of the default outbox); at every start ``ensure`` tightens pmdesk's own files and, when they
are the per-user defaults (no PMDESK_*_DIR override), its folders, as an older pmdesk left them
0755 and 0644. A folder named by an override is the installer's choice and keeps its mode (only
pmdesk's files in it are tightened).

On Windows the modes mean nothing: the files are protected by the per-user profile's access
control list. The defaults are under %APPDATA% and %LOCALAPPDATA% (``C:\\Users\\NAME\\AppData``),
which only that user, administrators and SYSTEM can open; an override should name a folder
that is just as private.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from pmdesk import APP_NAME

log = logging.getLogger(__name__)

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
# pmdesk's own files in its folders (the database's journal files come and go with it).
_DATA_FILES = (
    "pmdesk.sqlite3",
    "pmdesk.sqlite3-wal",
    "pmdesk.sqlite3-shm",
    "pmdesk.sqlite3-journal",
)


class FolderError(Exception):
    """A folder pmdesk needs cannot be created or written; the message says which and why."""


@dataclass(frozen=True)
class AppPaths:
    config_dir: Path
    data_dir: Path
    log_dir: Path
    #: The folders that are pmdesk's own per-user defaults (tightened at start); an
    #: overridden folder is the installer's choice.
    own_folders: frozenset[Path] = frozenset()

    @property
    def config_file(self) -> Path:
        return self.config_dir / "settings.toml"

    @property
    def database_file(self) -> Path:
        return self.data_dir / "pmdesk.sqlite3"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "pmdesk.log"

    @property
    def default_outbox(self) -> Path:
        return self.data_dir / "outbox"

    def ensure(self) -> None:
        """Create the folders (0700), and make pmdesk's existing files private (see above);
        FolderError when a folder cannot be created."""
        for label, folder in (
            ("settings", self.config_dir),
            ("data", self.data_dir),
            ("log", self.log_dir),
        ):
            try:
                folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
            except OSError as exc:
                raise FolderError(folder_problem(label, folder, exc)) from exc
            if not folder.is_dir():
                raise FolderError(f"The {label} folder {folder} is not a folder.")
        if os.name == "nt":
            return  # the profile's ACL protects them (see the module's docstring)
        for folder in self.own_folders:
            _tighten(folder, PRIVATE_FOLDER)
        _tighten(self.config_file, PRIVATE_FILE)
        for name in _DATA_FILES:
            _tighten(self.data_dir / name, PRIVATE_FILE)
        for log_file in self.log_dir.glob("pmdesk.log*"):
            _tighten(log_file, PRIVATE_FILE)
        if self.default_outbox.is_dir():
            _tighten(self.default_outbox, PRIVATE_FOLDER)
            for message in self.default_outbox.glob("*.eml"):
                _tighten(message, PRIVATE_FILE)


def folder_problem(label: str, folder: Path, exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    shown = str(folder) if len(str(folder)) <= 160 else f"{str(folder)[:79]}…{str(folder)[-79:]}"
    return (
        f"Cannot create the {label} folder {shown}: {reason}. Check the path "
        "(PMDESK_CONFIG_DIR, PMDESK_DATA_DIR and PMDESK_LOG_DIR override the defaults)."
    )


def _tighten(path: Path, mode: int) -> None:
    """Give ``path`` ``mode`` if it exists, is this account's and allows more (never follows a
    symbolic link; a failure is logged, not raised: start-up goes on)."""
    try:
        info = path.lstat()
    except OSError:
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
        return
    if stat.S_IMODE(info.st_mode) & ~mode:
        with contextlib.suppress(OSError):
            os.chmod(path, stat.S_IMODE(info.st_mode) & mode)
            log.info("Made %s private (mode %o)", path, stat.S_IMODE(info.st_mode) & mode)


def _override(name: str, default: str) -> tuple[Path, bool]:
    """The folder, and whether it is pmdesk's own default (not overridden)."""
    value = os.environ.get(name)
    return (Path(value).expanduser(), False) if value else (Path(default), True)


def app_paths() -> AppPaths:
    """The paths for this process, honouring the PMDESK_* overrides."""
    import platformdirs  # here, not at the top: the login dialog needs only resource_dir()

    config_dir, own_config = _override(
        "PMDESK_CONFIG_DIR", platformdirs.user_config_dir(APP_NAME, appauthor=False)
    )
    data_dir, own_data = _override(
        "PMDESK_DATA_DIR", platformdirs.user_data_dir(APP_NAME, appauthor=False)
    )
    log_dir, own_log = _override(
        "PMDESK_LOG_DIR", platformdirs.user_log_dir(APP_NAME, appauthor=False)
    )
    own = {
        folder
        for folder, is_own in ((config_dir, own_config), (data_dir, own_data), (log_dir, own_log))
        if is_own
    }
    return AppPaths(config_dir, data_dir, log_dir, own_folders=frozenset(own))


def resource_dir() -> Path:
    """Icons, styles and translations, also inside a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "pmdesk" / "resources"
    return Path(__file__).resolve().parent / "resources"
