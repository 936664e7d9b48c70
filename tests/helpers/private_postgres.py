"""A PRIVATE PostgreSQL instance (initdb + pg_ctl on a free port), for tests that stop and start
the server or need it on another address: never the shared one other test runs use.

``private_postgres`` listens on 127.0.0.1 only. ``running_private_postgres(listen=..., trust=...)``
also listens on other addresses of this host (e.g. the host end of a test veth pair, see
tests/helpers/netns.py) and lets the given networks in without a password (pg_hba ``trust``)."""

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

    def __init__(
        self,
        bindir: Path,
        folder: Path,
        *,
        listen: tuple[str, ...] = (),
        trust: tuple[str, ...] = (),
    ) -> None:
        self.bindir = bindir
        self.folder = folder
        self.listen = ("127.0.0.1", *listen)
        self.trust = trust
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
        if self.trust:
            # initdb --auth=trust lets in local sockets and loopback; these networks as well.
            hba = self.data / "pg_hba.conf"
            with hba.open("a", encoding="utf-8") as rules:  # root, or its owner: we may
                rules.writelines(f"host all all {network} trust\n" for network in self.trust)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses={','.join(self.listen)} "
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
        return self.url_at("127.0.0.1")

    def url_at(self, host: str) -> URL:
        """The URL through one of the addresses it listens on."""
        return URL.create(
            "postgresql+psycopg",
            username="postgres",
            host=host,
            port=self.port,
            database="postgres",
        )


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    with running_private_postgres() as server:
        yield server


@contextlib.contextmanager
def running_private_postgres(
    *, listen: tuple[str, ...] = (), trust: tuple[str, ...] = ()
) -> Iterator[PrivatePostgres]:
    """A private instance on 127.0.0.1 and ``listen``; ``trust`` networks need no password."""
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
    server = PrivatePostgres(bindir, folder, listen=listen, trust=trust)
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
