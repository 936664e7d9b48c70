"""The database server restarts while the background services run: they say so, reconnect, and
the next sweep works. Uses a PRIVATE PostgreSQL instance (never the shared server)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot
from sqlalchemy import select
from sqlalchemy.engine import URL

from pmdesk.core import migrate
from pmdesk.core.changes import TRUSTED_IPS
from pmdesk.core.clock import DatabaseClock
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.models import TrustedIp
from pmdesk.secrets import MemoryStore
from pmdesk.ui.background import BackgroundServices, Backoff
from tests.helpers.databases import skip_or_fail
from tests.helpers.staff import add_person

LOST = "Database connection lost — reconnecting in"
RESTORED = "Database connection restored"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivatePostgres:
    """initdb + pg_ctl in a temporary folder, on a free port; as 'postgres' when we are root."""

    def __init__(self, bindir: Path, folder: Path) -> None:
        self.bindir = bindir
        self.folder = folder
        self.data = folder / "data"
        self.log = folder / "server.log"
        self.port = _free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                skip_or_fail("running as root without runuser: cannot start a private PostgreSQL")
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                skip_or_fail("running as root and there is no 'postgres' user for initdb")
            os.chown(folder, user.pw_uid, user.pw_gid)
            self._as = [str(runuser), "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 60) -> None:
        subprocess.run(
            [*self._as, *args],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "--auth=trust",
            "--username=postgres",
            "--encoding=UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    @property
    def url(self) -> URL:
        return URL.create(
            "postgresql+psycopg",
            username="postgres",
            host="127.0.0.1",
            port=self.port,
            database="postgres",
        )


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = shutil.which("initdb")
    if found:
        bindir = Path(found[-1]).parent
    elif initdb:
        bindir = Path(initdb).parent
    else:
        skip_or_fail("PostgreSQL's initdb is not installed: cannot start a private instance")
    # Not under pytest's tmp_path: its parents are private to root, and postgres must enter.
    folder = Path(tempfile.mkdtemp(prefix="pmdesk-pg-"))
    server = PrivatePostgres(bindir, folder)
    running = False
    try:
        server.init()
        server.start()
        running = True
        yield server
    except subprocess.CalledProcessError as exc:
        log = server.log.read_text(errors="replace") if server.log.exists() else ""
        pytest.fail(f"private PostgreSQL failed: {exc.stdout!r} {log[-2000:]}")
    finally:
        if running:
            with contextlib.suppress(subprocess.CalledProcessError):  # the test stopped it
                server.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


def add_expired_ip(db: Database, person_id: int, address: str) -> None:
    with db.session() as s:
        now = DatabaseClock().now(s)
        s.add(TrustedIp(person_id=person_id, address=address, created_at=now - timedelta(days=31)))


def addresses(db: Database) -> list[str]:
    with db.session() as s:
        return sorted(s.execute(select(TrustedIp.address)).scalars())


@pytest.mark.slow
def test_both_services_survive_a_database_restart(
    private_postgres: PrivatePostgres, qtbot: QtBot, tmp_path: Path
) -> None:
    db = Database(private_postgres.url)
    services: BackgroundServices | None = None
    try:
        migrate.upgrade(db)
        person = add_person(db, "restart")
        add_expired_ip(db, person, "192.0.2.1")
        ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path / "outbox")
        services = BackgroundServices(
            ctx,
            sweep_interval_s=0.5,
            backoff=Backoff(0.2, 1.0),
            poll_interval_s=0.2,
            min_gap_s=0.05,
        )
        seen: list[str] = []
        services.status.connect(seen.append)
        swept: list[int] = []
        services.swept.connect(swept.append)
        topics: list[frozenset[str]] = []
        services.changed.connect(topics.append)

        services.start()
        qtbot.waitUntil(lambda: 1 in swept, timeout=20_000)
        assert addresses(db) == []
        assert services.listener is not None
        assert services.listener.connected.wait(10)

        private_postgres.stop("fast")
        # The listener notices at once; the sweep at its next run (every 0.5 s).
        qtbot.waitUntil(lambda: sum(m.startswith(LOST) for m in seen) >= 3, timeout=20_000)
        assert services.running, "a lost database never ends the threads"
        assert not services.listener.connected.is_set()
        private_postgres.start()

        qtbot.waitUntil(lambda: seen.count(RESTORED) >= 2, timeout=30_000)  # sweep and listener
        assert services.listener.connected.wait(10)
        swept.clear()
        topics.clear()
        add_expired_ip(db, person, "192.0.2.2")  # db's own pool reconnects by itself
        qtbot.waitUntil(lambda: 1 in swept, timeout=20_000)
        assert addresses(db) == [], "a sweep after the restart works"
        qtbot.waitUntil(lambda: any(TRUSTED_IPS in t for t in topics), timeout=20_000)
    finally:
        if services is not None:
            assert services.stop()
            assert not services.running
        db.dispose()
