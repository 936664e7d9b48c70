"""The database server restarts while the background services run: they say so, reconnect, and
the next sweep works. Uses a PRIVATE PostgreSQL instance (never the shared server)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from pmdesk.core import migrate
from pmdesk.core.changes import TRUSTED_IPS
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.secrets import MemoryStore
from pmdesk.ui.background import BackgroundServices
from pmdesk.ui.reconnect import Backoff
from pmdesk.ui.tasks import TaskManager
from tests.helpers.private_postgres import PrivatePostgres
from tests.helpers.staff import add_person
from tests.helpers.trusted_ips import trust_addresses, trusted_addresses

LOST = "Database connection lost — reconnecting in"
RESTORED = "Database connection restored"


def add_expired_ip(db: Database, person_id: int, address: str) -> None:
    trust_addresses(db, [(person_id, address, timedelta(days=31))])


addresses = trusted_addresses


@pytest.mark.slow
def test_both_services_survive_a_database_restart(
    private_postgres: PrivatePostgres, qtbot: QtBot, tasks: TaskManager, tmp_path: Path
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
            tasks,
            sweep_interval_s=0.5,
            backoff=Backoff(0.2, 1.0),
            poll_interval_s=0.2,
            min_gap_s=0.05,
        )
        seen: list[str] = []
        services.status.connect(lambda text, _ms: seen.append(text))
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
