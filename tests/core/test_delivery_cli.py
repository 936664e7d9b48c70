"""``pmdesk mail configure | show | test``, run as a deployment script would: the real command,
the real keyring, real mail servers and the local HTTPS SMS gateway.

Each test signs in as an administrator first (a command-line session in the real keyring).
The command trusts the test CA the way an administrator would trust a private one:
``SSL_CERT_FILE`` (read by ``ssl.create_default_context()``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from sqlalchemy import select

from pmdesk.core.audit import Event
from pmdesk.core.db import Database
from pmdesk.core.models import AuditEvent, SecuritySettings
from pmdesk.secrets import KeyringStore, sms_key, smtp_key
from tests.helpers.cli import database_arg, real_keyring, run_pmdesk, sign_in_admin
from tests.helpers.smtp import SENDER, SmsGateway, SmtpServer


@pytest.fixture
def keyring_store() -> Iterator[KeyringStore]:
    """The keyring the command uses (a throwaway one under scripts/with-test-env)."""
    store = real_keyring()
    used: list[str] = []
    original_set = store.set

    def remember(key: str, value: str) -> None:
        used.append(key)
        original_set(key, value)

    store.set = remember  # type: ignore[method-assign]
    yield store
    for key in used:
        store.delete(key)


@pytest.fixture
def ca_file(test_ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "test-ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return path


def pmdesk(db: Database, *args: str, stdin: str = "", ca: Path | None = None) -> tuple[int, str]:
    env = {"SSL_CERT_FILE": str(ca)} if ca else {}
    result = run_pmdesk("--database", database_arg(db), "mail", *args, stdin=stdin, env=env)
    return result.returncode, result.stdout + result.stderr


def settings_row(db: Database) -> SecuritySettings:
    with db.session() as s:
        row = s.execute(select(SecuritySettings)).scalar_one()
        s.expunge(row)
        return row


def audited_tests(db: Database) -> list[AuditEvent]:
    with db.session() as s:
        rows = s.execute(
            select(AuditEvent).where(AuditEvent.event == Event.MAIL_TEST_SENT.value)
        ).scalars()
        return list(rows)


def test_smtp_with_a_keyring_password_end_to_end(
    sqlite_db: Database,
    smtp_auth_server: SmtpServer,
    keyring_store: KeyringStore,
    ca_file: Path,
    isolated_paths: Path,
) -> None:
    actor = sign_in_admin(sqlite_db)
    server = smtp_auth_server
    key = smtp_key(server.host, server.username)
    keyring_store.set(key, "placeholder")  # registers the key for clean-up
    rc, out = pmdesk(
        sqlite_db,
        "configure", "--method", "smtp", "--host", server.host, "--port", str(server.port),
        "--security", "starttls", "--from", SENDER, "--username", server.username,
        "--password-stdin",
        stdin=server.password + "\n",
    )  # fmt: skip
    assert rc == 0, out
    assert "The password is stored in this computer's keyring." in out
    assert f"Security codes now go by: E-mail via 127.0.0.1:{server.port} (STARTTLS)" in out
    assert keyring_store.get(key) == server.password

    row = settings_row(sqlite_db)
    assert (row.delivery_method, row.smtp_host, row.smtp_port) == ("smtp", "127.0.0.1", server.port)
    assert (row.smtp_security, row.smtp_username, row.smtp_from) == ("starttls", "mailer", SENDER)
    stored = " ".join(str(v) for v in vars(row).values())
    assert server.password not in stored
    for path in isolated_paths.rglob("*"):
        if path.is_file() and path.suffix != ".sqlite3":
            assert server.password not in path.read_text(errors="replace"), path

    rc, out = pmdesk(sqlite_db, "show")
    assert rc == 0, out
    assert "Encrypted:  yes" in out
    assert "Login:      mailer (password stored in this computer's keyring)" in out

    # The system's trust store does not know the test CA: refused, one clear line.
    rc, out = pmdesk(sqlite_db, "test", "anna@workshop.example")
    assert rc == 1
    assert out.startswith("pmdesk: The certificate of the mail server 127.0.0.1 is not trusted")
    assert out.count("\n") == 1
    assert server.received == []
    assert audited_tests(sqlite_db) == []

    rc, out = pmdesk(sqlite_db, "test", "anna@workshop.example", ca=ca_file)
    assert rc == 0, out
    assert "Test message sent to anna@workshop.example by: E-mail via 127.0.0.1:" in out
    [mail] = server.received
    assert mail.rcpt_tos == ["anna@workshop.example"]
    assert "THIS IS A TEST" in mail.text
    assert mail.code not in out
    [audit] = audited_tests(sqlite_db)
    assert audit.subject == "anna@workshop.example"
    assert audit.actor == actor

    # Configuring again without a terminal keeps the stored password.
    rc, out = pmdesk(
        sqlite_db,
        "configure", "--method", "smtp", "--host", server.host, "--port", str(server.port),
        "--from", SENDER, "--username", server.username,
    )  # fmt: skip
    assert rc == 0, out
    assert "Using the password already stored in this computer's keyring." in out
    assert keyring_store.get(key) == server.password


def test_outbox_end_to_end(sqlite_db: Database, tmp_path: Path) -> None:
    actor = sign_in_admin(sqlite_db)
    folder = tmp_path / "codes"
    rc, out = pmdesk(sqlite_db, "configure", "--method", "outbox", "--folder", str(folder))
    assert rc == 0, out
    assert f"Outbox folder (for trying pmdesk out; nothing is sent): {folder}" in out
    assert settings_row(sqlite_db).outbox_folder == str(folder)

    rc, out = pmdesk(sqlite_db, "test", "helpdesk@workshop.example")
    assert rc == 0, out
    [eml] = folder.glob("*.eml")
    assert f"Written to {eml}" in out
    assert "THIS IS A TEST" in eml.read_text()
    [audit] = audited_tests(sqlite_db)
    assert audit.actor == actor

    rc, out = pmdesk(sqlite_db, "show")
    assert "Method:     outbox" in out
    assert "Encrypted:  not applicable (nothing leaves this computer)" in out


def test_sms_end_to_end(
    sqlite_db: Database, sms_gateway: SmsGateway, keyring_store: KeyringStore, ca_file: Path
) -> None:
    sign_in_admin(sqlite_db)
    keyring_store.set(sms_key(sms_gateway.url), "placeholder")  # registers it for clean-up
    rc, out = pmdesk(
        sqlite_db,
        "configure", "--method", "sms", "--url", sms_gateway.url, "--token-stdin",
        stdin=sms_gateway.token + "\n",
    )  # fmt: skip
    assert rc == 0, out
    assert "The token is stored in this computer's keyring." in out
    assert settings_row(sqlite_db).sms_url == sms_gateway.url

    rc, out = pmdesk(sqlite_db, "test", "0470 12 34 56", ca=ca_file)
    assert rc == 0, out
    assert "Test message sent to +32470123456 by: Text message via the SMS gateway" in out
    [request] = sms_gateway.received
    assert request.authorization == f"Bearer {sms_gateway.token}"
    assert request.body["to"] == "+32470123456"
    assert request.body["message"].startswith("TEST - pmdesk security code: ")


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (
            ["--method", "smtp", "--host", "smtp.example.com", "--security", "none",
             "--from", SENDER],
            1,
            "pmdesk: Unencrypted SMTP is allowed only to a mail server on this computer",
        ),
        (["--method", "outbox", "--host", "smtp.example.com"], 2, "--host is for --method smtp"),
        (["--method", "smtp", "--host", "smtp.example.com"], 2, "--from is required"),
        (["--method", "sms", "--url", "http://sms.example.com/send"], 1, "over https://"),
        (["--method", "sms", "--url", "https://sms.example.com", "--password-stdin"], 2,
         "--password-stdin is for --method smtp"),
    ],
)  # fmt: skip
def test_configure_refusals_change_nothing(
    sqlite_db: Database, args: list[str], code: int, expected: str
) -> None:
    sign_in_admin(sqlite_db)
    rc, out = pmdesk(sqlite_db, "configure", *args)
    assert rc == code
    assert out.startswith("pmdesk: ") and expected in out
    assert out.count("\n") == 1
    assert settings_row(sqlite_db).delivery_method == "outbox"


def test_configure_without_a_password_and_no_terminal(
    sqlite_db: Database, keyring_store: KeyringStore
) -> None:
    sign_in_admin(sqlite_db)
    username = f"nobody-{os.getpid()}"
    rc, out = pmdesk(
        sqlite_db,
        "configure", "--method", "smtp", "--host", "smtp.example.com", "--from", SENDER,
        "--username", username,
    )  # fmt: skip
    assert rc == 1
    assert "No password is stored in this computer's keyring yet" in out
    assert "use --password-stdin" in out
    assert keyring_store.get(smtp_key("smtp.example.com", username)) is None
    assert settings_row(sqlite_db).delivery_method == "outbox"


def test_test_with_a_bad_address(sqlite_db: Database) -> None:
    sign_in_admin(sqlite_db)
    rc, out = pmdesk(sqlite_db, "test", "not-an-address")
    assert rc == 1
    assert out == "pmdesk: 'not-an-address' is not a valid e-mail address.\n"
