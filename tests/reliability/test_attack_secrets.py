"""No password, security code or keyring secret in any file pmdesk writes, after a morning of
real command-line use on the embedded database: users added, a sign-in (a command-line session,
its token in the keyring), the SMTP password put in the keyring, a test mail, two-step
authentication turned on, wrong and right passwords and codes, an unlock, a password change,
and database URLs with a password in them.

Complements ``tests/core/test_no_secrets_leak.py`` (the services in-process, every text column,
the SQL log): here every byte of the data, config and log folders is searched, including the
SQLite file, its WAL and shared-memory files (deleted rows and free pages included), and
everything the commands printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from pmdesk.core.db import sqlite_url
from pmdesk.paths import app_paths
from pmdesk.secrets import KeyringStore, session_key, smtp_key
from tests.helpers.cli import real_keyring, run_pmdesk
from tests.helpers.smtp import SENDER, SmtpServer

ALICE = "Alice-Quartz-Lantern-81"
BOB = "Bob-Granite-Meadow-64"
WRONG = "Alice-Quartz-Lantern-18"
NEW = "Alice-Copper-Orchard-35"
DB_PASSWORD = "Db-Secret-Walrus-07"


@pytest.fixture
def keyring_store() -> Iterator[KeyringStore]:
    yield real_keyring()


def pmdesk(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> tuple[int, str]:
    result = run_pmdesk(*args, stdin=stdin, env=env)
    return result.returncode, result.stdout + result.stderr


def login_with_code(server: SmtpServer, env: dict[str, str]) -> tuple[list[str], str]:
    """``pmdesk login alice``: a wrong code, then the mailed one, then Trust this IP."""
    already = len(server.received)
    process = subprocess.Popen(
        [sys.executable, "-m", "pmdesk", "login", "alice", "--password-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
    assert process.stdin is not None
    process.stdin.write(ALICE + "\n")
    process.stdin.flush()
    deadline = time.monotonic() + 60
    while len(server.received) == already:
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"no code mail from pmdesk login:\n{out}\n{err}")
        time.sleep(0.05)
    code = server.received[-1].code
    wrong = f"{(int(code) + 314159) % 10**6:06d}"
    # The trust question comes once, after the first code typed.
    out, err = process.communicate(f"{wrong}\ny\n{code}\n", timeout=60)
    assert process.returncode == 0, err
    assert "Signed in as alice" in out
    assert "not correct" in err
    return [code, wrong], out + err


def code_pattern(code: str) -> re.Pattern[bytes]:
    return re.compile(rb"(?<![0-9A-Za-z])" + code.encode() + rb"(?![0-9A-Za-z])")


@pytest.mark.slow
@pytest.mark.takes_turns("keyring smtp:mailer@127.0.0.1")  # as test_delivery_cli
def test_a_morning_on_the_command_line_leaves_no_secret_in_any_file(
    smtp_auth_server: SmtpServer,
    keyring_store: KeyringStore,
    test_ca: trustme.CA,
    tmp_path: Path,
) -> None:
    server = smtp_auth_server
    ca = tmp_path / "ca.pem"
    test_ca.cert_pem.write_to_path(str(ca))
    tls = {"SSL_CERT_FILE": str(ca)}
    key = smtp_key(server.host, server.username)
    database = sqlite_url(app_paths().data_dir / "pmdesk.sqlite3")
    session = session_key(database.render_as_string(hide_password=True))
    printed: list[str] = []
    codes: list[str] = []
    tokens: list[str] = []

    def session_token() -> str:
        token = keyring_store.get(session)
        assert token, "the command-line session's token is in the keyring"
        return token

    def ok(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> None:
        rc, out = pmdesk(*args, stdin=stdin, env=env)
        printed.append(out)
        assert rc == 0, out

    try:
        ok("db", "upgrade")
        for login, password in (("alice", ALICE), ("bob", BOB)):
            ok(
                "user", "add", login, "--email", f"{login}@workshop.example",
                "--group", "Administrator", "--password-stdin", stdin=password + "\n",
            )  # fmt: skip
            if login == "alice":  # the first administrator signs in to add the others
                ok("login", "alice", "--password-stdin", stdin=ALICE + "\n")
                tokens.append(session_token())
        ok(
            "mail", "configure", "--method", "smtp", "--host", server.host,
            "--port", str(server.port), "--security", "starttls", "--from", SENDER,
            "--username", server.username, "--password-stdin",
            stdin=server.password + "\n", env=tls,
        )  # fmt: skip
        assert keyring_store.get(key) == server.password, "the password went to the keyring"
        ok("mail", "test", "alice@workshop.example", env=tls)
        codes.append(server.received[-1].code)
        ok("security", "enable-2fa")
        rc, out = pmdesk("login", "bob", "--password-stdin", stdin=WRONG + "\n")
        printed.append(out)
        assert rc == 1 and "incorrect" in out
        typed, out = login_with_code(server, tls)
        codes += typed
        printed.append(out)
        tokens.append(session_token())
        assert tokens[1] != tokens[0], "signing in again replaced the session"
        ok("user", "unlock", "bob")
        ok("user", "passwd", "alice", "--password-stdin", stdin=NEW + "\n")  # ends her session
        rc, out = pmdesk("whoami")
        printed.append(out)
        assert rc == 1 and "Not signed in" in out, out
        # A database URL with its password on the command line, to a server that is not there.
        rc, out = pmdesk(
            "--database", f"postgresql://pmdesk:{DB_PASSWORD}@127.0.0.1:1/pm", "user", "list"
        )
        printed.append(out)
        assert rc == 1 and "Cannot reach the database" in out
    finally:
        keyring_store.delete(key)
        keyring_store.delete(session)

    secrets = [ALICE, BOB, WRONG, NEW, server.password, DB_PASSWORD, *tokens]
    assert len(set(codes)) == 3
    leaks = []
    for n, out in enumerate(printed):
        leaks += [f"password in the output of command {n}" for p in secrets if p in out]
        leaks += [f"code in the output of command {n}" for c in codes if c in out]

    paths = app_paths()
    files = [
        f
        for folder in (paths.data_dir, paths.config_dir, paths.log_dir)
        for f in folder.rglob("*")
        if f.is_file()
    ]
    names = {f.name for f in files}
    assert {"pmdesk.sqlite3", "pmdesk.log"} <= names, names
    scanned = 0
    for file in files:
        data = file.read_bytes()
        scanned += len(data)
        for secret in secrets:
            # UTF-8 and UTF-16 (SQLite may store text as either), as whole or in part.
            for form in (secret.encode(), secret.encode("utf-16-le"), secret[4:-4].encode()):
                if form in data:
                    leaks.append(f"a password or session token in {file.name}")
        leaks += [f"code {c} in {file.name}" for c in codes if code_pattern(c).search(data)]
    assert scanned > 50_000, "the database and the log were really read"
    log = (paths.log_dir / "pmdesk.log").read_text(encoding="utf-8")
    assert "security code for alice sent to a***@workshop.example" in log, "it was logged"
    assert leaks == []
