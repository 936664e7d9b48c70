"""From settings to a ready CoreContext: which database, with which password, migrated.

Shared by the CLI and the GUI. The URL comes from ``--database``, then ``PMDESK_DATABASE_URL``,
then the settings file, then the embedded SQLite file in the data directory. A password is never
kept in the settings file: it comes from the keyring, merged in here at connect time.

A mistyped SQLite URL must not quietly start an empty database: an in-memory URL is refused, and
a new database file is made only at the embedded default location or when asked for
(``pmdesk db upgrade --create``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from sqlalchemy.engine import URL

from pmdesk.config import Settings, chosen_database_url, load_settings
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database, parse_url, shorten, sqlite_file, sqlite_url
from pmdesk.core.errors import InvalidDatabaseUrl
from pmdesk.paths import AppPaths, app_paths
from pmdesk.secrets import KeyringStore, SecretStore, SecretStoreError, database_key


@dataclass(frozen=True)
class Resolved:
    url: URL
    source: str  # "--database", "PMDESK_DATABASE_URL", "settings file", "embedded default"


def resolve_database_url(cli_url: str | None, settings: Settings, paths: AppPaths) -> Resolved:
    chosen, source = chosen_database_url(cli_url, settings)
    if chosen is None:
        return Resolved(sqlite_url(paths.database_file), source)
    return Resolved(parse_url(chosen), source)


def check_sqlite_target(resolved: Resolved, paths: AppPaths, *, create: bool = False) -> None:
    """Refuse an SQLite URL that would silently give a new, empty database: one in memory, or
    a file that does not exist (a mistyped name or folder), unless it is the embedded default
    or ``create`` is set. InvalidDatabaseUrl says why."""
    url = resolved.url
    if url.get_backend_name() != "sqlite":
        return
    shown = shorten(url.render_as_string(hide_password=True))
    file = sqlite_file(url)
    if file is None:
        raise InvalidDatabaseUrl(
            f"{shown} ({resolved.source}) is an in-memory database: it would start empty and "
            "vanish when pmdesk exits. Give the database file: sqlite:///PATH."
        )
    if os.path.isdir(file):
        raise InvalidDatabaseUrl(
            f"{shorten(str(file))} ({resolved.source}) is a folder, not a database file."
        )
    if create or os.path.exists(file) or file == paths.database_file:
        return
    folder = file.parent
    reason = (
        f"its folder {shorten(str(folder))} does not exist"
        if not os.path.isdir(folder)
        else "there is no such file"
    )
    raise InvalidDatabaseUrl(
        f"No database at {shorten(str(file))} ({resolved.source}): {reason}. Check the path; "
        "to make a new database there, run: pmdesk --database URL db upgrade --create"
    )


def with_keyring_password(url: URL, secrets: SecretStore) -> URL:
    """Add the password from the keyring to a server URL that has none."""
    if url.get_backend_name() == "sqlite" or url.password or not url.username:
        return url
    password = secrets.get(database_key(url.render_as_string(hide_password=True)))
    return url.set(password=password) if password else url


@dataclass
class App:
    """Everything a front end (CLI or GUI) needs, built once at start."""

    paths: AppPaths
    settings: Settings
    secrets: SecretStore
    resolved: Resolved
    context: CoreContext
    keyring_problem: str | None = None

    @property
    def db(self) -> Database:
        return self.context.db


def build_app(
    cli_url: str | None = None, secrets: SecretStore | None = None, *, create: bool = False
) -> App:
    """``create``: a missing SQLite file may be made (``db upgrade --create``)."""
    paths = app_paths()
    paths.ensure()
    settings = load_settings(paths.config_file)
    store = secrets or KeyringStore()
    resolved = resolve_database_url(cli_url, settings, paths)
    check_sqlite_target(resolved, paths, create=create)
    url = resolved.url
    keyring_problem = None
    try:
        url = with_keyring_password(url, store)
    except SecretStoreError as exc:
        # Trust or certificate authentication needs no password; say it only if connecting fails.
        keyring_problem = str(exc)
    db = Database(url)
    context = CoreContext(
        db=db, secrets=store, outbox_default=paths.default_outbox, language=settings.language
    )
    return App(paths, settings, store, resolved, context, keyring_problem)
