"""``kill -9`` in the middle of work: a process saving people as fast as it can, and a process
running the expiry sweep, are killed without warning (SIGKILL: no clean-up, no rollback by the
process itself).

Afterwards: the SQLite file passes ``PRAGMA integrity_check`` and ``foreign_key_check``; every
save the process reported as committed (it prints the id after the commit) is there with its
audit row; nothing is there without its audit row; and the sweep's chunks are all-or-nothing:
every trusted IP is either still there or gone with exactly one audit row, and the next sweep
finishes the job.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from pmdesk.core.audit import Event
from pmdesk.core.clock import DatabaseClock
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database
from pmdesk.core.models import AuditEvent, Person, TrustedIp
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.secrets import MemoryStore
from tests.helpers.cli import database_arg
from tests.helpers.hardened import SWEPT_BY_RELAY
from tests.reliability.helpers import REPO

_SAVER = textwrap.dedent(
    """
    import sys
    from dataclasses import replace
    from pathlib import Path
    from pmdesk.core.context import Actor, CoreContext
    from pmdesk.core.db import Database
    from pmdesk.core.personnel import PersonForm, PersonnelService
    from pmdesk.secrets import MemoryStore

    db = Database(sys.argv[1])
    ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=Path("outbox"))
    people, actor = PersonnelService(ctx), Actor.command_line()
    n = 0
    while True:
        n += 1
        record = people.create(actor, PersonForm(last_name=f"Saved {n}", number=str(n)))
        print(f"created {record.id}", flush=True)
        record = people.update(actor, record.id, record.version, replace(record.form, city="X"))
        print(f"updated {record.id} {record.version}", flush=True)
    """
)

_SWEEPER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from pmdesk.core.context import Actor, CoreContext
    from pmdesk.core.db import Database
    from pmdesk.core.trusted_ips import TrustedIpService
    from pmdesk.secrets import MemoryStore

    db = Database(sys.argv[1])
    ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=Path("outbox"))
    print("sweeping", flush=True)
    TrustedIpService(ctx).expire(Actor.system("expiry sweep"), chunk_size=int(sys.argv[2]))
    print("done", flush=True)
    """
)


def start(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill(process: subprocess.Popen[str]) -> tuple[str, str]:
    os.kill(process.pid, signal.SIGKILL)
    out, err = process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL, err
    return out, err


def check_sqlite_file(db: Database) -> None:
    if not db.is_sqlite:
        return
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA integrity_check").scalars().all() == ["ok"]
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []


def saves_until_killed(url: str, after: float) -> tuple[set[int], dict[int, int]]:
    """Run the saver for ``after`` seconds of real work, kill it; what it reported committed."""
    saver = start(_SAVER, url)
    assert saver.stdout is not None
    first = saver.stdout.readline()
    assert first.startswith("created"), saver.communicate()[1][-2000:]
    time.sleep(after)  # real time: the other process is doing real work
    rest, _ = kill(saver)
    lines = [first.strip(), *rest.splitlines()]
    # A line cut short by the kill (no newline yet) was not fully reported: drop it.
    if rest and not rest.endswith("\n"):
        lines.pop()
    created = {int(m.group(1)) for line in lines if (m := re.match(r"created (\d+)$", line))}
    updated = {
        int(m.group(1)): int(m.group(2))
        for line in lines
        if (m := re.match(r"updated (\d+) (\d+)$", line))
    }
    return created, updated


@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_every_reported_save_survives_the_kill(db: Database, owner_db: Database) -> None:
    # The saver is the command line without a sign-in: it holds the database's own credentials
    # (on a hardened database, the owner's), and so does the check afterwards.
    url = database_arg(owner_db)
    created: set[int] = set()
    updated: dict[int, int] = {}
    for after in (0.4, 0.7, 1.0):
        more_created, more_updated = saves_until_killed(url, after)
        assert len(more_created) > 3, "the saver really was saving"
        created |= more_created
        updated |= more_updated
        check_sqlite_file(db)

    with owner_db.session() as s:
        stored = dict(s.execute(select(Person.id, Person.version)).all())
        audited = list(
            s.execute(
                select(AuditEvent.subject).where(AuditEvent.event == Event.PERSON_CREATED.value)
            ).scalars()
        )
        updates = s.execute(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == Event.PERSON_UPDATED.value)
        ).scalar_one()
    assert created <= set(stored), "a save reported as committed is missing"
    assert all(stored[pid] >= version for pid, version in updated.items()), "an update lost"
    assert len(audited) == len(stored), "every stored person has its audit row, and no more"
    assert updates == sum(1 for version in stored.values() if version == 2)
    # At most the one save in flight at each kill is there without having been reported.
    assert len(set(stored) - created) <= 3


# ----- the sweep ------------------------------------------------------------------------------

EXPIRED = 4000
FRESH = 500


def seed_trusted_ips(db: Database) -> None:
    with db.session() as s:
        now = DatabaseClock().now(s)
        s.execute(
            insert(Person),
            [{"last_name": f"Owner {n}", "created_at": now, "updated_at": now} for n in range(20)],
        )
        owners = list(s.execute(select(Person.id)).scalars())
    rows = [
        {
            "person_id": owners[n % len(owners)],
            "address": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
            "created_at": now - timedelta(days=31 if n < EXPIRED else 1, minutes=n),
        }
        for n in range(EXPIRED + FRESH)
    ]
    with db.session() as s:
        s.execute(insert(TrustedIp), rows)


def sweep_state(db: Database) -> tuple[int, int, set[int]]:
    """(expired rows left, fresh rows left, ids audited as expired)."""
    with db.session() as s:
        now = DatabaseClock().now(s)
        cutoff = now - timedelta(days=30)
        left = s.execute(
            select(func.count()).select_from(TrustedIp).where(TrustedIp.created_at <= cutoff)
        ).scalar_one()
        fresh = s.execute(
            select(func.count()).select_from(TrustedIp).where(TrustedIp.created_at > cutoff)
        ).scalar_one()
        details = s.execute(
            select(AuditEvent.detail).where(AuditEvent.event == Event.IP_EXPIRED.value)
        ).scalars()
        audited = [int(m.group(1)) for d in details if (m := re.search(r"\(#(\d+)\)$", d))]
    assert len(audited) == len(set(audited)), "an address audited twice"
    return int(left), int(fresh), set(audited)


@SWEPT_BY_RELAY
@pytest.mark.slow
@pytest.mark.parametrize("db", ["sqlite", "postgresql"], indirect=True)
def test_kill_during_the_expiry_sweep(db: Database) -> None:
    seed_trusted_ips(db)
    sweeper = start(_SWEEPER, database_arg(db), "50")
    assert sweeper.stdout is not None
    assert sweeper.stdout.readline().strip() == "sweeping"
    deadline = time.monotonic() + 60
    while sweep_state(db)[0] > EXPIRED * 0.8 and time.monotonic() < deadline:
        time.sleep(0.005)
    kill(sweeper)
    check_sqlite_file(db)

    left, fresh, audited = sweep_state(db)
    assert 0 < left < EXPIRED, "killed in the middle of the sweep"
    assert fresh == FRESH
    # All-or-nothing per chunk: what is gone is audited, what is audited is gone.
    assert left + len(audited) == EXPIRED
    with db.session() as s:
        still_there = set(s.execute(select(TrustedIp.id)).scalars())
    assert not audited & still_there

    # The next sweep (another workstation, or the next start) finishes the job exactly once.
    ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=REPO / "unused")
    removed = TrustedIpService(ctx).expire(chunk_size=500)
    assert removed == left
    left, fresh, audited_after = sweep_state(db)
    assert (left, fresh, len(audited_after)) == (0, FRESH, EXPIRED)
    assert audited <= audited_after
