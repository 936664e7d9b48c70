"""Every file location pmdesk uses.

platformdirs gives the per-OS defaults; ``PMDESK_CONFIG_DIR``, ``PMDESK_DATA_DIR`` and
``PMDESK_LOG_DIR`` override them (tests, portable installs).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from pmdesk import APP_NAME


@dataclass(frozen=True)
class AppPaths:
    config_dir: Path
    data_dir: Path
    log_dir: Path

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
        for folder in (self.config_dir, self.data_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)


def _override(name: str, default: str) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else Path(default)


def app_paths() -> AppPaths:
    """The paths for this process, honouring the PMDESK_* overrides."""
    import platformdirs  # here, not at the top: the login dialog needs only resource_dir()

    return AppPaths(
        config_dir=_override(
            "PMDESK_CONFIG_DIR", platformdirs.user_config_dir(APP_NAME, appauthor=False)
        ),
        data_dir=_override(
            "PMDESK_DATA_DIR", platformdirs.user_data_dir(APP_NAME, appauthor=False)
        ),
        log_dir=_override("PMDESK_LOG_DIR", platformdirs.user_log_dir(APP_NAME, appauthor=False)),
    )


def resource_dir() -> Path:
    """Icons, styles and translations, also inside a PyInstaller bundle."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle) / "pmdesk" / "resources"
    return Path(__file__).resolve().parent / "resources"
