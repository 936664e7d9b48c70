"""Several workstations sweep one database at the same moment: no error, every expired trusted IP
removed and audited exactly once, every valid one kept."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from pmdesk.core.audit import Event
from pmdesk.core.clock import DatabaseClock
from pmdesk.core.db import Database
from pmdesk.core.models import AuditEvent, Person, TrustedIp
from tests.helpers.cli import sign_in_admin
from tests.helpers.hardened import SWEPT_BY_RELAY

EXPIRED = 5_000
FRESH = 1_000
PEOPLE = 50
PROCESSES = 4
TRUST_DAYS = 30  # the seeded security setting
REPO = Path(__file__).resolve().parents[2]

# One workstation's sweep; waits for the start file so that all of them really run together.
_SWEEPER = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path

    from pmdesk.core.context import Actor, CoreContext
    from pmdesk.core.db import Database
    from pmdesk.core.trusted_ips import TrustedIpService
    from pmdesk.secrets import MemoryStore

    url, go, chunk, ready = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    db = Database(url)
    db.check_connection()
    ready.touch()  # imported and connected: only the start is left
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=Path("outbox"))
    removed = TrustedIpService(ctx).expire(Actor.system("expiry sweep"), chunk_size=chunk)
    db.dispose()
    print(json.dumps({"removed": removed}))
    """
)


def seed(db: Database) -> set[int]:
    """PEOPLE people, EXPIRED expired and FRESH valid trusted IPs; returns the expired ids."""
    with db.session() as s:
        now = DatabaseClock().now(s)
        s.execute(
            insert(Person),
            [
                {
                    "last_name": f"Sweeper {n}",
                    "login": f"sweep{n}",
                    "login_key": f"sweep{n}",
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(PEOPLE)
            ],
        )
        people = list(s.execute(select(Person.id).order_by(Person.id)).scalars())
    rows = []
    for n in range(EXPIRED + FRESH):
        expired = n < EXPIRED
        age = (
            timedelta(days=TRUST_DAYS + 1, minutes=n)
            if expired
            else timedelta(days=TRUST_DAYS - 1, minutes=-n)
        )
        rows.append(
            {
                "person_id": people[n % PEOPLE],
                "address": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
                "created_at": now - age,
            }
        )
    with db.session() as s:
        s.execute(insert(TrustedIp), rows)
    with db.session() as s:
        return set(
            s.execute(
                select(TrustedIp.id).where(TrustedIp.created_at <= now - timedelta(days=TRUST_DAYS))
            ).scalars()
        )


def run_together(
    commands: list[list[str]], go: Path, ready: list[Path] | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """Start the commands, then let them go at once: when each has said it is ready (its
    ``ready`` file), else after 0.2 s."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for cmd in commands
    ]
    deadline = time.monotonic() + 60
    while ready and not all(p.exists() for p in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    go.touch()
    results = []
    for cmd, proc in zip(commands, procs, strict=True):
        out, err = proc.communicate(timeout=240)
        results.append(subprocess.CompletedProcess(cmd, proc.returncode, out, err))
    return results


def check_result(db: Database, expired_ids: set[int]) -> None:
    with db.session() as s:
        left = s.execute(select(func.count()).select_from(TrustedIp)).scalar_one()
        details = list(
            s.execute(
                select(AuditEvent.detail).where(AuditEvent.event == Event.IP_EXPIRED.value)
            ).scalars()
        )
    assert left == FRESH, "every valid address is kept, every expired one is gone"
    audited = [int(m.group(1)) for d in details if (m := re.search(r"\(#(\d+)\)$", d))]
    assert len(details) == EXPIRED, "one audit row per removed address"
    assert len(audited) == EXPIRED
    assert set(audited) == expired_ids, "each expired address audited exactly once"


@SWEPT_BY_RELAY
@pytest.mark.slow
@pytest.mark.parametrize("db", ["postgresql", "mariadb", "sqlite"], indirect=True)
def test_four_processes_sweeping_at_once(db: Database, tmp_path: Path) -> None:
    expired_ids = seed(db)
    assert len(expired_ids) == EXPIRED
    url = db.url.render_as_string(hide_password=False)
    go = tmp_path / "go"
    # Each starts once all are imported and connected: a sweep is over in a few hundred
    # milliseconds, less than a process takes to start on a busy machine.
    ready = [tmp_path / f"ready{n}" for n in range(PROCESSES)]
    commands = [[sys.executable, "-c", _SWEEPER, url, str(go), "200", str(r)] for r in ready]
    results = run_together(commands, go, ready)
    for r in results:
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr, r.stderr
    removed = [json.loads(r.stdout.strip().splitlines()[-1])["removed"] for r in results]
    assert sum(removed) == EXPIRED, f"each row counted by exactly one sweeper: {removed}"
    if not db.is_sqlite:  # SQLite's BEGIN IMMEDIATE lets one process win most chunks
        assert sum(1 for n in removed if n) >= 2, f"the sweeps really overlapped: {removed}"
    check_result(db, expired_ids)


@SWEPT_BY_RELAY
@pytest.mark.slow
@pytest.mark.parametrize("db", ["postgresql"], indirect=True)
def test_four_ip_expire_commands_at_once(db: Database, tmp_path: Path) -> None:
    expired_ids = seed(db)
    sign_in_admin(db)  # the helpdesk runs them, signed in on this workstation
    url = db.url.render_as_string(hide_password=False)
    starter = tmp_path / "wait_then_run.py"
    # The CLI itself, started together: wait for the start file, then run ``pmdesk ... ip expire``.
    starter.write_text(
        "import sys, time\nfrom pathlib import Path\n"
        "go = Path(sys.argv[1])\n"
        "while not go.exists():\n    time.sleep(0.005)\n"
        "from pmdesk.cli import main\n"
        "sys.exit(main(sys.argv[2:]))\n"
    )
    go = tmp_path / "go"
    commands = [
        [sys.executable, str(starter), str(go), "--database", url, "ip", "expire"]
        for _ in range(PROCESSES)
    ]
    results = run_together(commands, go)
    for r in results:
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr, r.stderr
    said = [re.search(r"Removed (\d+) expired trusted address", r.stdout) for r in results]
    assert all(said), [r.stdout for r in results]
    assert sum(int(m.group(1)) for m in said if m) == EXPIRED, "the counts add up"
    check_result(db, expired_ids)
