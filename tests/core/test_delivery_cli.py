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
from pmdesk.secrets import (
    KeyringStore,
    google_key,
    m365_key,
    sms_key,
    sms_provider_key,
    smtp_key,
)
from tests.helpers.cli import database_arg, real_keyring, run_pmdesk, sign_in_admin
from tests.helpers.providers import (
    CLIENT_ID,
    CLIENT_SECRET,
    MAILBOX,
    SERVICE_ACCOUNT,
    TENANT,
    TWILIO_FROM,
    TWILIO_SID,
    TWILIO_TOKEN,
    KeyPair,
    service_account_json,
)
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


@pytest.mark.takes_turns("keyring smtp:mailer@127.0.0.1")  # as test_attack_secrets
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
    assert out.startswith(
        "pmdesk: Failed at: connecting (connect). The certificate of the mail server 127.0.0.1 "
        "is not trusted"
    )
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
    assert "The gateway token is stored in this computer's keyring." in out
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
            "pmdesk: --security: Mail without encryption is only allowed to a relay on this "
            "machine",
        ),
        (["--method", "outbox", "--host", "smtp.example.com"], 2, "--host is for --method smtp"),
        (["--method", "smtp", "--host", "smtp.example.com"], 2, "--from is required"),
        (["--method", "sms", "--url", "http://sms.example.com/send"], 1,
         "--url: The SMS gateway must use https://"),
        (["--method", "twilio", "--url", "https://sms.example.com"], 2,
         "--url is for --method sms, not --method twilio"),
        (["--method", "outbox", "--secret-stdin"], 2, "it needs no secret"),
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
    assert "use --secret-stdin" in out
    assert keyring_store.get(smtp_key("smtp.example.com", username)) is None
    assert settings_row(sqlite_db).delivery_method == "outbox"


def test_test_with_a_bad_address(sqlite_db: Database) -> None:
    sign_in_admin(sqlite_db)
    rc, out = pmdesk(sqlite_db, "test", "not-an-address")
    assert rc == 1
    assert out == "pmdesk: 'not-an-address' is not a valid e-mail address.\n"


# ----- OAuth e-mail, Graph and the SMS providers (issue 14) ------------------------------------


@pytest.fixture
def forget_keys(keyring_store: KeyringStore) -> Iterator[list[str]]:
    """Keys a test's command stored in the real keyring, removed afterwards."""
    keys: list[str] = []
    yield keys
    for key in keys:
        keyring_store.delete(key)


def test_m365_configure_show_and_a_token_failure_named_by_step(
    sqlite_db: Database, keyring_store: KeyringStore, forget_keys: list[str]
) -> None:
    sign_in_admin(sqlite_db)
    key = m365_key(TENANT, CLIENT_ID, "secret")
    forget_keys.append(key)
    rc, out = pmdesk(
        sqlite_db,
        "configure", "--method", "m365", "--from", MAILBOX, "--tenant-id", TENANT,
        "--client-id", CLIENT_ID, "--secret-stdin",
        stdin=CLIENT_SECRET + "\n",
    )  # fmt: skip
    assert rc == 0, out
    assert "The client secret is stored in this computer's keyring." in out
    assert "Security codes now go by: E-mail via Microsoft 365 (smtp.office365.com:587" in out
    assert keyring_store.get(key) == CLIENT_SECRET
    row = settings_row(sqlite_db)
    assert (row.delivery_method, row.m365_tenant_id, row.m365_client_id) == (
        "m365",
        TENANT,
        CLIENT_ID,
    )
    assert (row.m365_auth, row.smtp_host, row.smtp_from) == ("secret", "", MAILBOX)
    assert CLIENT_SECRET not in " ".join(str(v) for v in vars(row).values())

    rc, out = pmdesk(sqlite_db, "show")
    assert rc == 0, out
    assert f"Tenant:     {TENANT}" in out
    assert "Secret:     Client secret stored in this computer's keyring" in out

    # The secret gone from this computer's keyring: the test fails before any network use,
    # at the settings step, on one line; health remembers it.
    keyring_store.delete(key)
    rc, out = pmdesk(sqlite_db, "test", "anna@workshop.example")
    assert rc == 1
    assert out == (
        "pmdesk: Failed at: settings (settings). No client secret is stored in this computer's "
        "keyring. Enter it in System → Security, or run: pmdesk mail configure --method m365 "
        "...\n"
    )
    rc, out = pmdesk(sqlite_db, "status")
    assert rc == 1
    assert "Configured method: m365" in out
    assert "* m365    FAILED  " in out and " at settings: No client secret" in out
    assert "WARNING: The last security code could not be sent" in out


def test_m365_certificate_from_stdin(
    sqlite_db: Database,
    keyring_store: KeyringStore,
    forget_keys: list[str],
    app_certificate: KeyPair,
) -> None:
    sign_in_admin(sqlite_db)
    key = m365_key(TENANT, CLIENT_ID, "certificate")
    forget_keys.append(key)
    rc, out = pmdesk(
        sqlite_db,
        "configure", "--method", "graph", "--from", MAILBOX, "--tenant-id", TENANT,
        "--client-id", CLIENT_ID, "--certificate-thumbprint", app_certificate.thumbprint.lower(),
        "--secret-stdin",
        stdin=app_certificate.private_pem,
    )  # fmt: skip
    assert rc == 0, out
    assert "The certificate private key (PEM) is stored" in out
    assert f"E-mail via Microsoft Graph (HTTPS, from {MAILBOX})" in out
    assert keyring_store.get(key) == app_certificate.private_pem.strip()
    row = settings_row(sqlite_db)
    assert (row.m365_auth, row.m365_thumbprint) == ("certificate", app_certificate.thumbprint)


def test_google_key_file_on_stdin_names_the_service_account(
    sqlite_db: Database,
    keyring_store: KeyringStore,
    forget_keys: list[str],
    service_account_key: KeyPair,
) -> None:
    sign_in_admin(sqlite_db)
    forget_keys.append(google_key(SERVICE_ACCOUNT))
    key_json = service_account_json(service_account_key)
    rc, out = pmdesk(
        sqlite_db,
        "configure", "--method", "google", "--from", MAILBOX, "--secret-stdin",
        stdin=key_json,
    )  # fmt: skip
    assert rc == 0, out
    assert "Google Workspace (smtp.gmail.com:587" in out
    assert settings_row(sqlite_db).google_client_email == SERVICE_ACCOUNT
    assert keyring_store.get(google_key(SERVICE_ACCOUNT)) == key_json
    assert service_account_key.private_pem.splitlines()[1] not in out


def test_twilio_configure(
    sqlite_db: Database, keyring_store: KeyringStore, forget_keys: list[str]
) -> None:
    sign_in_admin(sqlite_db)
    forget_keys.append(sms_provider_key("twilio", TWILIO_SID))
    rc, out = pmdesk(
        sqlite_db,
        "configure", "--method", "twilio", "--account-sid", TWILIO_SID, "--sender",
        TWILIO_FROM, "--region", "nl", "--secret-stdin",
        stdin=TWILIO_TOKEN + "\n",
    )  # fmt: skip
    assert rc == 0, out
    assert f"Text message via Twilio (HTTPS, from {TWILIO_FROM})" in out
    assert "Check it with: pmdesk mail test PHONE" in out
    row = settings_row(sqlite_db)
    assert (row.sms_account, row.sms_sender, row.phone_region) == (TWILIO_SID, TWILIO_FROM, "NL")
    assert keyring_store.get(sms_provider_key("twilio", TWILIO_SID)) == TWILIO_TOKEN


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--method", "m365", "--from", MAILBOX, "--tenant-id", "my tenant", "--client-id",
          "an app"],
         ["pmdesk: --tenant-id: The directory (tenant) ID is a GUID",
          "pmdesk: --client-id: The application (client) ID is a GUID"]),
        (["--method", "twilio", "--account-sid", "AC1", "--sender", "+999"],
         ["pmdesk: --account-sid / --api-key: The Twilio Account SID is AC followed by 32",
          "pmdesk: --sender: The sender: '+999' is not a valid phone number"]),
    ],
)  # fmt: skip
def test_each_invalid_field_on_its_own_line(
    sqlite_db: Database, args: list[str], expected: list[str]
) -> None:
    sign_in_admin(sqlite_db)
    rc, out = pmdesk(sqlite_db, "configure", *args)
    assert rc == 1
    lines = out.splitlines()
    assert len(lines) == len(expected)
    for line, start in zip(lines, expected, strict=True):
        assert line.startswith(start), line
    assert settings_row(sqlite_db).delivery_method == "outbox"


def test_status_after_a_working_test(sqlite_db: Database) -> None:
    sign_in_admin(sqlite_db)
    rc, out = pmdesk(sqlite_db, "status")
    assert (rc, out) == (0, "Configured method: outbox\nNo security code has been sent yet.\n")
    rc, out = pmdesk(sqlite_db, "test", "helpdesk@workshop.example")
    assert rc == 0, out
    rc, out = pmdesk(sqlite_db, "status")
    assert rc == 0, out
    assert "* outbox  ok      " in out
    assert "WARNING" not in out
