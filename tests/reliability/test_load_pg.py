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

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.helpers.netns import Namespace, network_namespace
from tests.helpers.private_mariadb import running_private_mariadb
from tests.helpers.private_postgres import running_private_postgres
from tests.reliability.helpers import REPO

PROCESSES = 8
SECONDS = int(os.environ.get("PMDESK_LOAD_SECONDS", "15"))


@contextlib.contextmanager
def server_seen_from_a_routable_address(engine: str) -> Iterator[tuple[Namespace, str]]:
    """A throwaway server on the host end of a veth pair, and the namespace its clients run in:
    the server sees them at a routable address, so "Trust this IP" really trusts (loopback is
    never trusted on a shared database)."""
    with network_namespace() as ns:
        if engine == "postgresql":
            with running_private_postgres(listen=(ns.host_address,), trust=(ns.network,)) as pg:
                yield ns, pg.url_at(ns.host_address).render_as_string(hide_password=False)
        else:
            with running_private_mariadb(ns.host_address) as admin:
                yield ns, admin.render_as_string(hide_password=False)


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
