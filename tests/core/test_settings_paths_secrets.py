"""Paths, the settings file and the keyring wrapper."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pmdesk.bootstrap import resolve_database_url, with_keyring_password
from pmdesk.config import ConfigError, Settings, load_settings, save_settings
from pmdesk.paths import app_paths
from pmdesk.secrets import KeyringStore, MemoryStore, database_key
from tests.helpers.cli import real_keyring


def test_paths_follow_the_environment_overrides(isolated_paths: Path) -> None:
    paths = app_paths()
    assert paths.config_dir == isolated_paths / "pmdesk-config"
    assert paths.database_file == isolated_paths / "pmdesk-data" / "pmdesk.sqlite3"
    assert paths.log_file.parent == isolated_paths / "pmdesk-log"


def test_settings_round_trip_and_unknown_keys_survive(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    path = folder / "settings.toml"
    assert load_settings(path) == Settings()
    settings = Settings(database_url="postgresql://pm@db/pm", language="nl-BE")
    settings.extra["future_option"] = True
    save_settings(path, settings)
    loaded = load_settings(path)
    assert loaded.database_url == "postgresql://pm@db/pm"
    assert loaded.language == "nl-BE"
    assert loaded.extra == {"future_option": True}
    assert [p.name for p in folder.iterdir()] == ["settings.toml"]  # no temp file left


def test_broken_settings_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    path.write_text("database_url = [unterminated", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_database_url_precedence(isolated_paths: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = app_paths()
    settings = Settings(database_url="postgresql://from-file@db/pm")
    assert resolve_database_url(None, Settings(), paths).source == "embedded default"
    assert resolve_database_url(None, settings, paths).source == "settings file"
    monkeypatch.setenv("PMDESK_DATABASE_URL", "mariadb://from-env@db/pm")
    assert resolve_database_url(None, settings, paths).url.username == "from-env"
    chosen = resolve_database_url("postgresql://from-cli@db/pm", settings, paths)
    assert (chosen.source, chosen.url.username) == ("--database", "from-cli")


def test_password_comes_from_the_secret_store_not_the_url() -> None:
    store = MemoryStore()
    resolved = resolve_database_url("postgresql+psycopg://pm@db/pm", Settings(), app_paths())
    store.set(database_key(resolved.url.render_as_string(hide_password=True)), "pw-from-keyring")
    assert with_keyring_password(resolved.url, store).password == "pw-from-keyring"


NO_BACKEND = """
from pmdesk.secrets import KeyringStore, SecretStoreError
try:
    KeyringStore().get("x")
except SecretStoreError as exc:
    print("MESSAGE:", exc)
"""


@pytest.mark.parametrize(
    "backend", ["keyring.backends.fail.Keyring", "keyring.backends.null.Keyring"]
)
def test_missing_or_useless_keyring_is_an_actionable_message(backend: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", NO_BACKEND],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON_KEYRING_BACKEND": backend},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "MESSAGE: No secure system keyring is available" in result.stdout
    assert "GNOME Keyring" in result.stdout


def _real_keyring() -> KeyringStore:
    return real_keyring(service="pmdesk-tests")


def test_real_keyring_round_trip() -> None:
    store = _real_keyring()
    key = f"test:{os.getpid()}"
    store.set(key, "s3cret value")
    try:
        assert store.get(key) == "s3cret value"
    finally:
        store.delete(key)
    assert store.get(key) is None
    store.delete(key)  # deleting what is gone is not an error


def test_the_log_file_is_set_up_once_however_often_asked(isolated_paths: Path) -> None:
    import logging
    import logging.handlers

    from pmdesk.log_file import setup_logging

    paths = app_paths()
    root = logging.getLogger()

    def ours() -> list[logging.Handler]:
        return [
            h
            for h in root.handlers
            if isinstance(h, logging.handlers.RotatingFileHandler)
            and Path(h.baseFilename) == paths.log_file
        ]

    try:
        setup_logging(paths)
        setup_logging(paths)  # the CLI and the GUI's worker may both ask
        assert len(ours()) == 1
        logging.getLogger("pmdesk.test").info("written once")
        ours()[0].flush()
        assert paths.log_file.read_text(encoding="utf-8").count("written once") == 1
    finally:
        for handler in ours():
            root.removeHandler(handler)
            handler.close()
