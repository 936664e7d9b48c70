"""'Send test code' on a hardened PostgreSQL (docs/server-enforced.md §5.3): the workstation
holds no delivery secret, so ``SecurityService.send_test_code`` queues the message
(``pmdesk.send_test_code()``) and ``pmdesk relay``, a real subprocess, mails it through aiosmtpd:
to the signed-in person's own address, with no code in it, audited by the relay.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from pmdesk.core.auth import LoginService
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database
from pmdesk.core.errors import ValidationError
from pmdesk.core.login_results import SignedIn
from pmdesk.core.security import SecurityService
from pmdesk.core.sessions import COMMAND_LINE
from pmdesk.secrets import KeyringStore, MemoryStore, session_key
from tests.helpers.cli import run_pmdesk
from tests.helpers.databases import HardenedDatabase
from tests.helpers.login import add_user, cheap_passwords
from tests.helpers.pg import sql
from tests.helpers.relay import (
    audit_rows,
    delivery_health,
    relay_fixtures,
    relay_url,
    running_relay,
    url_text,
    use_smtp,
    wait_until,
)
from tests.helpers.smtp import SmtpServer

hardened, anne = relay_fixtures()
PASSWORD = "a long enough secret"


@pytest.fixture
def boss(
    hardened: HardenedDatabase, anne: int, tmp_path: Path
) -> Iterator[tuple[CoreContext, Actor]]:
    """An administrator signed in at a workstation (the workstation role, with a session);
    ``anne``'s fixture empties the tables afterwards."""
    db = Database(hardened.workstation_url)
    ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path / "ws-outbox")
    try:
        add_user(ctx, "boss", PASSWORD, email="boss@example.com")
        signed = LoginService(
            ctx, passwords=cheap_passwords(), workstation="ws-test", session_kind=COMMAND_LINE
        ).begin("boss", PASSWORD)
        assert isinstance(signed, SignedIn), signed
        db.use_session(signed.session_token)
        yield ctx, signed.actor
    finally:
        db.use_session(None)
        db.dispose()


def queue(hardened: HardenedDatabase) -> list[tuple[str, str, str, str | None]]:
    """(kind, state, destination, code) of every queue row, oldest first, as the owner."""
    return [
        (str(k), str(s), str(d), c)
        for k, s, d, c in sql(
            hardened.owner_url,
            "SELECT kind, state, destination, code FROM pmdesk.code_queue ORDER BY id",
        )
    ]


def test_the_relay_mails_the_test_to_the_signed_in_person_without_a_code(
    hardened: HardenedDatabase,
    boss: tuple[CoreContext, Actor],
    smtp_plain_server: SmtpServer,
    tmp_path: Path,
) -> None:
    ctx, actor = boss
    use_smtp(hardened, smtp_plain_server.host, smtp_plain_server.port)
    with running_relay(relay_url(hardened), tmp_path / "relay") as relay:
        sent = SecurityService(ctx).send_test_code(actor, "someone.else@example.com")
        assert sent.queued and sent.file is None
        assert sent.destination == "boss@example.com"  # never the address typed
        assert sent.label.startswith("queued to the relay, which sends it: E-mail via 127.0.0.1")
        wait_until(lambda: smtp_plain_server.received, what="the test mail")
        relay.wait_for_log("Sent the test message for boss (queue row ")
    [mail] = smtp_plain_server.received
    assert mail.rcpt_tos == ["boss@example.com"]
    assert mail.message["Subject"] == "pmdesk security code (test)"
    assert "THIS IS A TEST" in mail.text
    assert re.search(r"\b[0-9]{6}\b", mail.text) is None, "a test message carries no code"
    assert queue(hardened) == [("test", "sent", "boss@example.com", None)]
    # The relay audits it, with the address and workstation of the session that asked.
    assert audit_rows(hardened, "mail.test_sent") == [
        ("boss", "boss@example.com", "127.0.0.1", "ws-test", "sent by the relay (smtp)")
    ]
    assert delivery_health(hardened, "smtp") == (True, "", "", 0, True)
    # The workstation sent nothing itself: no secret read, no file, no audit row of its own.
    assert not (tmp_path / "ws-outbox").exists()


def test_a_second_test_replaces_the_one_still_waiting(
    hardened: HardenedDatabase, boss: tuple[CoreContext, Actor]
) -> None:
    ctx, actor = boss
    service = SecurityService(ctx)
    service.send_test_code(actor, "boss@example.com")
    service.send_test_code(actor, "boss@example.com")
    assert queue(hardened) == [
        ("test", "dropped", "boss@example.com", None),
        ("test", "queued", "boss@example.com", None),
    ]


def test_without_an_address_of_ones_own_nothing_is_queued(
    hardened: HardenedDatabase, boss: tuple[CoreContext, Actor]
) -> None:
    ctx, actor = boss
    sql(hardened.owner_url, "UPDATE pmdesk.personnel SET email = '' WHERE login = 'boss'")
    with pytest.raises(ValidationError) as info:
        SecurityService(ctx).send_test_code(actor, "boss@example.com")
    assert info.value.errors == {
        "address": "You have no e-mail address: add yours in Personnel first (on this database "
        "the relay sends test messages only to the person who asks)."
    }
    assert queue(hardened) == []


def test_pmdesk_mail_test_says_the_relay_has_it(
    hardened: HardenedDatabase, anne: int, tmp_path: Path
) -> None:
    """The command line, signed in with ``pmdesk login`` (its session in the test keyring)."""
    ws_url = url_text(hardened.workstation_url)
    db = Database(hardened.workstation_url)
    try:
        add_user(
            CoreContext(db=db, secrets=MemoryStore(), outbox_default=tmp_path),
            "boss",
            PASSWORD,
            email="boss@example.com",
        )
    finally:
        db.dispose()
    key = session_key(hardened.workstation_url.render_as_string(hide_password=True))
    try:
        login = run_pmdesk("--database", ws_url, "login", "boss", "--password-stdin",
                           stdin=PASSWORD + "\n")  # fmt: skip
        assert login.returncode == 0, login.stdout + login.stderr
        sent = run_pmdesk("--database", ws_url, "mail", "test", "someone.else@example.com")
        assert sent.returncode == 0, sent.stdout + sent.stderr
        assert sent.stdout.startswith(
            "Test message for boss@example.com queued to the relay, which sends it: "
        )
    finally:
        KeyringStore().delete(key)
    assert queue(hardened) == [("test", "queued", "boss@example.com", None)]
