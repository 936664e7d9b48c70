"""Engines and sessions for SQLite (embedded), PostgreSQL and MariaDB.

One ``Database`` per process and thread of work; ``session()`` is one unit of work (one user
action), committed on success and rolled back on error. On SQLite ``write_session()`` starts with
``BEGIN IMMEDIATE`` so that read-then-write transactions cannot deadlock on the upgrade to a
write lock.
"""

from __future__ import annotations

import logging
import os
import re
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    create_engine,
    event,
    literal_column,
    text,
)
from sqlalchemy import select as select_query
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.orm import Session, sessionmaker

from pmdesk.core import lazy_transactions
from pmdesk.core.addresses import normalise_address, primary_outbound_address
from pmdesk.core.errors import (
    NOT_SIGNED_IN,
    ConflictError,
    DatabaseBusy,
    DatabaseRefused,
    DatabaseUnavailable,
    InvalidDatabaseUrl,
    LastAdministratorError,
    NotFound,
    NotSignedIn,
    PermissionDenied,
    PmdeskError,
    ValidationError,
)
from pmdesk.core.i18n import translate
from pmdesk.core.probe import POSTGRES_SEARCH_PATH
from pmdesk.core.server_messages import as_text

log = logging.getLogger(__name__)

T = TypeVar("T")

CONNECT_TIMEOUT_S = 5
# libpq TCP keepalives: a server that vanished (network cut, machine off) is noticed within about
# a minute instead of the operating system's two hours, also while a query waits for its answer.
POSTGRES_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}
SQLITE_BUSY_TIMEOUT_MS = 15_000
#: The hardening level from which the server checks passwords (a proof computed by the client,
#: docs/server-enforced.md §2).
SERVER_PASSWORDS_LEVEL = 2
#: The hardening level from which the server makes the codes and the relay sends them and runs
#: the expiry sweep (§3, §6).
SERVER_CODES_LEVEL = 3
#: The hardening level from which the server keeps the sessions (docs/server-enforced.md §4).
SERVER_SESSIONS_LEVEL = 4
#: The hardening level from which reading needs a session too (row-level security, §5.2):
#: before a sign-in the client asks ``pmdesk.server_info()`` instead of reading tables.
SERVER_READS_LEVEL = 6
# How a new connection presents its session: the token as a bound parameter, so that it never
# appears in the text of a statement (pg_stat_activity shows $1).
PRESENT_SESSION = "SELECT set_config('pmdesk.session', %(token)s, false)"
_PRESENTED = "pmdesk_session"  # in a pooled connection's info: the token it presents
_SQLITE_BEGIN_OPTION = "pmdesk_sqlite_begin"


def parse_url(url: str | URL) -> URL:
    """Parse a database URL, mapping the short forms to the drivers pmdesk ships."""
    if isinstance(url, str) and _UNSTORABLE.search(url):
        raise InvalidDatabaseUrl(
            translate(
                "db",
                "The database URL contains undecodable bytes or a NUL character; "
                "type it again in plain text.",
            )
        )
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number…
        raise InvalidDatabaseUrl(
            translate(
                "db",
                "Not a database URL: {url}. Use sqlite:///PATH, "
                "postgresql://USER@HOST/DB or mariadb://USER@HOST/DB.",
            ).format(url=shorten(str(url)))
        ) from exc
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        backend, driver = "postgresql", ""
    if backend == "postgresql" and driver != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend in {"mysql", "mariadb"} and driver != "pymysql":
        parsed = parsed.set(drivername=f"{backend}+pymysql")
    elif backend not in {"sqlite", "postgresql", "mysql", "mariadb"}:
        raise InvalidDatabaseUrl(
            translate(
                "db",
                "Unsupported database '{backend}': pmdesk works with SQLite, PostgreSQL "
                "and MariaDB.",
            ).format(backend=backend)
        )
    return parsed


def describe_url(url: str | URL) -> str:
    """The URL for display: never with its password."""
    return parse_url(url).render_as_string(hide_password=True)


def describe_for_people(url: str | URL) -> str:
    """Where the data lives, in words: "Embedded database (PATH)", "PostgreSQL on HOST / DB" or
    "MariaDB on HOST / DB" (never the driver name or a password)."""
    try:
        parsed = parse_url(url)
    except InvalidDatabaseUrl:
        return translate("db", "Database (unreadable address)")
    backend = parsed.drivername.partition("+")[0]
    if backend == "sqlite":
        path = sqlite_file(parsed)
        if path is None:
            return translate("db", "Embedded database (in memory)")
        return translate("db", "Embedded database ({path})").format(path=str(path))
    host = parsed.host or "localhost"
    default_port = 5432 if backend == "postgresql" else 3306
    if parsed.port and parsed.port != default_port:
        host = f"{host}:{parsed.port}"
    name = "PostgreSQL" if backend == "postgresql" else "MariaDB"
    return translate("db", "{engine} on {host} / {database}").format(
        engine=name, host=host, database=parsed.database or "?"
    )


def sqlite_url(path: Path) -> URL:
    return URL.create("sqlite+pysqlite", database=str(path))


def shorten(text: str, limit: int = 160) -> str:
    """``text`` cut in the middle to at most ``limit`` characters, for messages."""
    if len(text) <= limit:
        return text
    half = (limit - 1) // 2
    return f"{text[:half]}…{text[-half:]}"


def _is_uri(url: URL) -> bool:
    return str(url.query.get("uri", "")).lower() in {"true", "1", "yes"}


def sqlite_file(url: URL) -> Path | None:
    """The file an SQLite URL names (also ``sqlite:///file:PATH?uri=true``); None when the
    database is in memory."""
    name = url.database or ""
    if _is_uri(url):
        if str(url.query.get("mode", "")) == "memory":
            return None
        if name.startswith("file:"):
            name = unquote(urlsplit(name).path)
    if not name or name == ":memory:":
        return None
    return Path(name).expanduser()


def create_private_file(path: Path) -> bool:
    """Create an empty file that only this account may read and write (0600), with its folder
    (0700) when missing; False when the file was already there.

    SQLite makes the -wal and -shm files with the main file's mode, so creating the database
    file this way before SQLite opens it keeps all three private. (On Windows the mode means
    little; the per-user profile's ACL protects the files, see ``pmdesk.paths``.)
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def _sqlite_on_connect(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Python 3.11's sqlite3 has no ``autocommit`` attribute; isolation_level=None hands
        # transaction control to SQLAlchemy's "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    return on_connect


def _sqlite_on_begin(connection: Any) -> None:
    mode = connection.get_execution_options().get(_SQLITE_BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def make_engine(
    url: str | URL, *, echo: bool = False, busy_timeout_ms: int | None = None
) -> Engine:
    """An engine for ``url``. ``busy_timeout_ms`` (SQLite only; default
    ``SQLITE_BUSY_TIMEOUT_MS``) is how long a write waits for another program's lock."""
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = sqlite_file(parsed)
        if path is not None and not (_is_uri(parsed) and parsed.query.get("mode") == "ro"):
            try:
                create_private_file(path)
            except OSError as exc:
                raise DatabaseUnavailable(
                    translate("db", "Cannot create the database file {path}: {error}.").format(
                        path=shorten(str(path)), error=str(exc.strerror or exc)
                    )
                ) from exc
        busy_ms = SQLITE_BUSY_TIMEOUT_MS if busy_timeout_ms is None else busy_timeout_ms
        engine = create_engine(
            parsed,
            echo=echo,
            connect_args={"timeout": busy_ms / 1000, "check_same_thread": False},
        )
        event.listen(engine, "connect", _sqlite_on_connect(busy_ms))
        event.listen(engine, "begin", _sqlite_on_begin)
        event.listen(engine, "before_cursor_execute", _refuse_unstorable)
        return engine
    connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S}
    options: dict[str, Any] = {}
    if backend == "postgresql":
        connect_args["application_name"] = "pmdesk"
        connect_args.update(POSTGRES_KEEPALIVES)
        given = str(parsed.query.get("options", "")).strip()
        connect_args["options"] = f"{given} -c search_path={POSTGRES_SEARCH_PATH}".strip()
        # pmdesk stores no hstore: SQLAlchemy need not look the type up on the first
        # connection (a SAVEPOINT, a query and a RELEASE: three round trips at start).
        options["use_native_hstore"] = False
    else:
        connect_args["charset"] = "utf8mb4"
        connect_args["client_flag"] = lazy_transactions.mariadb_client_flags()
        # As on PostgreSQL: InnoDB's default REPEATABLE READ takes gap locks on every range
        # a DELETE or locking SELECT scans, and concurrent sweeps then deadlock each other.
        options["isolation_level"] = "READ COMMITTED"
        # The pool's rollback on return is a round trip for PyMySQL even after a COMMIT:
        # roll back only a connection still inside a transaction (_mariadb_reset).
        options["pool_reset_on_return"] = None
    # No pre-ping on checkout (a round trip per unit of work, several per user action): a
    # connection is pinged only when its socket shows the server ended it, or when the server
    # was found gone since it was put back (_ping_if_idle). TCP keepalives notice a server that
    # vanished without a word. The most recently returned connection is taken first (LIFO).
    engine = create_engine(
        parsed,
        echo=echo,
        pool_use_lifo=True,
        pool_recycle=1800,
        connect_args=connect_args,
        **options,
    )
    event.listen(engine, "checkin", _note_checkin)
    trouble = _Trouble()
    event.listen(engine, "handle_error", trouble.noted)
    event.listen(engine, "checkout", _ping_if_idle(engine, trouble))
    event.listen(engine, "before_cursor_execute", _refuse_unstorable)
    lazy_transactions.install(engine)
    if backend != "postgresql":
        event.listen(engine, "reset", _mariadb_reset)
    return engine


CHECKED_IN_AT = "pmdesk_checked_in_at"
_ADDRESS_READ = "pmdesk_client_address"  # session.info: the server's view, read with a query
# Connection.info: the same, kept while the connection lives (its address never changes).
_ADDRESS_KEPT = "pmdesk_client_address_of_connection"
_ENCRYPTION_READ = "pmdesk_link_encrypted"  # session.info: likewise, whether the link is


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    if record is not None:
        record.info[CHECKED_IN_AT] = time.monotonic()


def _server_spoke(dbapi_connection: Any) -> bool:
    """Whether an idle connection's socket has something to read: a server that ends a
    connection (a restart, an administrator) says so and closes it, which makes the socket
    readable, while a live idle one is silent. Asked of the operating system: no round trip.
    True when the socket cannot be found (then the caller pings)."""
    try:
        pgconn = getattr(dbapi_connection, "pgconn", None)  # psycopg; else PyMySQL's socket
        fd = int(pgconn.socket) if pgconn is not None else dbapi_connection._sock.fileno()
        if fd < 0:
            return True
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(fd, select.POLLIN | select.POLLPRI)
            return bool(poller.poll(0))
        return bool(select.select([fd], [], [], 0)[0])
    except Exception:  # closed, or a driver without a socket: ping instead
        return True


class _Trouble:
    """When a unit of work last met the server gone (any thread): a connection put back before
    then may be dead too, however recently, and is pinged (a restart takes a second)."""

    def __init__(self) -> None:
        self.at = 0.0

    def noted(self, context: Any) -> None:
        """SQLAlchemy's ``handle_error`` event."""
        error = context.sqlalchemy_exception
        if context.is_disconnect or (
            isinstance(error, OperationalError) and is_connection_problem(error)
        ):
            self.at = time.monotonic()


def _ping_if_idle(engine: Engine, trouble: _Trouble) -> Callable[[Any, Any, Any], None]:
    def check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        """SQLAlchemy's ``checkout`` event: a connection whose server said something while it
        sat in the pool (ending it, most likely), or put back before the server was last found
        gone, is pinged; a dead one raises DisconnectionError, and the pool connects afresh
        (as ``pool_pre_ping`` would). Any other is used as it is: no round trip."""
        returned = record.info.get(CHECKED_IN_AT)
        if returned is None:
            return  # just connected
        if returned > trouble.at and not _server_spoke(dbapi_connection):
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_connection, None):
                raise DisconnectionError(str(exc)) from exc
            raise
        if not alive:
            raise DisconnectionError("the connection did not answer the ping")

    return check


_SERVER_STATUS_IN_TRANS = 1  # pymysql.constants.SERVER_STATUS.SERVER_STATUS_IN_TRANS


def _mariadb_reset(dbapi_connection: Any, _record: Any, state: Any) -> None:
    """A connection back in the pool: roll back what it left open, and nothing more (the
    server says in every reply whether a transaction is open; after a COMMIT none is). One
    about to be closed is left alone: closing ends its transaction."""
    if state.terminate_only:
        return
    status = getattr(dbapi_connection, "server_status", _SERVER_STATUS_IN_TRANS)
    if status & _SERVER_STATUS_IN_TRANS:
        dbapi_connection.rollback()


# Text no engine stores as typed: PostgreSQL refuses NUL (DataError), and a lone surrogate (what
# Python makes of undecodable bytes) cannot be encoded for any driver.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
UNSTORABLE_TEXT = translate(
    "db",
    "The text contains a character that cannot be stored (NUL or an unpaired surrogate, as "
    "left by undecodable bytes); nothing was saved.",
)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _refuse_unstorable(
    _conn: Any, _cursor: Any, _statement: str, parameters: Any, _context: Any, executemany: bool
) -> None:
    """Refuse, the same way on every engine, a value that would reach the driver only to fail
    there: a NUL or lone surrogate in text, or an integer beyond 64 bits. One regular-expression
    pass per text value and a comparison per integer: cheap next to the round trip."""
    if not parameters:
        return
    for value in _parameter_values(parameters, executemany):
        kind = type(value)
        if kind is str:
            if _UNSTORABLE.search(value):
                raise ValidationError({"text": UNSTORABLE_TEXT})
        elif kind is int and not _INT64_MIN <= value <= _INT64_MAX:
            raise DatabaseRefused(out_of_range_message())


def _parameter_values(parameters: Any, executemany: bool) -> Iterator[Any]:
    """Every value bound to a statement: one row (a dict or a sequence), or many; a driver's
    executemany may also hand one flat sequence (SQLite's batched INSERT … VALUES)."""
    for row in parameters if executemany else (parameters,):
        if isinstance(row, dict):
            yield from row.values()
        elif isinstance(row, list | tuple):
            yield from row
        else:
            yield row


def unavailable_message(url: str | URL, exc: BaseException) -> str:
    return translate("db", "Cannot reach the database {url}: {error}").format(
        url=describe_url(url), error=first_line(exc)
    )


def first_line(exc: BaseException) -> str:
    """The first line of a (driver) error's message, for a log line or a status message."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return shorten(detail[0], 300) if detail else type(exc).__name__


def out_of_range_message(where: str = "") -> str:
    return translate(
        "db",
        "A number is too large for the database{where}; nothing was saved. Use a smaller value.",
    ).format(where=where)


# PostgreSQL SQLSTATEs and MariaDB error numbers of the refusals worded on their own.
_READ_ONLY_SQLSTATES = {"25006"}  # read_only_sql_transaction (a hot standby, read-only role)
_READ_ONLY_CODES = {1290, 1792}  # --read-only server; READ ONLY transaction
_OUT_OF_RANGE_SQLSTATES = {"22003"}  # numeric_value_out_of_range
_OUT_OF_RANGE_CODES = {1264, 1690}  # out of range value; BIGINT value is out of range
_PERMISSION_SQLSTATES = {"42501"}  # insufficient_privilege
_PERMISSION_CODES = {1044, 1142, 1143, 1227, 1370}  # access denied to a database, table, column…


def database_problem(exc: BaseException, url: str | URL | None = None) -> str | None:
    """The sentence for a database error that is not about reaching it: a read-only database,
    a number out of range, or permission denied; None for any other error.

    For the CLI and the GUI alike (``pmdesk.ui.errors`` shows it); ``url`` names the database.
    """
    orig = getattr(exc, "orig", None) or exc
    where = ""
    if url is not None:
        try:
            where = f" {describe_url(url)}"
        except InvalidDatabaseUrl:
            where = ""
    sqlstate = getattr(orig, "sqlstate", None)
    args = getattr(orig, "args", None) or (None,)
    code = args[0] if isinstance(args[0], int) else None
    detail = first_line(exc)
    lowered = detail.lower()
    file = _sqlite_path(url)
    file_refused = "readonly database" in lowered or "unable to open database file" in lowered
    if file_refused and file is not None and not _may_write(file):
        return translate(
            "db",
            "No permission to change the database file {file}: this "
            "account may not write the file or its folder. Nothing was saved; ask whoever "
            "manages this computer to give you write access.",
        ).format(file=shorten(str(file)))
    if (
        sqlstate in _READ_ONLY_SQLSTATES
        or code in _READ_ONLY_CODES
        or "readonly database" in lowered
        or "read-only" in lowered
    ):
        return translate(
            "db",
            "The database{where} is read-only here: it can be read but not changed. "
            "Nothing was saved.",
        ).format(where=where)
    if (
        sqlstate in _OUT_OF_RANGE_SQLSTATES
        or code in _OUT_OF_RANGE_CODES
        or isinstance(orig, OverflowError)
    ):
        return out_of_range_message(where)
    if sqlstate in _PERMISSION_SQLSTATES or code in _PERMISSION_CODES:
        return translate(
            "db",
            "The database{where} refused: this database account has no permission for it "
            "({detail}). Nothing was saved; ask the database administrator for the rights "
            "pmdesk needs.",
        ).format(where=where, detail=detail)
    return None


def _may_write(file: Path) -> bool:
    """Whether this account may write an existing database file and its folder (SQLite makes
    the -wal and -shm files next to it)."""
    if not file.exists():
        return True
    return os.access(file, os.R_OK | os.W_OK) and os.access(file.parent, os.W_OK | os.X_OK)


def _sqlite_path(url: str | URL | None) -> Path | None:
    if url is None:
        return None
    try:
        parsed = parse_url(url)
    except InvalidDatabaseUrl:
        return None
    return sqlite_file(parsed) if parsed.get_backend_name() == "sqlite" else None


# What a hardened server's definer functions raise (docs/server-enforced.md §5.3): the message
# is the client's own sentence.
_SERVER_REFUSALS: dict[str, Callable[[str], PmdeskError]] = {
    "PMD01": PermissionDenied,
    "PMD02": NotFound,
    "PMD03": ConflictError,
    "PMD04": LastAdministratorError,
}


def server_refusal(exc: DBAPIError) -> PmdeskError | None:
    """The core's error for a refusal raised by a hardened server's function (SQLSTATE 28000:
    no session; PMD01–PMD05), or None for any other error (a failed connection attempt
    included: it also reports 28000 when pg_hba.conf rejects the login)."""
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if not isinstance(sqlstate, str):
        return None
    # No statement: a failed connection attempt (28000 too), or a commit, where the deferred
    # checks (PMD04, the last administrator) speak; only pmdesk's own codes count then.
    if exc.statement is None and not sqlstate.startswith("PMD"):
        return None
    if sqlstate == "28000":
        return NotSignedIn(NOT_SIGNED_IN, "none")
    make = _SERVER_REFUSALS.get(sqlstate)
    if make is None and sqlstate != "PMD05":
        return None
    # Only now is the server's sentence worth reading back as the core's (the catalogue).
    diag = getattr(orig, "diag", None)
    message = as_text(str(getattr(diag, "message_primary", None) or first_line(exc)))
    if make is None:  # PMD05: a value the server refuses, its field in the detail
        field = str(getattr(diag, "message_detail", None) or "value")
        return ValidationError({field: message})
    return make(message)


def database_error(url: str | URL, exc: BaseException) -> PmdeskError:
    """The core's error for a driver error: DatabaseRefused with its own sentence (read-only,
    out of range, permission denied), else DatabaseUnavailable."""
    problem = database_problem(exc, url)
    if problem is not None:
        return DatabaseRefused(problem)
    return DatabaseUnavailable(unavailable_message(url, exc))


def database_error_message(url: str | URL, exc: BaseException) -> str:
    """One sentence for any database error: its own for the refusals ``database_problem``
    knows, "Cannot reach…" for a connection that failed, else what the database said."""
    problem = database_problem(exc, url)
    if problem is not None:
        return problem
    if isinstance(exc, OperationalError | InterfaceError | OSError):
        return unavailable_message(url, exc)
    return translate(
        "db", "The database {url} refused the work: {error}. Nothing was saved."
    ).format(url=describe_url(url), error=first_line(exc))


class Database:
    """An engine plus the unit-of-work helpers every service uses."""

    def __init__(
        self, url: str | URL, *, echo: bool = False, busy_timeout_ms: int | None = None
    ) -> None:
        self.url = parse_url(url)
        #: SQLite: how long a write waits for another program's lock (None: the default).
        self.busy_timeout_ms = busy_timeout_ms
        self.engine = make_engine(self.url, echo=echo, busy_timeout_ms=busy_timeout_ms)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_engine = (
            self.engine.execution_options(**{_SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            if self.is_sqlite
            else self.engine
        )
        self._write_sessions = sessionmaker(self._write_engine, expire_on_commit=False)
        self._hardening_level: int | None = None
        self._session_token: str | None = None
        self._session_lock = threading.Lock()
        if self.backend == "postgresql":
            event.listen(self.engine, "connect", self._present_session)
            event.listen(self.engine, "checkout", self._check_presented)

    @property
    def hardening_level(self) -> int:
        """0, or the level of server-enforced mode a PostgreSQL database was set up with
        (``pmdesk server init``); read once per Database."""
        if self._hardening_level is None:
            level = 0
            if self.backend == "postgresql":
                from pmdesk.core.server import meta

                with self.engine.connect() as connection:
                    found = meta.read(connection)
                    connection.rollback()
                level = found.level if found is not None else 0
                if level > meta.HARDENING_LEVEL:
                    # Its functions and rules are ones this pmdesk does not know: saying so
                    # beats "function does not exist" half-way through a sign-in.
                    raise DatabaseRefused(meta.newer_than_this_pmdesk(level))
            self._hardening_level = level
        return self._hardening_level

    @property
    def server_passwords(self) -> bool:
        """Whether the server checks passwords (hardening level 2 or later)."""
        return self.backend == "postgresql" and self.hardening_level >= SERVER_PASSWORDS_LEVEL

    @property
    def server_codes(self) -> bool:
        """Whether the server makes the codes and the relay sends them and sweeps (hardening
        level 3 or later)."""
        return self.backend == "postgresql" and self.hardening_level >= SERVER_CODES_LEVEL

    @property
    def server_sessions(self) -> bool:
        """Whether the server keeps the sessions (hardening level 4 or later): every unit of
        work then acts as the session ``use_session`` names."""
        return self.backend == "postgresql" and self.hardening_level >= SERVER_SESSIONS_LEVEL

    @property
    def server_reads(self) -> bool:
        """Whether the server shows rows only to a session (hardening level 6 or later):
        what the client needs before a sign-in comes from ``server_info()``."""
        return self.backend == "postgresql" and self.hardening_level >= SERVER_READS_LEVEL

    @property
    def session_token(self) -> str | None:
        """The token every new connection presents (``use_session``), or None."""
        return self._session_token

    def use_session(self, token: str | None) -> None:
        """Act as the session ``token`` opens from now on (None: as nobody). Where the server
        keeps the sessions, each new connection presents it in the setting ``pmdesk.session``,
        and no pooled connection made for another identity is used again: each is closed and
        replaced when next taken from the pool (closing them here would leave connections in
        use on other threads unclosed). Elsewhere nothing to do: the client checks sessions
        itself."""
        if token is not None and not self.server_sessions:
            return
        with self._session_lock:
            self._session_token = token

    def forget_session(self, token: str | None) -> None:
        """``use_session(None)`` if ``token`` is still the one presented (it just ended)."""
        with self._session_lock:
            if token is not None and token == self._session_token:
                self._session_token = None

    def _present_session(self, dbapi_connection: Any, record: Any) -> None:
        """SQLAlchemy's ``connect`` event on PostgreSQL: the session's token, once per physical
        connection, outside any transaction (a setting made in a transaction rolled back would
        be undone with it)."""
        token = self._session_token
        record.info[_PRESENTED] = token
        if token is None:
            return
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            dbapi_connection.execute(PRESENT_SESSION, {"token": token})
        finally:
            dbapi_connection.autocommit = autocommit

    def _check_presented(self, _dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        """SQLAlchemy's ``checkout`` event: a connection that presents another session than
        the current one is closed, and the pool connects again (``_present_session``)."""
        if record.info.get(_PRESENTED) != self._session_token:
            raise DisconnectionError("the session to present changed")

    @property
    def backend(self) -> str:
        """'sqlite', 'postgresql' or 'mariadb' (MySQL URLs count as MariaDB)."""
        name = self.url.get_backend_name()
        return "mariadb" if name in {"mysql", "mariadb"} else name

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    def describe(self) -> str:
        return describe_url(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read or write unit of work; committed when the block ends without error."""
        with self._guard(), self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only unit of work on a plain connection, for the long lists: rows come back
        as tuples, without the ORM's work per row (about half the time of a session for a page
        of 256 rows)."""
        with self._guard(), self.engine.connect() as connection, connection.begin():
            yield connection

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A unit of work that reads then writes: ``BEGIN IMMEDIATE`` on SQLite."""
        with self._guard(), self._write_sessions() as session, session.begin():
            yield session

    def write_transaction(self, work: Callable[[Session], T], *, attempts: int = 3) -> T:
        """``work`` in a write_session, run again when the server aborts it to break a deadlock.

        ``work`` must only touch the database (no mail, no other side effects): a retried
        attempt starts from scratch after the rollback.
        """
        return self._retried(self.write_session, work, attempts)

    def alone(self, work: Callable[[Session], T], *, attempts: int = 3) -> T:
        """``work``: one statement that writes and needs no transaction around it (an upsert,
        say). On a server it runs outside any, committed by the server as it runs: one round
        trip, no BEGIN, no COMMIT (``lazy_transactions.ALONE``). Run again like
        ``write_transaction`` when the server aborts it to break a deadlock."""
        if self.is_sqlite:
            return self.write_transaction(work, attempts=attempts)
        return self._retried(self._alone_session, work, attempts)

    @contextmanager
    def _alone_session(self) -> Iterator[Session]:
        with self._guard(), self._sessions() as session, session.begin():
            session.connection(execution_options={lazy_transactions.ALONE: True})
            yield session

    @staticmethod
    def _retried(
        unit: Callable[[], AbstractContextManager[Session]],
        work: Callable[[Session], T],
        attempts: int,
    ) -> T:
        for attempt in range(1, attempts + 1):
            try:
                with unit() as session:
                    return work(session)
            except OperationalError as exc:
                if attempt == attempts or not is_retryable_conflict(exc):
                    raise
                log.info("transaction aborted by a deadlock; retrying (%d)", attempt)
                time.sleep(0.02 * attempt)
        raise AssertionError("unreachable")

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as exc:
            refusal = server_refusal(exc)
            if refusal is not None:
                raise refusal from exc
            if isinstance(exc, OperationalError):
                if is_connection_problem(exc):
                    raise DatabaseUnavailable(unavailable_message(self.url, exc)) from exc
                if is_busy(exc):
                    raise DatabaseBusy(busy_message(self.url, self.busy_timeout_ms)) from exc
            problem = database_problem(exc, self.url)
            if problem is not None:
                raise DatabaseRefused(problem) from exc
            raise

    def check_connection(self) -> None:
        """Raise DatabaseUnavailable with a readable message when the server cannot be reached."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except (DBAPIError, OSError) as exc:
            raise database_error(self.url, exc) from exc

    def dispose(self) -> None:
        self.engine.dispose()

    def refresh_statistics(self) -> None:
        """Keep SQLite's planner statistics current (PostgreSQL and MariaDB do this themselves).

        Without statistics SQLite walks the sort index instead of the search indexes and a
        search over 100,000 people takes ~100 ms instead of a few.
        """
        if not self.is_sqlite:
            return
        try:
            with self.engine.connect() as conn:
                has_table = conn.exec_driver_sql(
                    "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
                ).scalar()
                if not has_table:
                    conn.exec_driver_sql("ANALYZE")
                else:
                    # PRAGMA optimize on a fresh connection analyses nothing (SQLite < 3.46), so
                    # a list that grew since it was last analysed is noticed here: its row
                    # count against the one the statistics were made with.
                    stale = [t for t in _ANALYSED_TABLES if _statistics_stale(conn, t)]
                    if stale:
                        conn.exec_driver_sql(f"PRAGMA analysis_limit={_ANALYSIS_LIMIT}")
                        for table in stale:
                            conn.exec_driver_sql(f'ANALYZE "{table}"')
                    conn.exec_driver_sql("PRAGMA optimize")
                conn.commit()
        except OperationalError as exc:
            if not is_busy(exc) and database_problem(exc, self.url) is None:
                raise
            # Statistics only speed searches up: another program holding the write lock, or a
            # read-only file, must not stop pmdesk from starting (the next start refreshes them).
            log.warning("planner statistics not refreshed: %s", first_line(exc))

    def client_address(self, session: Session) -> str | None:
        """This workstation's address as the database server sees it, normalised (read with
        another query of the unit of work when it brought ``client_address_column``)."""
        column = self.client_address_column()
        if column is None:
            return primary_outbound_address()
        if _ADDRESS_READ in session.info:
            raw = session.info[_ADDRESS_READ]
        elif _ADDRESS_KEPT in session.connection().info:
            raw = session.connection().info[_ADDRESS_KEPT]
        else:
            raw = session.execute(select_query(column)).scalar()
            self.remember_client_address(session, raw)
        if self.backend == "postgresql":
            return normalise_address(raw)
        return _host_to_address(raw)

    def client_address_column(self) -> ColumnElement[Any] | None:
        """The server's view of this workstation's address, as a column a query of the unit of
        work can bring along (None on SQLite: the address is this machine's own). Hand its
        value to ``remember_client_address``."""
        if self.backend == "postgresql":
            return literal_column("host(inet_client_addr())")
        if self.backend == "mariadb":
            return literal_column(
                "(SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID())"
            )
        return None

    def client_address_guess_column(self) -> ColumnElement[Any] | None:
        """The server's own guess at ``client_address`` (what it reads, normalised in SQL for
        the usual cases: ``::ffff:`` and ports dropped, ``localhost``), for a read sent before
        the address is known. Only a guess: a read made with it counts once the address,
        read with it, turns out the same (``sign_in_reads``)."""
        if self.backend == "postgresql":
            host = "host(inet_client_addr())"
            return literal_column(
                f"(CASE WHEN {host} LIKE '::ffff:%.%' THEN substr({host}, 8) ELSE {host} END)"
            )
        if self.backend == "mariadb":
            return literal_column(
                "(SELECT CASE WHEN HOST = 'localhost' THEN '127.0.0.1'"
                " WHEN HOST LIKE '%.%:%' AND HOST NOT LIKE '%:%:%'"
                " THEN SUBSTRING_INDEX(HOST, ':', 1) ELSE HOST END"
                " FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID())"
            )
        return None

    def known_client_address(self, session: Session) -> str | None:
        """``client_address`` when the unit's connection read it before (a connection's
        address never changes while it lives), else None: no query either way."""
        if self.client_address_column() is None or (_ADDRESS_KEPT not in session.connection().info):
            return None
        return self.client_address(session)

    @staticmethod
    def remember_client_address(session: Session, raw: object) -> None:
        """``client_address_column``'s value, read by another query of this unit of work;
        kept for the connection's later units too."""
        session.info[_ADDRESS_READ] = raw
        session.connection().info[_ADDRESS_KEPT] = raw

    def connection_encrypted(self, session: Session) -> bool | None:
        """Whether the link to the database is encrypted (None: not applicable, embedded);
        read with another query of the unit of work when it brought
        ``connection_encrypted_column``."""
        column = self.connection_encrypted_column()
        if column is None:
            return None
        if _ENCRYPTION_READ in session.info:
            value = session.info[_ENCRYPTION_READ]
        else:
            value = session.execute(select_query(column)).scalar()
        return bool(value)

    def connection_encrypted_column(self) -> ColumnElement[Any] | None:
        """Whether the link is encrypted, as a column another query can bring along (the
        server's answer: true, or a cipher's name; None on SQLite). Hand its value to
        ``remember_connection_encrypted``."""
        if self.backend == "postgresql":
            return literal_column("(SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid())")
        if self.backend == "mariadb":
            return literal_column(
                "(SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS "
                "WHERE VARIABLE_NAME = 'SSL_CIPHER')"
            )
        return None

    @staticmethod
    def remember_connection_encrypted(session: Session, value: object) -> None:
        """``connection_encrypted_column``'s value, read by another query of this unit."""
        session.info[_ENCRYPTION_READ] = value


# Tables whose searches depend on the planner's statistics (the lists on screen), and how many
# rows of each index ANALYZE reads at most (an estimate is all the planner needs).
_ANALYSED_TABLES = ("personnel", "trusted_ips")
_ANALYSIS_LIMIT = 2000


def _statistics_stale(conn: Any, table: str) -> bool:
    """Whether ``table`` was never analysed or has grown or shrunk by half since."""
    stat = conn.exec_driver_sql(
        "SELECT stat FROM sqlite_stat1 WHERE tbl = ? AND idx IS NOT NULL LIMIT 1", (table,)
    ).scalar()
    rows = int(conn.exec_driver_sql(f'SELECT count(*) FROM "{table}"').scalar() or 0)
    if stat is None:
        return rows > 0
    analysed = int(str(stat).split()[0])
    return not analysed / 2 <= rows <= analysed * 2 + 100


def _host_to_address(raw: object) -> str | None:
    if not isinstance(raw, str) or not raw:
        return None
    host = raw.rsplit(":", 1)[0] if raw.count(":") == 1 else raw
    if host == "localhost":
        return "127.0.0.1"
    found = normalise_address(host)
    if found is not None:
        return found
    try:
        return normalise_address(socket.gethostbyname(host))
    except OSError:
        return None


def is_busy(exc: OperationalError) -> bool:
    """SQLite's 'database is locked': another program held the write lock past the busy
    timeout (the transaction was rolled back; nothing of it was written)."""
    text = str(exc.orig).lower()
    return "database is locked" in text or "database table is locked" in text


def busy_message(url: str | URL, busy_timeout_ms: int | None = None) -> str:
    waited = SQLITE_BUSY_TIMEOUT_MS if busy_timeout_ms is None else busy_timeout_ms
    return translate(
        "db",
        "The database {url} is busy: another program has kept it locked for "
        "more than {seconds} seconds. Nothing was saved; try again.",
    ).format(url=describe_url(url), seconds=f"{waited / 1000:g}")


_RETRYABLE_CODES = {
    1213,  # MariaDB: deadlock found
    1205,  # MariaDB: lock wait timeout
}
_RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


def is_retryable_conflict(exc: BaseException) -> bool:
    """A transaction the server aborted to break a deadlock: running it again is safe.

    The error may come second: MariaDB ends the whole transaction on a deadlock, so when it
    struck inside a SAVEPOINT (``begin_nested``) the ROLLBACK TO SAVEPOINT that follows fails
    ("SAVEPOINT … does not exist") with the deadlock as its context."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        orig = getattr(current, "orig", current)
        args = getattr(orig, "args", None)
        code = args[0] if args else None
        if code in _RETRYABLE_CODES or getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES:
            return True
        current = current.__cause__ or current.__context__
    return False


def is_connection_problem(exc: OperationalError) -> bool:
    return bool(exc.connection_invalidated) or "connect" in str(exc.orig).lower()


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` means the database went away (as opposed to a bug or a busy lock): what
    the background services tell apart to report "connection lost" and reconnect."""
    if isinstance(exc, DatabaseBusy):
        return False
    if isinstance(exc, DatabaseUnavailable | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        detail = str(exc.orig).lower()
        if "locked" in detail or "busy" in detail:
            return False
        return isinstance(exc, OperationalError | InterfaceError)
    return isinstance(exc, OSError)


def utcnow() -> datetime:
    return datetime.now(UTC)
