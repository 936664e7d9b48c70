"""``pmdesk login`` end to end: a real PostgreSQL server, a real SMTP server, the real command.

The code is read from the mail the SMTP server (aiosmtpd on loopback) received, and typed into
the running command, as a person would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.models import AuditEvent, SecuritySettings, TrustedIp
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.secrets import MemoryStore
from tests.helpers.cli import database_arg, run_pmdesk
from tests.helpers.smtp import SmtpServer

PASSWORD = "Cobalt-Harbour-19"
EMAIL = "alice@workshop.example"

pytestmark = pytest.mark.parametrize("db", ["postgresql"], indirect=True)


@pytest.fixture
def alice(db: Database, smtp_plain_server: SmtpServer, tmp_path: Path) -> str:
    """alice, an administrator; 2FA on, codes by SMTP to the loopback test server."""
    ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path / "outbox")
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
    with db.session() as s:
        row = s.execute(select(SecuritySettings).order_by(SecuritySettings.id)).scalars().first()
        assert row is not None
        row.two_factor_enabled = True
        row.delivery_method = "smtp"
        row.smtp_host = smtp_plain_server.host
        row.smtp_port = smtp_plain_server.port
        row.smtp_security = "none"  # allowed to a relay on this machine only
        row.smtp_from = "security@workshop.example"
    return database_arg(db)


def start_login(url: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pmdesk", "--database", url, "login", "alice", *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def wait_until(done: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    """Poll for something an independent process does (no clock to travel: it is real)."""
    deadline = time.monotonic() + 60
    while not done():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"pmdesk login ended before {what}:\n{out}\n{err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def type_line(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()


def test_login_with_a_mailed_code_then_the_trusted_address_needs_none(
    db: Database, alice: str, smtp_plain_server: SmtpServer
) -> None:
    process = start_login(alice, "--password-stdin")
    type_line(process, PASSWORD)
    wait_until(lambda: len(smtp_plain_server.received) == 1, process, "the code mail")
    mail = smtp_plain_server.received[0]
    assert mail.rcpt_tos == [EMAIL]
    code = mail.code

    out, err = process.communicate(f"{code}\ny\n", timeout=60)

    assert process.returncode == 0, err
    assert "A security code was sent to a***@workshop.example" in out
    assert "valid for 10 minutes" in out
    assert "Security code" in out and "Trust this IP? [y/N]" in out
    assert "never at home" in out
    assert out.rstrip().endswith("Signed in as alice")
    assert code not in out and code not in err and PASSWORD not in out + err
    with db.session() as s:
        trusted = s.execute(select(TrustedIp)).scalars().one()
        assert trusted.address == "127.0.0.1"

    second = run_pmdesk("--database", alice, "login", "alice", "--password-stdin", stdin=PASSWORD)

    assert second.returncode == 0, second.stderr
    assert "Signed in as alice (trusted address, no code needed)" in second.stdout
    assert "Security code" not in second.stdout
    assert len(smtp_plain_server.received) == 1  # no second mail
    with db.session() as s:
        events = [e.event for e in s.execute(select(AuditEvent)).scalars()]
    assert events.count("login.succeeded") == 2
    assert {"login.code_required", "code.sent", "ip.trusted"} <= set(events)


def test_a_wrong_code_can_be_retyped_and_new_codes_are_rate_limited(
    db: Database, alice: str, smtp_plain_server: SmtpServer
) -> None:
    process = start_login(alice, "--password-stdin")
    type_line(process, PASSWORD)
    wait_until(lambda: len(smtp_plain_server.received) == 1, process, "the code mail")
    code = smtp_plain_server.received[0].code
    wrong = f"{(int(code) + 1) % 10**6:06d}"

    out, err = process.communicate(f"{wrong}\nn\nr\n{code}\n", timeout=60)

    assert process.returncode == 0, err
    assert "The security code is not correct. 4 attempts left." in err
    assert "A new code can be sent in" in err  # "r" within 30 s of the first mail
    assert "Signed in as alice" in out
    assert len(smtp_plain_server.received) == 1
    with db.session() as s:
        assert s.execute(select(TrustedIp)).scalars().all() == []  # answered n


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


def test_no_code_typed_is_a_clear_failure(alice: str, smtp_plain_server: SmtpServer) -> None:
    result = run_pmdesk(
        "--database", alice, "login", "alice", "--password-stdin", stdin=PASSWORD + "\n"
    )
    assert result.returncode == 1
    assert "No security code entered." in result.stderr
    assert len(smtp_plain_server.received) == 1


def test_without_a_terminal_the_password_must_come_from_stdin(alice: str) -> None:
    result = run_pmdesk("--database", alice, "login", "alice", stdin=PASSWORD + "\n")
    assert result.returncode == 1
    assert "--password-stdin" in result.stderr
