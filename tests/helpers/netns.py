"""A network namespace joined to this host by a veth pair, for tests that need a client the
database server does not see on loopback (on a shared database loopback is never trusted).

Only two private test addresses are used, on a /30 of their own: ``HOST_ADDRESS`` on the host
end and ``CLIENT_ADDRESS`` inside the namespace. The namespace has no default route and no other
interface than its own loopback, so nothing run in it can reach anything but the host end.
Needs root (or CAP_NET_ADMIN): without it the fixture skips with the reason, and fails when
``PMDESK_REQUIRE_SERVERS=1``. Runs of the suite on the same machine take turns (a lock file).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.databases import skip_or_fail

HOST_ADDRESS = "10.231.7.1"
CLIENT_ADDRESS = "10.231.7.2"
PREFIX = 30
NETWORK = f"10.231.7.0/{PREFIX}"
_LOCK = Path(tempfile.gettempdir()) / "pmdesk-test-netns.lock"


@dataclass(frozen=True)
class Namespace:
    name: str
    host_address: str = HOST_ADDRESS
    client_address: str = CLIENT_ADDRESS
    network: str = NETWORK

    def command(self, *args: str) -> list[str]:
        """``args`` run inside the namespace (as the same user, with the same environment)."""
        return ["ip", "netns", "exec", self.name, *args]

    def run(
        self, *args: str, stdin: str = "", env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
        )


def _ip(*args: str, inside: str | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "netns", "exec", inside, "ip"] if inside else ["ip"]
    return subprocess.run([*prefix, *args], capture_output=True, text=True, timeout=30, check=False)


def _must(result: subprocess.CompletedProcess[str], what: str) -> None:
    if result.returncode != 0:
        pytest.fail(f"{what} failed: {result.stderr.strip() or result.stdout.strip()}")


def _wait_reachable(ns: Namespace, port: int, timeout: float = 10) -> None:
    """Until the namespace reaches the host end (the veth link takes a moment to come up)."""
    probe = (
        "import socket,sys\n"
        f"s=socket.create_connection(('{ns.host_address}',{port}),timeout=2)\n"
        "s.close()\n"
    )
    deadline = time.monotonic() + timeout
    while True:
        result = ns.run(sys.executable, "-c", probe, timeout=15)
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the namespace cannot reach {ns.host_address}:{port}: {result.stderr}")
        time.sleep(0.2)


@contextlib.contextmanager
def _listening(address: str) -> Iterator[int]:
    with socket.socket() as server:
        server.bind((address, 0))
        server.listen(1)
        yield int(server.getsockname()[1])


@contextlib.contextmanager
def network_namespace() -> Iterator[Namespace]:
    """Create the namespace and the veth pair; always delete both afterwards."""
    if shutil.which("ip") is None:
        skip_or_fail("the ip command (iproute2) is not installed: no network namespace")
    suffix = uuid.uuid4().hex[:6]
    ns = Namespace(name=f"pmdesk-test-{suffix}")
    host_end, client_end = f"pmd{suffix}h", f"pmd{suffix}c"  # at most 15 characters
    _LOCK.touch(exist_ok=True)
    with _LOCK.open("r+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run of the suite uses the same addresses
        added = _ip("netns", "add", ns.name)
        if added.returncode != 0:
            skip_or_fail(f"ip netns add is not permitted here: {added.stderr.strip()}")
        try:
            _must(
                _ip("link", "add", host_end, "type", "veth", "peer", "name", client_end),
                "creating the veth pair",
            )
            _must(_ip("link", "set", client_end, "netns", ns.name), "moving the veth end")
            _must(
                _ip("addr", "add", f"{HOST_ADDRESS}/{PREFIX}", "dev", host_end),
                "addressing the host end",
            )
            _must(_ip("link", "set", host_end, "up"), "bringing the host end up")
            _must(
                _ip("addr", "add", f"{CLIENT_ADDRESS}/{PREFIX}", "dev", client_end, inside=ns.name),
                "addressing the namespace end",
            )
            _must(_ip("link", "set", client_end, "up", inside=ns.name), "bringing it up")
            _must(_ip("link", "set", "lo", "up", inside=ns.name), "bringing up its loopback")
            with _listening(HOST_ADDRESS) as port:
                _wait_reachable(ns, port)
            yield ns
        finally:
            _ip("link", "del", host_end)  # deletes both ends (gone already if the ns went)
            _ip("netns", "del", ns.name)


@pytest.fixture
def netns() -> Iterator[Namespace]:
    """A namespace whose only way out is the veth pair to ``HOST_ADDRESS`` on this host."""
    with network_namespace() as ns:
        yield ns
