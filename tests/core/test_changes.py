"""ChangeWatcher: another workstation's change reaches this one (NOTIFY, counters, data_version)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy import delete, text, update
from sqlalchemy.engine import URL

from pmdesk.core.changes import (
    PERSONNEL,
    TOPICS,
    TRUSTED_IPS,
    ChangeWatcher,
    SqliteChangeWatcher,
    open_watcher,
    psycopg_conninfo,
)
from pmdesk.core.db import Database
from pmdesk.core.errors import DatabaseUnavailable
from pmdesk.core.models import Person, TrustedIp
from tests.helpers.databases import stage
from tests.helpers.staff import add_person
from tests.helpers.trusted_ips import trust_addresses

FAST_POLL_S = 0.1


def collect(watcher: ChangeWatcher, wanted: str, within_s: float = 10.0) -> set[str]:
    """Everything reported until ``wanted`` shows up (or the time is up)."""
    seen: set[str] = set()
    deadline = time.monotonic() + within_s
    while wanted not in seen and time.monotonic() < deadline:
        seen |= watcher.wait(0.5)
    return seen


def test_a_row_deleted_elsewhere_is_reported_as_trusted_ips(db: Database) -> None:
    person = add_person(db, "maria")
    ip_id = trust_addresses(db, [(person, "192.0.2.10", timedelta(days=1))])[0]
    with open_watcher(db, poll_interval_s=FAST_POLL_S) as watcher:
        assert watcher.wait(0.3) == set(), "nothing changed yet, nothing is reported"
        with stage(db) as s:  # another connection: the service pool, not the watcher's
            s.execute(delete(TrustedIp).where(TrustedIp.id == ip_id))
        started = time.monotonic()
        seen = collect(watcher, TRUSTED_IPS)
        assert TRUSTED_IPS in seen
        assert time.monotonic() - started < 5, "a remote delete shows within a few seconds"
        if db.backend != "sqlite":
            assert PERSONNEL not in seen, "only the table that changed is named"
        assert watcher.wait(0.3) == set(), "a change is reported once"


def test_a_person_edited_elsewhere_is_reported_as_personnel(db: Database) -> None:
    person = add_person(db, "piet")
    with open_watcher(db, poll_interval_s=FAST_POLL_S) as watcher:
        with stage(db) as s:
            s.execute(update(Person).where(Person.id == person).values(failed_logins=3))
        assert PERSONNEL in collect(watcher, PERSONNEL)


def test_sqlite_reports_every_topic_for_any_commit(sqlite_db: Database) -> None:
    with open_watcher(sqlite_db, poll_interval_s=FAST_POLL_S) as watcher:
        assert isinstance(watcher, SqliteChangeWatcher)
        add_person(sqlite_db, "jan")
        assert collect(watcher, PERSONNEL) == set(TOPICS)


def test_interrupt_ends_a_blocked_wait_at_once(db: Database) -> None:
    with open_watcher(db) as watcher:
        result: list[set[str]] = []
        thread = threading.Thread(target=lambda: result.append(watcher.wait(30.0)))
        started = time.monotonic()
        thread.start()
        time.sleep(0.2)
        watcher.interrupt()
        thread.join(5)
        assert not thread.is_alive()
        assert time.monotonic() - started < 3
        assert result == [set()]
        assert watcher.wait(0.05) == set(), "an interrupt is consumed, not left pending"


@pytest.mark.parametrize("db", ["postgresql", "mariadb"], indirect=True)
def test_a_killed_server_connection_raises_database_unavailable(db: Database) -> None:
    watcher = open_watcher(db, poll_interval_s=FAST_POLL_S)
    try:
        with db.session() as s:
            if db.backend == "postgresql":
                killed = s.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND application_name = :name"
                    ),
                    {"name": "pmdesk (changes)"},
                ).scalar_one()
            else:
                ids = s.execute(
                    text(
                        "SELECT ID FROM information_schema.PROCESSLIST "
                        "WHERE DB = DATABASE() AND ID <> CONNECTION_ID()"
                    )
                ).scalars()
                killed = 0
                for conn_id in ids:
                    s.execute(text(f"KILL {int(conn_id)}"))
                    killed += 1
        assert killed >= 1
        with pytest.raises(DatabaseUnavailable, match="Cannot reach the database"):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                watcher.wait(0.5)
    finally:
        watcher.close()
        watcher.close()  # twice is harmless
    db.engine.dispose()  # the pool may hold killed connections too


def test_a_missing_sqlite_file_is_a_clear_error_and_is_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.sqlite3"
    with pytest.raises(DatabaseUnavailable, match="Cannot reach the database"):
        open_watcher(URL.create("sqlite+pysqlite", database=str(missing)))
    assert not missing.exists()


def test_unreachable_postgresql_is_database_unavailable() -> None:
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable, match="Cannot reach the database"):
        open_watcher("postgresql://nobody:secret-pw@127.0.0.1:9/none")
    assert time.monotonic() - started < 10


def test_psycopg_conninfo_keeps_password_port_and_options() -> None:
    url = URL.create(
        "postgresql+psycopg",
        username="pm desk",
        password="p@ss:w/rd 'x'",
        host="db.example",
        port=6543,
        database="workshop",
        query={"sslmode": "verify-full", "application_name": "custom"},
    )
    info = conninfo_to_dict(psycopg_conninfo(url))
    assert info["user"] == "pm desk"
    assert info["password"] == "p@ss:w/rd 'x'"
    assert info["host"] == "db.example"
    assert info["port"] == "6543"
    assert info["dbname"] == "workshop"
    assert info["sslmode"] == "verify-full"
    assert info["application_name"] == "custom", "an explicit option wins over our default"
    assert info["connect_timeout"] == "5"


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_every_postgresql_connection_notices_a_dead_server_link(db: Database) -> None:
    """The app's own connections (not only the listener's) send TCP keepalives, so a sweep or a
    page waiting on a server that vanished fails within about a minute instead of hanging."""
    raw = db.engine.raw_connection()
    try:
        used = raw.driver_connection.info.get_parameters()  # type: ignore[union-attr]
    finally:
        raw.close()
    assert (used["keepalives"], used["keepalives_idle"]) == ("1", "30")
    assert conninfo_to_dict(psycopg_conninfo(db.url))["keepalives_idle"] == "30"
