"""Eight workstations sign in with two-step authentication and edit people against one
PostgreSQL (and one MariaDB) database while the expiry sweep runs: no unexpected error, no lost
update, and the audit trail accounts for every login, code, edit and expired address.

The workstations run in a network namespace and reach a private server on the host end of a
veth pair, so that they arrive from a routable address that can be trusted.

15 seconds by default; CI sets ``PMDESK_LOAD_SECONDS=60`` for the full minute.

Runs ``scripts/load_test.py`` (the same script as the full 60-second run in
docs/reliability.md) with cheap hashes, so the database is what is loaded, not the CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.helpers.routable_server import server_seen_from_a_routable_address
from tests.reliability.helpers import REPO

PROCESSES = 8
SECONDS = int(os.environ.get("PMDESK_LOAD_SECONDS", "15"))


@pytest.mark.slow
@pytest.mark.alone  # eight processes and a server: the whole machine
@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_eight_workstations_under_load(engine: str) -> None:
    with server_seen_from_a_routable_address(engine) as (ns, admin_url):
        result = subprocess.run(
            ns.command(
                sys.executable, str(REPO / "scripts" / "load_test.py"),
                "--server", admin_url,
                "--processes", str(PROCESSES), "--seconds", str(SECONDS),
                "--cheap-hashes", "--json",
            ),
            capture_output=True, text=True, timeout=SECONDS + 180, check=False, env=os.environ,
        )  # fmt: skip
    assert result.stdout.strip(), result.stderr[-3000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["problems"] == []
    assert result.returncode == 0
    assert figures["unexpected_errors"] == 0
    assert figures["lost_updates"] == 0
    assert figures["shared_counter"] == figures["increments"]
    assert figures["logins"] >= PROCESSES * 3, "every workstation signed in again and again"
    assert figures["logins_with_code"] > 0 and figures["logins_trusted"] > 0
    assert figures["audited"]["logins"] == figures["logins"]
    assert figures["audited"]["increments"] == figures["increments"]
    assert figures["swept"] > 0 and figures["expired_left"] == 0
    print(
        f"\n{figures['logins_per_s']} logins/s, {figures['edits_per_s']} edits/s, "
        f"{figures['conflicts_retried']} conflicts retried, {figures['lost_updates']} lost"
    )
