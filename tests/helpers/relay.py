"""The relay of a hardened PostgreSQL database, for tests: its URL, rows queued as the sign-in
functions queue them, and ``pmdesk relay`` run as a real subprocess (or in a thread).

    with running_relay(relay_url(hardened), tmp_path) as relay:
        queue_code(hardened, person_id, "anne@example.com")
        wait_until(lambda: queue_state(hardened, row) == "sent")
        relay.wait_for_log("Sent the code")

The relay process gets its own credentials folder (``CREDENTIALS_DIRECTORY``, as under
systemd), so no test reads or writes a keyring for it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL

from pmdesk.core.db import Database
from pmdesk.core.relay import Relay, RelayTiming
from pmdesk.secrets import SecretStore
from tests.helpers.databases import (
    HardenedDatabase,
    hardened_or_skip,
)
from tests.helpers.pg import sql
from tests.helpers.staff import add_person

QUICK = 10.0  # seconds: how long a test waits for what should take a fraction of that


# Everything a relay test may leave behind, emptied after each test.
_TOUCHED = (
    "code_queue",
    "login_challenges",
    "audit_events",
    "delivery_outcomes",
    "relay_heartbeat",
    "trusted_ips",
    "user_sessions",
    "personnel",
)


#: A throwaway database set up by ``server init`` (the relay's functions included).
hardened_for_relay = hardened_or_skip


@contextmanager
def person_for_relay(
    hardened: HardenedDatabase, login: str = "anne", email: str = "anne@example.com"
) -> Iterator[int]:
    """A person to queue codes for; afterwards the queue, challenges, log, heartbeats, trusted
    addresses, sessions and people are emptied and the settings put back."""
    db = Database(hardened.owner_url)
    try:
        person = add_person(db, login, email=email)
    finally:
        db.dispose()
    try:
        yield person
    finally:
        sql(
            hardened.owner_url,
            "UPDATE pmdesk.security_settings SET trust_days = 30, two_factor_enabled = false, "
            "delivery_method = 'outbox', outbox_folder = '', smtp_username = ''",
        )
        for table in _TOUCHED:
            sql(hardened.owner_url, f"DELETE FROM pmdesk.{table}")


def relay_fixtures() -> tuple[Any, Any]:
    """The fixtures of the relay's test modules: ``hardened, anne = relay_fixtures()``. A
    hardened database per module, and a person per test (everything emptied after it)."""

    @pytest.fixture(scope="module")
    def hardened() -> Iterator[HardenedDatabase]:
        with hardened_for_relay() as made:
            yield made

    @pytest.fixture
    def anne(hardened: HardenedDatabase) -> Iterator[int]:
        with person_for_relay(hardened) as person:
            yield person

    return hardened, anne


def relay_url(hardened: HardenedDatabase) -> URL:
    """The relay role's URL, with the password server init made for it."""
    return hardened.relay_url


def url_text(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def use_smtp(
    hardened: HardenedDatabase,
    host: str,
    port: int,
    *,
    username: str = "",
    security: str = "none",
) -> None:
    """Codes by SMTP to a test server on this machine (plain SMTP only goes to loopback)."""
    sql(
        hardened.owner_url,
        "UPDATE pmdesk.security_settings SET delivery_method = 'smtp', smtp_host = %s, "
        "smtp_port = %s, smtp_security = %s, smtp_username = %s, "
        "smtp_from = 'security@workshop.example'",
        host,
        port,
        security,
        username,
    )


def use_outbox(hardened: HardenedDatabase, folder: Path | None = None) -> None:
    sql(
        hardened.owner_url,
        "UPDATE pmdesk.security_settings SET delivery_method = 'outbox', outbox_folder = %s",
        str(folder or ""),
    )


def new_challenge(hardened: HardenedDatabase, person_id: int, *, minutes: int = 10) -> str:
    """A live login challenge, as sign_in makes it (its code hash is of no use here)."""
    challenge = secrets.token_urlsafe(32)
    sql(
        hardened.owner_url,
        "INSERT INTO pmdesk.login_challenges (id, person_id, code_hash, address, workstation, "
        "created_at, expires_at, last_sent_at, send_count, attempts, voided) "
        "VALUES (%s, %s, 'not-a-hash', '10.0.0.9', 'ws-test', pmdesk.now(), "
        "pmdesk.now() + make_interval(mins => %s), pmdesk.now(), 0, 0, false)",
        challenge,
        person_id,
        minutes,
    )
    return challenge


def queue_code(
    hardened: HardenedDatabase,
    person_id: int,
    destination: str,
    *,
    login: str = "anne",
    method: str = "smtp",
    challenge: str | None = None,
    code: str | None = None,
    notify: bool = True,
) -> tuple[int, str, str]:
    """A queued code, as issue_code queues it: (queue row id, challenge id, code)."""
    challenge = challenge or new_challenge(hardened, person_id)
    code = code or f"{secrets.randbelow(10**6):06d}"
    row = sql(
        hardened.owner_url,
        "INSERT INTO pmdesk.code_queue (challenge_id, person_id, subject, kind, method, "
        "destination, person_name, code, valid_minutes, requested_from, workstation, "
        "created_at) VALUES (%s, %s, %s, 'code', %s, %s, %s, %s, 10, '10.0.0.9', 'ws-test', "
        "pmdesk.now()) RETURNING id",
        challenge,
        person_id,
        login,
        method,
        destination,
        login.title(),
        code,
    )
    if notify:
        sql(hardened.owner_url, "SELECT pg_notify('pmdesk_codes', '')")
    return int(row[0][0]), challenge, code


def queue_row(hardened: HardenedDatabase, row_id: int) -> dict[str, Any]:
    found = sql(
        hardened.owner_url,
        "SELECT state, code, error, claimed_by, attempt, challenge_id FROM pmdesk.code_queue "
        "WHERE id = %s",
        row_id,
    )
    assert found, f"queue row {row_id} is gone"
    names = ("state", "code", "error", "claimed_by", "attempt", "challenge_id")
    return dict(zip(names, found[0], strict=True))


def challenge_row(hardened: HardenedDatabase, challenge: str) -> tuple[Any, int]:
    """(last_sent_at, send_count) of a challenge."""
    found = sql(
        hardened.owner_url,
        "SELECT last_sent_at, send_count FROM pmdesk.login_challenges WHERE id = %s",
        challenge,
    )
    assert found, "the challenge is gone"
    return found[0][0], int(found[0][1])


def audit_rows(hardened: HardenedDatabase, event: str) -> list[tuple[str, str, str, str, str]]:
    """(actor, subject, address, workstation, detail) of each audit row of ``event``."""
    return [
        (str(a), str(s), str(ad), str(w), str(d))
        for a, s, ad, w, d in sql(
            hardened.owner_url,
            "SELECT actor, subject, address, workstation, detail FROM pmdesk.audit_events "
            "WHERE event = %s ORDER BY id",
            event,
        )
    ]


def delivery_health(hardened: HardenedDatabase, method: str) -> tuple[Any, ...] | None:
    """(ok, step, message, failures_in_row, last_ok_at is not NULL) of a method's last outcome."""
    found = sql(
        hardened.owner_url,
        "SELECT ok, step, message, failures_in_row, last_ok_at IS NOT NULL "
        "FROM pmdesk.delivery_outcomes WHERE method = %s",
        method,
    )
    return found[0] if found else None


def wait_until(
    condition: Callable[[], object], timeout: float = QUICK, what: str = "the condition"
) -> None:
    """Poll ``condition`` (every 20 ms) until it is true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g} s")
        time.sleep(0.02)


# ----- the relay as a subprocess -----------------------------------------------------------------


class RelayProcess:
    """``pmdesk relay`` in a subprocess; stderr (its log) goes to ``log_file``."""

    def __init__(
        self,
        url: URL,
        folder: Path,
        *,
        credentials: dict[str, str] | None = None,
        extra: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.log_file = folder / "relay.log"
        self.outbox = folder / "outbox"
        self.credentials = folder / "credentials"
        self.credentials.mkdir(mode=0o700, exist_ok=True)
        for name, value in (credentials or {}).items():
            path = self.credentials / name
            path.write_text(value + "\n", encoding="utf-8")
            path.chmod(0o600)
        environment = {**os.environ, "CREDENTIALS_DIRECTORY": str(self.credentials), **(env or {})}
        environment.pop("INVOCATION_ID", None)
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pmdesk",
                    "relay",
                    "--database",
                    url_text(url),
                    "--outbox-dir",
                    str(self.outbox),
                    *extra,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=environment,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_file.read_text(encoding="utf-8", errors="replace")

    def wait_for_log(self, needle: str, timeout: float = QUICK, *, count: int = 1) -> None:
        def seen() -> bool:
            if self.process.poll() is not None and self.log().count(needle) < count:
                raise AssertionError(
                    f"the relay exited ({self.process.returncode}) without logging "
                    f"{needle!r}:\n{self.log()}"
                )
            return self.log().count(needle) >= count

        try:
            wait_until(seen, timeout, f"the relay logging {needle!r}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- relay log ---\n{self.log()}") from None

    def stop(self, timeout: float = QUICK) -> int:
        """SIGTERM, as systemd stops it; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(QUICK)


@contextmanager
def running_relay(
    url: URL,
    folder: Path,
    *,
    credentials: dict[str, str] | None = None,
    extra: tuple[str, ...] = (),
    ready: bool = True,
) -> Iterator[RelayProcess]:
    """A relay subprocess for the block; ``ready``: wait until it is listening. Killed if the
    block leaves it running and SIGTERM does not end it."""
    relay = RelayProcess(url, folder, credentials=credentials, extra=extra)
    try:
        if ready:
            relay.wait_for_log("waiting for codes")
        yield relay
    finally:
        if relay.process.poll() is None:
            try:
                relay.stop()
            except subprocess.TimeoutExpired:
                relay.kill()


@contextmanager
def relay_in_thread(
    url: URL,
    outbox: Path,
    secrets_store: SecretStore,
    *,
    timing: RelayTiming | None = None,
    **options: Any,
) -> Iterator[Relay]:
    """The relay in a thread of the test process (no subprocess start-up): for suites that
    need codes sent in the background, such as the hardened leg."""
    relay = Relay(url, secrets=secrets_store, outbox_default=outbox, timing=timing, **options)
    result: list[int] = []
    thread = threading.Thread(
        target=lambda: result.append(relay.run()), name="pmdesk-relay", daemon=True
    )
    thread.start()
    try:
        yield relay
    finally:
        relay.stop()
        thread.join(QUICK)
        if thread.is_alive():
            raise AssertionError("the relay thread did not stop")


# ----- an SMTP server that answers the end of a message only when told -------------------------


class GatedSmtpServer:
    """A minimal SMTP server on 127.0.0.1 that takes a whole message and then waits for
    ``release()`` before it answers 250: a send stopped, deterministically, between the claim
    and the finish. ``message_in`` is set once the message's last line arrived."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self.host = "127.0.0.1"
        self.port: int = self._listener.getsockname()[1]
        self.message_in = threading.Event()
        self.messages: list[bytes] = []
        self._gate = threading.Event()
        self._closing = False
        self._threads: list[threading.Thread] = []
        self._connections: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def release(self) -> None:
        self._gate.set()

    def close(self) -> None:
        self._closing = True
        self._gate.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for conn in self._connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()
        for thread in self._threads:
            thread.join(QUICK)

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._connections.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            reader = conn.makefile("rb")
            conn.sendall(b"220 gate.test ESMTP\r\n")
            while not self._closing:
                line = reader.readline()
                if not line:
                    return
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    conn.sendall(b"250 gate.test\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    data = b""
                    while not data.endswith(b"\r\n.\r\n"):
                        chunk = reader.readline()
                        if not chunk:
                            return
                        data += chunk
                    self.messages.append(data)
                    self.message_in.set()
                    self._gate.wait()
                    if self._closing:
                        return
                    conn.sendall(b"250 accepted\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")


@contextmanager
def gated_smtp_server() -> Iterator[GatedSmtpServer]:
    server = GatedSmtpServer()
    try:
        yield server
    finally:
        server.close()


@contextmanager
def relay_mid_send(
    hardened: HardenedDatabase, folder: Path, person_id: int, url: URL | None = None
) -> Iterator[tuple[GatedSmtpServer, RelayProcess, int]]:
    """A relay subprocess stopped between its committed claim and its finish: the gated mail
    server has the whole message of queue row ``row`` and has not answered yet. Yields
    (gate, relay, row)."""
    with gated_smtp_server() as gate:
        use_smtp(hardened, gate.host, gate.port)
        with running_relay(url or relay_url(hardened), folder) as relay:
            row, _, _ = queue_code(hardened, person_id, "anne@example.com")
            if not gate.message_in.wait(QUICK):
                raise AssertionError(f"the message never reached the mail server:\n{relay.log()}")
            yield gate, relay, row
