"""The settings file (TOML), read leniently and written atomically.

Only non-secret settings live here; passwords are in the OS keyring (see ``pmdesk.secrets``).
"""

from __future__ import annotations

import logging
import os
import tempfile
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import tomli_w

log = logging.getLogger(__name__)

ENV_DATABASE_URL = "PMDESK_DATABASE_URL"


class ConfigError(Exception):
    """The settings file cannot be read or written."""


@dataclass
class Settings:
    database_url: str = ""
    language: str = "en-GB"
    window_geometry: str = ""
    sweep_interval_minutes: int = 10
    extra: dict[str, Any] = field(default_factory=dict)


def chosen_database_url(cli_url: str | None, settings: Settings) -> tuple[str | None, str]:
    """Which database URL applies, as typed, and where it came from: ``--database``, then
    ``PMDESK_DATABASE_URL``, then the settings file; None means the embedded default."""
    if cli_url:
        return cli_url, "--database"
    env_url = os.environ.get(ENV_DATABASE_URL)
    if env_url:
        return env_url, ENV_DATABASE_URL
    if settings.database_url:
        return settings.database_url, "settings file"
    return None, "embedded default"


def load_settings(path: Path) -> Settings:
    """Read the settings; a missing file gives the defaults, a broken one a ConfigError."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Settings()
    except OSError as exc:
        raise ConfigError(f"Cannot read the settings file {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"The settings file {path} is not valid TOML: {exc}") from exc
    known = {f.name for f in fields(Settings)} - {"extra"}
    settings = Settings()
    for key, value in data.items():
        if key in known and isinstance(value, type(getattr(settings, key))):
            setattr(settings, key, value)
        elif key not in known:
            settings.extra[key] = value
        else:
            log.warning("Ignoring setting %s in %s: wrong type", key, path)
    return settings


def save_settings(path: Path, settings: Settings) -> None:
    """Write the settings atomically: a crash leaves the old file or the new one, never half."""
    data = asdict(settings)
    extra = data.pop("extra")
    data.update(extra)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp makes the file 0600 (this account only); the rename keeps the mode.
        fd, tmp_name = tempfile.mkstemp(prefix=".settings-", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"Cannot write the settings file {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            tomli_w.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except OSError as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise ConfigError(f"Cannot write the settings file {path}: {exc.strerror}") from exc
