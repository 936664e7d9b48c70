"""A private, throwaway MariaDB server listening on a test address (for clients in a network
namespace: tests/helpers/netns.py), with one account, ``pmdesk``, that may do anything from
anywhere: it holds nothing but what one test makes, and is reachable only from this machine's
test namespace."""

from __future__ import annotations

import contextlib
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy.engine import URL

from tests.helpers.databases import skip_or_fail


def _free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_private_mariadb(listen: str) -> Iterator[URL]:
    """A MariaDB on ``listen``; yields an admin URL."""
    install, server = shutil.which("mariadb-install-db"), shutil.which("mariadbd")
    if server is None:
        server = "/usr/sbin/mariadbd" if Path("/usr/sbin/mariadbd").exists() else None
    if install is None or server is None:
        skip_or_fail("MariaDB's server is not installed: cannot start a private instance")
    assert install is not None and server is not None
    try:
        owner = pwd.getpwnam("mysql")
    except KeyError:
        skip_or_fail("there is no 'mysql' user to run a private MariaDB")
    # Not under pytest's tmp_path: its parents are private to root, and mysql must enter.
    folder = Path(tempfile.mkdtemp(prefix="pmdesk-mariadb-"))
    shutil.chown(folder, owner.pw_uid, owner.pw_gid)
    port = _free_port(listen)
    process: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            [install, "--no-defaults", f"--datadir={folder / 'data'}", "--user=mysql",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        process = subprocess.Popen(
            [server, "--no-defaults", f"--datadir={folder / 'data'}", "--user=mysql",
             f"--socket={folder / 'socket'}", f"--port={port}", f"--bind-address={listen}",
             f"--log-error={folder / 'error.log'}",
             "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin",
             "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection((listen, port), 1):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                log = (folder / "error.log").read_text(errors="replace")[-2000:]
                skip_or_fail(f"the private MariaDB did not start: {log}")
            time.sleep(0.1)
        # (Grant checks stay on: with --skip-grant-tables MariaDB does not record the client's
        # address, which is what the test is about.)
        client = shutil.which("mariadb") or shutil.which("mysql") or "mysql"
        subprocess.run(
            [client, "--no-defaults", f"--socket={folder / 'socket'}", "-uroot", "-e",
             "CREATE USER 'pmdesk'@'%'; GRANT ALL ON *.* TO 'pmdesk'@'%' WITH GRANT OPTION"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        yield URL.create(
            "mysql+pymysql", username="pmdesk", host=listen, port=port, database="mysql"
        )
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(folder, ignore_errors=True)
