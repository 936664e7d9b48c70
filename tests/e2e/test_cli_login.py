"""``pmdesk login`` end to end: a real PostgreSQL server, the real command, and the code read
from the message it sent and typed into the running command, as a person would.

On a shared database loopback is never trusted (everyone arriving through localhost would share
one address), so the flows that answer "Trust this IP?" run from another address: the command
runs in a network namespace (tests/helpers/netns.py) and reaches a private PostgreSQL on the host
end of a veth pair; its codes go to an outbox folder. The refusals run over loopback against the
shared server, with a real SMTP server (aiosmtpd) receiving the codes.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from pmdesk.core import migrate
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.delivery.message import ALERT_SUBJECT
from pmdesk.core.models import AuditEvent, SecuritySettings, TrustedIp, UserSession
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.secrets import KeyringStore, MemoryStore, SecretStoreError, session_key
from tests.helpers.cli import database_arg, real_keyring, run_pmdesk
from tests.helpers.databases import stage
from tests.helpers.netns import Namespace, network_namespace
from tests.helpers.private_postgres import running_private_postgres
from tests.helpers.smtp import SmtpServer, extract_code

PASSWORD = "Cobalt-Harbour-19"
EMAIL = "alice@workshop.example"

shared_postgresql = pytest.mark.parametrize("db", ["postgresql"], indirect=True)


def add_alice(db: Database, outbox: Path) -> None:
    """alice, an administrator; two-step authentication on."""
    ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=outbox)
    PersonnelService(ctx).create(
        Actor.command_line(),
        PersonForm(
            login="alice",
            first_name="Alice",
            last_name="Martens",
            email=EMAIL,
            group_id=1,
            password=PASSWORD,
            password_confirm=PASSWORD,
        ),
    )
    with stage(db) as s:
        row = s.execute(select(SecuritySettings).order_by(SecuritySettings.id)).scalars().first()
        assert row is not None
        row.two_factor_enabled = True
        row.delivery_method = "outbox"
        row.outbox_folder = str(outbox)


@pytest.fixture
def alice(db: Database, smtp_plain_server: SmtpServer, tmp_path: Path) -> Iterator[str]:
    """alice on the shared server, reached over loopback; codes by SMTP to the loopback test
    server. The database URL."""
    add_alice(db, tmp_path / "outbox")
    with stage(db) as s:
        row = s.execute(select(SecuritySettings).order_by(SecuritySettings.id)).scalars().first()
        assert row is not None
        row.delivery_method = "smtp"
        row.smtp_host = smtp_plain_server.host
        row.smtp_port = smtp_plain_server.port
        row.smtp_security = "none"  # allowed to a relay on this machine only
        row.smtp_from = "security@workshop.example"
    yield database_arg(db)
    with contextlib.suppress(SecretStoreError):  # a sign-in leaves its session in the keyring
        KeyringStore().delete(session_key(db.url.render_as_string(hide_password=True)))


@dataclass(frozen=True)
class Remote:
    """alice on a private PostgreSQL, for a client in ``ns`` that reaches it at ``url``."""

    ns: Namespace
    db: Database  # the test's own connection (loopback)
    url: str  # as the namespace reaches it: the host end of the veth pair
    outbox: Path

    def codes(self) -> list[str]:
        """The codes written to the outbox so far, oldest first."""
        files = sorted(self.outbox.glob("*.eml"), key=lambda f: (f.stat().st_mtime_ns, f.name))
        found = []
        for file in files:
            message = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
            if str(message["Subject"]).startswith(ALERT_SUBJECT):
                continue  # a trust alert, no code
            assert [a.addr_spec for a in message["To"].addresses] == [EMAIL]
            body = message.get_body(preferencelist=("plain",))
            assert body is not None, f"no text part in {file.name}"
            found.append(extract_code(body.get_content()))
        return found

    def pmdesk(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return self.ns.run(
            sys.executable, "-m", "pmdesk", "--database", self.url, *args, stdin=stdin
        )


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Remote]:
    keyring = real_keyring()
    with (
        network_namespace() as ns,
        running_private_postgres(listen=(ns.host_address,), trust=(ns.network,)) as server,
    ):
        url = server.url_at(ns.host_address)
        db = Database(server.url)
        try:
            migrate.upgrade(db)
            outbox = tmp_path / "outbox"
            add_alice(db, outbox)
            yield Remote(ns, db, url.render_as_string(hide_password=False), outbox)
        finally:
            keyring.delete(session_key(url.render_as_string(hide_password=True)))
            db.dispose()


def start_login(url: str, *extra: str, ns: Namespace | None = None) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "pmdesk", "--database", url, "login", "alice", *extra]
    return subprocess.Popen(
        ns.command(*command) if ns else command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def wait_until(done: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    """Poll for something an independent process does (no clock to travel: it is real)."""
    deadline = time.monotonic() + 60
    try:
        while not done():
            if process.poll() is not None:
                out, err = process.communicate()
                pytest.fail(f"pmdesk login ended before {what}:\n{out}\n{err}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            time.sleep(0.05)
    except BaseException:
        if process.poll() is None:
            process.kill()
        process.communicate()
        raise


def type_line(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()


def login_in_the_namespace(remote: Remote, trust_answer: str) -> tuple[str, str, str]:
    """``pmdesk login`` from the namespace: the password, the code the server had sent, then
    ``trust_answer`` to a trust question; returns its output, its errors and the code."""
    process = start_login(remote.url, "--password-stdin", ns=remote.ns)
    type_line(process, PASSWORD)
    wait_until(lambda: len(remote.codes()) == 1, process, "the code message")
    (code,) = remote.codes()
    out, err = process.communicate(f"{code}\n{trust_answer}\n", timeout=60)
    assert process.returncode == 0, err
    return out, err, code


def test_login_with_a_code_then_the_trusted_address_needs_none(remote: Remote) -> None:
    out, err, code = login_in_the_namespace(remote, "y")

    assert "A security code was sent to a***@workshop.example" in out
    assert "valid for 10 minutes" in out
    assert "Security code" in out and "Trust this IP? [y/N]" in out
    assert "never at home" in out
    assert "Signed in as alice\n" in out
    assert "Commands run as alice until " in out
    assert code not in out and code not in err and PASSWORD not in out + err
    with stage(remote.db) as s:
        trusted = s.execute(select(TrustedIp)).scalars().one()
        assert trusted.address == remote.ns.client_address

    second = remote.pmdesk("login", "alice", "--password-stdin", stdin=PASSWORD)

    assert second.returncode == 0, second.stderr
    assert "Signed in as alice (trusted address, no code needed)" in second.stdout
    assert "Security code" not in second.stdout
    assert len(remote.codes()) == 1  # no second code
    with stage(remote.db) as s:
        events = [e.event for e in s.execute(select(AuditEvent)).scalars()]
        (session,) = s.execute(select(UserSession)).scalars()  # the second replaced the first
        assert (session.kind, session.address) == ("cli", remote.ns.client_address)
    assert events.count("login.succeeded") == 2
    assert {"login.code_required", "code.sent", "ip.trusted"} <= set(events)
    whoami = remote.pmdesk("whoami")
    assert whoami.returncode == 0, whoami.stderr
    assert whoami.stdout.startswith("Signed in as alice (Alice Martens) until ")


def test_a_wrong_code_can_be_retyped_and_new_codes_are_rate_limited(remote: Remote) -> None:
    process = start_login(remote.url, "--password-stdin", ns=remote.ns)
    type_line(process, PASSWORD)
    wait_until(lambda: len(remote.codes()) == 1, process, "the code message")
    (code,) = remote.codes()
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    out, err = process.communicate(f"{wrong}\nn\nr\n{code}\n", timeout=60)

    assert process.returncode == 0, err
    assert "The security code is not correct. 4 attempts left." in err
    assert "A new code can be sent in" in err  # "r" within 30 s of the first code
    assert "Signed in as alice" in out
    assert len(remote.codes()) == 1
    with stage(remote.db) as s:
        assert s.execute(select(TrustedIp)).scalars().all() == []  # answered n


@shared_postgresql
def test_loopback_is_never_trusted_on_a_shared_database(
    db: Database, alice: str, smtp_plain_server: SmtpServer
) -> None:
    """Everyone arriving through localhost shares 127.0.0.1: answering y trusts nothing."""
    process = start_login(alice, "--password-stdin")
    type_line(process, PASSWORD)
    wait_until(lambda: len(smtp_plain_server.received) == 1, process, "the code mail")
    code = smtp_plain_server.received[0].code

    out, err = process.communicate(f"{code}\ny\n", timeout=60)

    assert process.returncode == 0, err
    assert "Signed in as alice" in out
    assert "never trusted" in out + err
    with stage(db) as s:
        assert s.execute(select(TrustedIp)).scalars().all() == []
        events = [e.event for e in s.execute(select(AuditEvent)).scalars()]
    assert "ip.trusted" not in events


@shared_postgresql
def test_a_wrong_password_is_refused_with_the_generic_message(alice: str) -> None:
    result = run_pmdesk(
        "--database", alice, "login", "alice", "--password-stdin", stdin="not-the-password\n"
    )
    assert result.returncode == 1
    assert (
        "The username or password is incorrect, or the account is temporarily locked."
        in result.stderr
    )
    assert "Signed in" not in result.stdout


@shared_postgresql
def test_no_code_typed_is_a_clear_failure(alice: str, smtp_plain_server: SmtpServer) -> None:
    result = run_pmdesk(
        "--database", alice, "login", "alice", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert result.returncode == 1
    assert "No security code entered." in result.stderr
    assert len(smtp_plain_server.received) == 1


@shared_postgresql
def test_without_a_terminal_the_password_must_come_from_stdin(alice: str) -> None:
    result = run_pmdesk("--database", alice, "login", "alice", stdin=PASSWORD + "\n")
    assert result.returncode == 1
    assert "--password-stdin" in result.stderr
