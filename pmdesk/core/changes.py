"""Change notifications from the database, for live refresh across workstations (Qt-free).

One ``ChangeWatcher`` per engine, each on its own connection (never the pool of the services):

- PostgreSQL: migration 0002's statement triggers send ``NOTIFY pmdesk_changes, '<table>'``; the
  watcher ``LISTEN``s on a dedicated autocommit psycopg connection and waits on its socket.
- MariaDB: row triggers bump a shard of ``change_counters`` (migration 0005); the watcher
  polls the sum per table (every ``poll_interval_s``, 1 s by default) on its own autocommit
  connection.
- SQLite: ``PRAGMA data_version`` on the watcher's own connection changes whenever another
  connection commits; it cannot tell which table, so a change reports every topic.

``wait(timeout_s)`` returns the topics (table names) changed since the previous call, as soon as
there is one, or an empty set after ``timeout_s``. Changes made by this process are reported as
well. ``interrupt()`` (from any thread) makes a blocked ``wait`` return at once, so a listener
thread stops promptly. A lost connection raises ``DatabaseUnavailable``: close the watcher and
open a new one (changes made meanwhile were missed, so refresh everything then).
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from pmdesk.core.db import (
    CONNECT_TIMEOUT_S,
    POSTGRES_KEEPALIVES,
    Database,
    parse_url,
    unavailable_message,
)
from pmdesk.core.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

CHANNEL = "pmdesk_changes"
TRUSTED_IPS = "trusted_ips"
PERSONNEL = "personnel"
SECURITY_SETTINGS = "security_settings"
USER_GROUPS = "user_groups"
GROUP_PERMISSIONS = "group_permissions"
#: Every topic a watcher can report (the tables migration 0002 watches).
TOPICS: frozenset[str] = frozenset(
    {TRUSTED_IPS, PERSONNEL, SECURITY_SETTINGS, USER_GROUPS, GROUP_PERMISSIONS}
)
DEFAULT_POLL_INTERVAL_S = 1.0


class ChangeWatcher(ABC):
    """Reports which watched tables changed; one instance per thread, on its own connection."""

    def __init__(self, url: URL, poll_interval_s: float) -> None:
        self.url = url
        self.poll_interval_s = poll_interval_s
        self._wake = threading.Event()
        self._closed = False

    @abstractmethod
    def wait(self, timeout_s: float) -> set[str]:
        """Topics changed since the last call; returns early on a change or ``interrupt()``."""

    def interrupt(self) -> None:
        """Make the current (or next) ``wait`` return at once. Safe from any thread."""
        self._wake.set()

    def close(self) -> None:
        """Release the connection. Safe to call twice."""
        self._closed = True

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> ChangeWatcher:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("This change watcher is closed.")

    def _lost(self, exc: BaseException) -> DatabaseUnavailable:
        return DatabaseUnavailable(unavailable_message(self.url, exc))

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless interrupted; True when interrupted (the flag is consumed)."""
        if self._wake.wait(max(0.0, seconds)):
            self._wake.clear()
            return True
        return False


def open_watcher(
    target: Database | URL | str, *, poll_interval_s: float = DEFAULT_POLL_INTERVAL_S
) -> ChangeWatcher:
    """Connect a watcher for the database (its URL, password included). May raise
    ``DatabaseUnavailable``."""
    url = target.url if isinstance(target, Database) else parse_url(target)
    backend = url.get_backend_name()
    if backend == "postgresql":
        return PostgresChangeWatcher(url, poll_interval_s=poll_interval_s)
    if backend in {"mysql", "mariadb"}:
        return MariaDbChangeWatcher(url, poll_interval_s=poll_interval_s)
    return SqliteChangeWatcher(url, poll_interval_s=poll_interval_s)


# ----- PostgreSQL -------------------------------------------------------------------------------


def psycopg_conninfo(url: URL | str, *, application_name: str = "pmdesk (changes)") -> str:
    """A libpq connection string from a SQLAlchemy URL (password and query options kept)."""
    parsed = parse_url(url)
    params: dict[str, Any] = {
        "host": parsed.host,
        "port": parsed.port,
        "dbname": parsed.database,
        "user": parsed.username,
        "password": parsed.password,
    }
    for key, value in parsed.query.items():
        # A repeated query key arrives as a tuple; libpq wants one value.
        params[key] = value[-1] if isinstance(value, tuple) else value
    params.setdefault("connect_timeout", CONNECT_TIMEOUT_S)
    params.setdefault("application_name", application_name)
    # Notice a dead server link even when nobody writes (no NOTIFY would ever wake us).
    params = POSTGRES_KEEPALIVES | params
    return make_conninfo("", **{k: v for k, v in params.items() if v is not None})


class PostgresChangeWatcher(ChangeWatcher):
    """``LISTEN pmdesk_changes`` on a dedicated autocommit connection."""

    def __init__(self, url: URL, *, poll_interval_s: float = DEFAULT_POLL_INTERVAL_S) -> None:
        super().__init__(url, poll_interval_s)
        # A socket pair wakes select() from another thread (works on Windows too).
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        try:
            self._conn = psycopg.connect(psycopg_conninfo(url), autocommit=True)
            self._conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            self._close_sockets()
            raise self._lost(exc) from exc

    def wait(self, timeout_s: float) -> set[str]:
        self._check_open()
        deadline = time.monotonic() + max(0.0, timeout_s)
        topics: set[str] = set()
        fd = self._conn.fileno()
        wake_fd = self._wake_r.fileno()
        while True:
            remaining = deadline - time.monotonic()
            try:
                readable, _, _ = select.select([fd, wake_fd], [], [], max(0.0, remaining))
            except (OSError, ValueError) as exc:  # the socket went away under us
                raise self._lost(exc) from exc
            if wake_fd in readable:
                self._drain_wake()
                return topics
            if fd in readable:
                try:
                    # A short timeout makes psycopg read the socket (it reads nothing at 0):
                    # notifications, or the EOF of a server that went away.
                    for notify in self._conn.notifies(timeout=0.02):
                        if notify.channel == CHANNEL and notify.payload in TOPICS:
                            topics.add(notify.payload)
                except psycopg.Error as exc:
                    raise self._lost(exc) from exc
                if self._conn.broken or self._conn.closed:
                    raise self._lost(ConnectionError("the server closed the connection"))
            if topics or remaining <= 0:
                return topics

    def interrupt(self) -> None:
        super().interrupt()
        with contextlib.suppress(OSError):  # buffer full (already woken) or closed
            self._wake_w.send(b"\0")

    def _drain_wake(self) -> None:
        self._wake.clear()
        try:
            while self._wake_r.recv(64):
                pass
        except OSError:  # BlockingIOError: drained
            pass

    def _close_sockets(self) -> None:
        self._wake_r.close()
        self._wake_w.close()

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        with contextlib.suppress(psycopg.Error):  # already broken
            self._conn.close()
        self._close_sockets()


# ----- MariaDB ---------------------------------------------------------------------------------


class _PollingWatcher(ChangeWatcher):
    """Polls a cheap state query at most every ``poll_interval_s``; reports what moved."""

    def __init__(self, url: URL, poll_interval_s: float) -> None:
        super().__init__(url, poll_interval_s)
        self._state: dict[str, object] = {}
        self._last_poll = 0.0

    @abstractmethod
    def _poll(self) -> dict[str, object]:
        """The current state, one value per topic."""

    def _baseline(self) -> None:
        self._state = self._poll()
        self._last_poll = time.monotonic()

    def wait(self, timeout_s: float) -> set[str]:
        self._check_open()
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            now = time.monotonic()
            if now >= self._last_poll + self.poll_interval_s:
                state = self._poll()
                self._last_poll = now = time.monotonic()
                changed = {
                    topic
                    for topic in state.keys() | self._state.keys()
                    if state.get(topic) != self._state.get(topic)
                }
                self._state = state
                if changed:
                    return self._expand(changed)
            if now >= deadline:
                return set()
            if self._sleep(min(self._last_poll + self.poll_interval_s, deadline) - now):
                return set()

    def _expand(self, changed: set[str]) -> set[str]:
        return changed & TOPICS


class MariaDbChangeWatcher(_PollingWatcher):
    """Polls ``change_counters`` (bumped per connection shard by migration 0005's triggers)."""

    def __init__(self, url: URL, *, poll_interval_s: float = DEFAULT_POLL_INTERVAL_S) -> None:
        super().__init__(url, poll_interval_s)
        self._engine: Engine = create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",  # each poll sees the latest commits
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "charset": "utf8mb4"},
        )
        self._conn: Connection | None = None
        try:
            self._conn = self._engine.connect()
            self._baseline()
        except DBAPIError as exc:
            self.close()
            raise self._lost(exc) from exc

    def _poll(self) -> dict[str, object]:
        assert self._conn is not None
        try:
            rows = self._conn.execute(
                text("SELECT topic, SUM(value) FROM change_counters GROUP BY topic")
            ).all()
        except DBAPIError as exc:
            raise self._lost(exc) from exc
        return {str(topic): int(value) for topic, value in rows}

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        if self._conn is not None:
            with contextlib.suppress(DBAPIError):
                self._conn.close()
        self._engine.dispose()


# ----- SQLite ----------------------------------------------------------------------------------


class SqliteChangeWatcher(_PollingWatcher):
    """Polls ``PRAGMA data_version`` on its own connection: any other commit reports all topics.

    An in-memory database cannot be shared with another connection: its watcher never reports.
    """

    def __init__(self, url: URL, *, poll_interval_s: float = DEFAULT_POLL_INTERVAL_S) -> None:
        super().__init__(url, poll_interval_s)
        path = url.database or ""
        self._conn: sqlite3.Connection | None = None
        if path and path != ":memory:":
            try:
                # mode=rw: never create an empty file where the database should be.
                self._conn = sqlite3.connect(
                    f"file:{path}?mode=rw",
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=5,
                )
                self._baseline()
            except sqlite3.Error as exc:
                self.close()
                raise self._lost(exc) from exc

    def _poll(self) -> dict[str, object]:
        if self._conn is None:
            return {}
        try:
            row = self._conn.execute("PRAGMA data_version").fetchone()
        except sqlite3.Error as exc:
            raise self._lost(exc) from exc
        return {"*": row[0] if row else None}

    def _expand(self, changed: set[str]) -> set[str]:
        return set(TOPICS)

    def close(self) -> None:
        if self._closed:
            return
        super().close()
        if self._conn is not None:
            self._conn.close()
