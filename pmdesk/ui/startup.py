"""What happens behind the login dialog at start: open the database, migrate it, look around.

Two steps, both on worker threads once the login dialog has painted:

1. ``probe_database`` asks the database with its bare driver whether it is at the newest schema
   and has users (``pmdesk.core.probe``): a few milliseconds, no SQLAlchemy. If so, Login is
   enabled at once, with a ``PendingLogin`` standing in for the login service.
2. ``open_database`` opens it properly (SQLAlchemy, migrations when needed, the argon2 hasher,
   the login service) and hands the service to the ``PendingLogin``: a login asked for before
   then waits for it, on its worker thread.

Every failure becomes a ``Failure`` that says what happened and what to do; the user never sees
a traceback (it goes to the log file).
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication

from pmdesk.ui.translation import error_text, localize

if TYPE_CHECKING:
    from pmdesk.bootstrap import App
    from pmdesk.core.afterwards import OneWorker
    from pmdesk.core.auth import LoginService
    from pmdesk.core.login_results import CodeNeeded, Refused, SignedIn
    from pmdesk.core.migrate import SchemaStatus
    from pmdesk.core.passwords import Passwords
    from pmdesk.paths import AppPaths
    from pmdesk.secrets import SecretStore

log = logging.getLogger(__name__)
translate = QCoreApplication.translate


@dataclass(frozen=True)
class Opened:
    """The database is open and migrated."""

    app: App
    schema: SchemaStatus
    has_users: bool
    administrator_group_id: int | None
    keyring_warning: str | None
    # One argon2 hasher for every service, made here on the worker thread (argon2 is imported
    # with it). Making it is cheap; the dummy hash it checks unknown logins against (tenths of
    # a second) is made the first time a login needs it (a worker thread too), then shared.
    passwords: Passwords
    # Made here too: importing its module on the GUI thread would hold up the dialog.
    login_service: LoginService
    # What a sign-in leaves behind (a trust alert): waited for at shutdown.
    afterwards: OneWorker


@dataclass(frozen=True)
class Failure:
    """Why pmdesk cannot start, for a dialog: never a traceback."""

    kind: str  # "database", "schema", "keyring", "url", "settings", "unexpected"
    title: str
    message: str
    advice: str


class StartupFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def probe_database(database_url: str | None) -> bool:
    """True when Login can be enabled before the database is opened properly: it answers, is at
    the newest schema and has users (worker thread; never raises: False means "open it")."""
    from pmdesk.config import ConfigError, chosen_database_url, load_settings
    from pmdesk.core.probe import driver_target, ready_for_login
    from pmdesk.core.revisions import head_from_files
    from pmdesk.paths import app_paths

    paths = app_paths()
    try:
        chosen, _source = chosen_database_url(database_url, load_settings(paths.config_file))
    except ConfigError:
        return False  # open_database says what is wrong with the file
    target = driver_target(chosen, paths.database_file)
    head = head_from_files()
    return target is not None and head is not None and ready_for_login(target, head)


class PendingLogin:
    """Stands in for the login service while the database is opened behind an enabled Login.

    The login dialog calls its backend on worker threads; each call here waits until
    ``open_database`` has made the real service (or failed: the call then raises that error).
    Settled from the worker that opens the database, so a waiting call never depends on the GUI
    thread (it may have stopped, at quit).
    """

    def __init__(self) -> None:
        self._service: Future[LoginService] = Future()

    def settle(self, service: LoginService) -> None:
        self._service.set_result(service)

    def fail(self, exc: BaseException) -> None:
        self._service.set_exception(exc)

    def get_ready(self, login: str) -> None:
        self._service.result().get_ready(login)

    def begin(self, login: str, password: str) -> SignedIn | CodeNeeded | Refused:
        return self._service.result().begin(login, password)

    def verify(self, challenge_id: str, code: str, trust_this_ip: bool) -> SignedIn | Refused:
        return self._service.result().verify(challenge_id, code, trust_this_ip)

    def resend(self, challenge_id: str) -> CodeNeeded | Refused:
        return self._service.result().resend(challenge_id)

    def delivery_warning(self) -> str | None:
        """Nothing to say yet: the dialog asks the login service itself once it is set."""
        return None


def open_database(
    database_url: str | None,
    secrets: SecretStore | None = None,
    *,
    check_keyring: bool = True,
    pending: PendingLogin | None = None,
) -> Opened:
    """Build the app, reach the database and bring its schema up to date. Worker thread only.

    ``pending`` gets the login service, or the failure, before this returns."""
    try:
        opened = _open(database_url, secrets, check_keyring=check_keyring)
    except BaseException as exc:
        if pending is not None:
            pending.fail(exc)
        raise
    if pending is not None:
        pending.settle(opened.login_service)
    return opened


def _open(database_url: str | None, secrets: SecretStore | None, *, check_keyring: bool) -> Opened:
    from pmdesk.bootstrap import build_app
    from pmdesk.core import migrate
    from pmdesk.core.afterwards import OneWorker
    from pmdesk.core.auth import LoginService
    from pmdesk.core.passwords import Passwords
    from pmdesk.core.personnel import PersonnelService
    from pmdesk.core.screens import administrator_group_id
    from pmdesk.core.sessions import DESKTOP

    app: App | None = None
    try:
        app = build_app(database_url, secrets=secrets)
        schema = migrate.upgrade(app.db)
        passwords = Passwords()
        has_users = PersonnelService(app.context, passwords).has_users()
        group_id = administrator_group_id(app.context)
    except Exception as exc:
        if app is not None:
            app.db.dispose()
        raise StartupFailed(describe_failure(exc, app)) from exc
    # The trust alert after a code step goes out on a thread of its own: the main window
    # opens meanwhile (shutdown waits for it).
    afterwards = OneWorker()
    login_service = LoginService(
        app.context, passwords=passwords, session_kind=DESKTOP, afterwards=afterwards
    )
    warning = keyring_warning(app) if check_keyring else None
    return Opened(app, schema, has_users, group_id, warning, passwords, login_service, afterwards)


def keyring_warning(app: App) -> str | None:
    """Why passwords cannot be kept in the system keyring, or None (worker thread).

    Importing keyring and finding its backend takes hundreds of milliseconds: the app asks
    after Login is enabled (a server database whose password is in the keyring has asked it
    already, to connect).
    """
    from pmdesk.secrets import KeyringStore, SecretStoreError

    if not isinstance(app.secrets, KeyringStore):
        return None
    try:
        app.secrets.backend_name()
    except SecretStoreError as exc:
        return error_text(exc)
    return None


def describe_failure(exc: BaseException, app: App | None = None) -> Failure:
    """A start-up error as words for the user (the details go to the log)."""
    from pmdesk.config import ConfigError
    from pmdesk.core.errors import DatabaseUnavailable, InvalidDatabaseUrl, SchemaTooNew
    from pmdesk.paths import app_paths
    from pmdesk.secrets import SecretStoreError

    paths = app.paths if app is not None else app_paths()
    if isinstance(exc, SchemaTooNew):
        return _schema_too_new(exc)
    if isinstance(exc, SecretStoreError) or (
        isinstance(exc, DatabaseUnavailable) and app is not None and app.keyring_problem
    ):
        detail = error_text(exc) if isinstance(exc, SecretStoreError) else app.keyring_problem  # type: ignore[union-attr]
        return _no_keyring(detail)
    if isinstance(exc, DatabaseUnavailable):
        return _database_unavailable(exc, paths)
    if isinstance(exc, InvalidDatabaseUrl):
        return _invalid_database_url(exc, paths)
    if isinstance(exc, ConfigError):
        return _unreadable_settings(exc)
    return _unexpected(exc, paths)


def _schema_too_new(exc: BaseException) -> Failure:
    return Failure(
        "schema",
        translate("startup", "This database needs a newer pmdesk"),
        error_text(exc),
        translate(
            "startup",
            "Nothing was changed. Install the newest pmdesk on this workstation (ask "
            "whoever upgraded the other workstations), then start it again.",
        ),
    )


def _no_keyring(detail: str | None) -> Failure:
    """``detail``: the keyring's own words (what failed, or why it could not be used)."""
    return Failure(
        "keyring",
        translate("startup", "No system keyring"),
        translate("startup", "pmdesk needs the system keyring to read the database password.")
        + "\n\n"
        + localize(detail),
        translate(
            "startup",
            "Install or unlock the system keyring (Windows Credential Manager, macOS "
            "Keychain, or GNOME Keyring / KWallet on Linux), then start pmdesk again.",
        ),
    )


def _database_unavailable(exc: BaseException, paths: AppPaths) -> Failure:
    return Failure(
        "database",
        translate("startup", "Cannot open the database"),
        error_text(exc),
        translate(
            "startup",
            "Check that the database server is running and reachable from this workstation "
            "(network, VPN, firewall), and that the database address is right: it comes from "
            "PMDESK_DATABASE_URL or the settings file {path}. Then start pmdesk again.",
        ).format(path=paths.config_file),
    )


def _invalid_database_url(exc: BaseException, paths: AppPaths) -> Failure:
    return Failure(
        "url",
        translate("startup", "The database address is not valid"),
        error_text(exc),
        translate(
            "startup", "Correct it in PMDESK_DATABASE_URL or the settings file {path}."
        ).format(path=paths.config_file),
    )


def _unreadable_settings(exc: BaseException) -> Failure:
    return Failure(
        "settings",
        translate("startup", "The settings file cannot be read"),
        error_text(exc),
        translate("startup", "Correct or remove the file, then start pmdesk again."),
    )


def _unexpected(exc: BaseException, paths: AppPaths) -> Failure:
    """Anything else: its type and first line for the user, the traceback to the log."""
    log.error("Unexpected error at start-up", exc_info=exc)
    said = error_text(exc).strip()
    first = said.splitlines()[0] if said else ""
    return Failure(
        "unexpected",
        translate("startup", "pmdesk could not start"),
        f"{type(exc).__name__}: {first}" if first else type(exc).__name__,
        translate(
            "startup",
            "The details were written to the log file {path}. Send it to your support contact.",
        ).format(path=paths.log_file),
    )
