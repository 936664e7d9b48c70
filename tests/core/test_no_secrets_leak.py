"""No password and no security code ever lands in the database, the log or the settings file.

A realistic morning: people are created with passwords, someone mistypes, a mail server is down
then back, codes are mistyped and typed, an address is trusted, a password is changed, and the
command line signs in with a mailed code. Every password and code used is collected, and then
every text column of every table, the log files (application and SQL) and every file pmdesk
wrote in its folders are searched for them.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import String, Text, select

from pmdesk.config import Settings, save_settings
from pmdesk.core.auth import CodeNeeded, LoginService, Refused, SignedIn
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.models import Base
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.paths import app_paths
from tests.helpers.cli import database_arg, real_keyring, session_key_of
from tests.helpers.databases import stage
from tests.helpers.hardened import RELAY_DELIVERS
from tests.helpers.login import CollectingDelivery, set_security
from tests.helpers.smtp import LOOPBACK, SmtpServer

ADMIN_PASSWORD = "Admin-Quartz-Lantern-81"
ALICE_PASSWORD = "Alice-Velvet-Compass-27"
BOB_PASSWORD = "Bob-Granite-Meadow-64"
WRONG_PASSWORD = "Alice-Velvet-Compass-72"
NEW_PASSWORD = "Alice-Copper-Orchard-35"


@pytest.fixture
def log_files(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """Everything pmdesk logs (DEBUG) to one file, and every SQL statement with its parameters."""
    app_log, sql_log = tmp_path / "app.log", tmp_path / "sql.log"
    app_handler = logging.FileHandler(app_log, encoding="utf-8")
    # Not the test's own mail server (aiosmtpd, logger "mail.log"), which runs in this process
    # and logs what it receives: that is the server's log, not pmdesk's.
    app_handler.addFilter(lambda record: not record.name.startswith("mail."))
    sql_handler = logging.FileHandler(sql_log, encoding="utf-8")
    root, sql = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    before = root.level, sql.level, sql.propagate
    root.addHandler(app_handler)
    root.setLevel(logging.DEBUG)
    sql.addHandler(sql_handler)
    sql.setLevel(logging.INFO)
    sql.propagate = False
    try:
        yield app_log, sql_log
    finally:
        root.removeHandler(app_handler)
        sql.removeHandler(sql_handler)
        root.setLevel(before[0])
        sql.setLevel(before[1])
        sql.propagate = before[2]
        app_handler.close()
        sql_handler.close()


def other_code(code: str) -> str:
    return f"{(int(code) + 500_001) % 10**6:06d}"


def code_pattern(code: str) -> re.Pattern[str]:
    """The code as a word of its own (not six digits inside a longer number or a hash)."""
    return re.compile(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])")


def cli_login_with_mailed_code(
    db_url: str, password: str, server: SmtpServer
) -> tuple[str, str, str]:
    """``pmdesk login alice`` as a person would run it; returns (code, stdout, stderr)."""
    # The database comes from the settings file, as after the first-run wizard.
    save_settings(app_paths().config_file, Settings(database_url=db_url))
    already = len(server.received)
    process = subprocess.Popen(
        [sys.executable, "-m", "pmdesk", "login", "alice", "--password-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert process.stdin is not None
    process.stdin.write(password + "\n")
    process.stdin.flush()
    deadline = time.monotonic() + 60
    while len(server.received) == already:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"no code mail from pmdesk login:\n{out}\n{err}")
        time.sleep(0.05)
    code = server.received[-1].code
    out, err = process.communicate(f"{code}\ny\n", timeout=60)
    assert process.returncode == 0, err
    assert "Signed in as alice" in out
    return code, out, err


@RELAY_DELIVERS
def test_no_password_or_code_is_stored_or_logged(
    ctx: CoreContext,
    smtp_plain_server: SmtpServer,
    closed_port: int,
    log_files: tuple[Path, Path],
    isolated_paths: Path,
) -> None:
    real_keyring()  # the command-line sign-in below keeps its session there
    passwords = [ADMIN_PASSWORD, ALICE_PASSWORD, BOB_PASSWORD, WRONG_PASSWORD, NEW_PASSWORD]
    codes: list[str] = []
    people = PersonnelService(ctx)
    cli = Actor.command_line()
    for name, password in (("admin", ADMIN_PASSWORD), ("alice", ALICE_PASSWORD)):
        people.create(
            cli,
            PersonForm(
                login=name,
                last_name=name.capitalize(),
                email=f"{name}@workshop.example",
                group_id=1,
                password=password,
                password_confirm=password,
            ),
        )
    people.create(
        cli,
        PersonForm(
            login="bob",
            last_name="Bob",
            email="bob@workshop.example",
            group_id=1,
            password=BOB_PASSWORD,
            password_confirm=BOB_PASSWORD,
        ),
    )
    alice = people.find_by_login("alice")
    assert alice is not None
    set_security(
        ctx,
        two_factor_enabled=True,
        delivery_method="smtp",
        smtp_host=LOOPBACK,
        smtp_port=closed_port,  # the mail server is down this morning
        smtp_security="none",
        smtp_from="security@workshop.example",
    )
    login = LoginService(ctx, workstation="ws-front-desk")

    # Mistakes: a wrong password, a right password with a wrong login.
    assert isinstance(login.begin("alice", WRONG_PASSWORD), Refused)
    assert isinstance(login.begin("alise", ALICE_PASSWORD), Refused)

    # The mail server is down: the attempt stays; it comes back; a new code arrives.
    down = login.begin("alice", ALICE_PASSWORD)
    assert isinstance(down, CodeNeeded) and down.delivery_error
    set_security(ctx, smtp_port=smtp_plain_server.port)
    up = login.resend(down.challenge_id)
    assert isinstance(up, CodeNeeded) and up.delivery_error is None
    code = smtp_plain_server.received[-1].code
    typo = other_code(code)
    codes += [code, typo]
    assert isinstance(login.verify(down.challenge_id, typo, False), Refused)
    assert isinstance(login.verify(down.challenge_id, code, True), SignedIn)

    # A mail server that repeats the message in its refusal (some do): the code must not follow.
    echoing = CollectingDelivery(fail_with="550 rejected message containing {code}")
    bob_login = LoginService(ctx, delivery_factory=echoing.factory, workstation="ws-office")
    refused_mail = bob_login.begin("bob", BOB_PASSWORD)
    assert isinstance(refused_mail, CodeNeeded) and refused_mail.delivery_error
    assert echoing.attempts == 1 and not echoing.sent
    echoed = echoing.failed[-1].code
    codes.append(echoed)  # searched for everywhere below (tables, logs, files)
    # The server's words reach the person, with the code it echoed masked out.
    assert refused_mail.delivery_error == "550 rejected message containing ******"
    assert code_pattern(echoed).search(refused_mail.delivery_error) is None

    # A new password ends the trust; the command line signs in with a mailed code.
    people.set_password(cli, alice.id, NEW_PASSWORD, NEW_PASSWORD)
    cli_code, out, err = cli_login_with_mailed_code(
        database_arg(ctx.db), NEW_PASSWORD, smtp_plain_server
    )
    codes.append(cli_code)
    assert all(code not in out + err for code in codes)
    # The session it started: its token is in the keyring, and nowhere else.
    token = real_keyring().get(session_key_of(ctx.db))
    assert token and len(token) >= 40
    passwords.append(token)

    # ----- search everything ------------------------------------------------------------------
    assert len(set(codes)) >= 3
    leaks: list[str] = []

    def search(where: str, text: str, *, sql: bool = False) -> None:
        for password in passwords:
            if password in text:
                leaks.append(f"password in {where}")
        for found in codes:
            hit = (
                f"'{found}'" in text or f'"{found}"' in text
                if sql  # parameters are quoted; bare digits there are timestamps and ids
                else code_pattern(found).search(text) is not None
            )
            if hit:
                leaks.append(f"code {found} in {where}")

    with stage(ctx.db) as s:
        for table in Base.metadata.sorted_tables:
            text_columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            if not text_columns:
                continue
            for row in s.execute(select(*text_columns)):
                search(f"table {table.name}", " | ".join(str(v) for v in row if v is not None))
        audit_rows = s.execute(select(Base.metadata.tables["audit_events"])).all()
    assert len(audit_rows) >= 15  # the flow really was audited
    app_log, sql_log = log_files
    for handler in logging.getLogger().handlers:
        handler.flush()
    search("the application log", app_log.read_text(encoding="utf-8"))
    search("the SQL log", sql_log.read_text(encoding="utf-8"), sql=True)
    assert "security code for alice sent to a***@workshop.example" in app_log.read_text()
    assert "personnel" in sql_log.read_text()
    paths = app_paths()
    written = [
        f for folder in (paths.config_dir, paths.log_dir, paths.data_dir) for f in folder.rglob("*")
    ]
    assert paths.config_file in written
    for file in written:
        if file.is_file():
            search(str(file), file.read_bytes().decode("utf-8", errors="replace"))

    assert leaks == []
