"""A PRIVATE PostgreSQL instance (initdb + pg_ctl on a free port), for tests that stop and start
the server: never the shared one other test runs use."""

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
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from tests.helpers.databases import skip_or_fail


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
