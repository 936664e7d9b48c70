"""Is the database ready for a login? Asked with the bare driver, before SQLAlchemy is loaded.

At almost every start the database is reachable, already at the newest schema and has users:
the login dialog can take a username and password at once. Finding that out through SQLAlchemy
means importing it, the ORM and the models first (about three bare Qt starts on this machine's
2 cores); the driver alone (``sqlite3``, ``psycopg``, ``pymysql``) answers in a few
milliseconds. The app enables Login when this probe says yes and opens the database properly
(``pmdesk.ui.startup.open_database``) right behind it; a login asked for before that is done
waits for it.

The probe only ever says "yes, ready" or "don't know": it changes nothing, creates no file, and
anything unusual (a URL with options, a server asking for a password the URL lacks, a locked or
missing file, any error) makes it step aside for the full open, which says what is wrong.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

# Short: it only decides whether Login may be enabled early. A server that takes longer to
# answer is asked again, with the full timeout, by the real open.
PROBE_TIMEOUT_S = 2

_SQLITE_URL = re.compile(r"^sqlite(?:\+pysqlite)?:///(?P<path>[^?#]+)$")
_SERVER_SCHEMES = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+psycopg": "postgresql",
    "mariadb": "mariadb",
    "mysql": "mariadb",
    "mariadb+pymysql": "mariadb",
    "mysql+pymysql": "mariadb",
}

#: Where pmdesk's tables live on PostgreSQL: schema ``pmdesk`` on a database set up for
#: server-enforced mode (``pmdesk server init``), else ``public``. A schema that does not exist
#: is skipped, so one setting serves both (also used by ``pmdesk.core.db``; this module stays
#: free of SQLAlchemy so that the start-up probe is quick).
POSTGRES_SEARCH_PATH = "pmdesk,public"
_REVISION_QUERY = "SELECT version_num FROM alembic_version"
# The same question as PersonnelService.has_users: is there anyone who can sign in?
_HAS_USERS_QUERY = "SELECT 1 FROM personnel WHERE login_key IS NOT NULL LIMIT 1"
# PostgreSQL: the revision, and whether the server shows rows only to a signed-in session
# (server-enforced mode, hardening 6): then the server answers the question itself.
_PG_REVISION_QUERY = (
    "SELECT version_num, to_regprocedure('pmdesk.server_info()') IS NOT NULL FROM alembic_version"
)
_PG_HAS_USERS_QUERY = "SELECT (pmdesk.server_info() ->> 'has_users')::boolean"


@dataclass(frozen=True)
class DriverTarget:
    """Where a database is, in the words of its driver."""

    backend: str  # "sqlite", "postgresql" or "mariadb"
    path: Path | None = None  # SQLite
    params: dict[str, Any] = field(default_factory=dict)  # server: connect() keywords


def driver_target(url: str | None, embedded: Path) -> DriverTarget | None:
    """The driver's view of ``url`` (None: the embedded database file ``embedded``), or None
    when the URL has anything the probe does not handle the way SQLAlchemy would."""
    if url is None:
        return DriverTarget("sqlite", path=embedded)
    sqlite = _SQLITE_URL.match(url)
    if sqlite:
        path = sqlite.group("path")
        if "%" in path or path == ":memory:":
            return None
        return DriverTarget("sqlite", path=Path(path))
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    backend = _SERVER_SCHEMES.get(parts.scheme.lower())
    database = parts.path.lstrip("/")
    if backend is None or parts.query or parts.fragment or not database or "/" in database:
        return None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if backend == "mariadb" and user and password is None:
        # The real open takes the password from the keyring; MariaDB would count an attempt
        # without it as a failed login.
        return None
    params: dict[str, Any] = {
        "host": parts.hostname,
        "port": port,
        "user": user,
        "password": password,
        ("dbname" if backend == "postgresql" else "database"): unquote(database),
    }
    return DriverTarget(backend, params={k: v for k, v in params.items() if v is not None})


def ready_for_login(target: DriverTarget, head: str) -> bool:
    """True when the database answers, is at schema ``head`` and has someone who can sign in.

    False means "don't know": the caller opens the database the full way and learns why.
    """
    try:
        if target.backend == "sqlite":
            answers = _ask_sqlite(target)
        elif target.backend == "postgresql":
            answers = _ask_postgresql(target)
        else:
            answers = _ask_mariadb(target)
    except Exception as exc:
        log.debug("start-up probe stepped aside: %s: %s", type(exc).__name__, exc)
        return False
    if answers is None:
        return False
    revisions, has_users = answers
    return revisions == [head] and has_users


_Answers = tuple[list[str], bool]


def _ask(cursor: Any) -> _Answers:
    cursor.execute(_REVISION_QUERY)
    revisions = [str(row[0]) for row in cursor.fetchall()]
    cursor.execute(_HAS_USERS_QUERY)
    has_users = cursor.fetchone() is not None
    return revisions, has_users


def _ask_sqlite(target: DriverTarget) -> _Answers | None:
    import sqlite3

    assert target.path is not None
    path = target.path.expanduser()
    if not path.is_file():
        return None  # the full open creates and migrates it
    # Read-only: the probe must never create or change anything.
    uri = f"{path.resolve().as_uri()}?mode=ro"
    connection = sqlite3.connect(uri, uri=True, timeout=PROBE_TIMEOUT_S)
    try:
        return _ask(connection.cursor())
    finally:
        connection.close()


def _ask_postgresql(target: DriverTarget) -> _Answers:
    import psycopg

    # Without a password in the URL the server may still let us in (trust, peer, certificates);
    # if it asks for one, libpq gives up before sending anything, and the full open reads it
    # from the keyring.
    params = dict(target.params)
    given = str(params.pop("options", "") or "").strip()
    with psycopg.connect(
        **params,
        connect_timeout=PROBE_TIMEOUT_S,
        application_name="pmdesk",
        autocommit=True,
        options=f"{given} -c search_path={POSTGRES_SEARCH_PATH}".strip(),
    ) as connection:
        cursor = connection.cursor()
        cursor.execute(_PG_REVISION_QUERY)
        rows = cursor.fetchall()
        if not any(server_reads for _revision, server_reads in rows):
            cursor.execute(_HAS_USERS_QUERY)
            return [str(row[0]) for row in rows], cursor.fetchone() is not None
        cursor.execute(_PG_HAS_USERS_QUERY)
        found = cursor.fetchone()
        return [str(row[0]) for row in rows], bool(found and found[0])


def connect_mariadb(target: DriverTarget) -> Any:
    """The probe's PyMySQL connection: autocommit as the server starts a session (PyMySQL
    would otherwise turn it off: a round trip), several statements allowed in one query."""
    import pymysql
    from pymysql.constants import CLIENT

    return pymysql.connect(
        **target.params,
        connect_timeout=PROBE_TIMEOUT_S,
        read_timeout=PROBE_TIMEOUT_S,
        charset="utf8mb4",
        autocommit=True,
        client_flag=CLIENT.MULTI_STATEMENTS,
    )


def _ask_mariadb(target: DriverTarget) -> _Answers:
    connection = connect_mariadb(target)
    try:  # both questions in one query: one round trip once connected
        cursor = connection.cursor()
        cursor.execute(f"{_REVISION_QUERY}; {_HAS_USERS_QUERY}")
        revisions = [str(row[0]) for row in cursor.fetchall()]
        cursor.nextset()
        return revisions, cursor.fetchone() is not None
    finally:
        connection.close()
