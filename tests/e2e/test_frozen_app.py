"""The packaged executable (PyInstaller one-folder build from pmdesk.spec), run as a user would.

The binary is found through ``PMDESK_FROZEN_BINARY`` (``make dist`` builds ``dist/pmdesk/pmdesk``).
Without it every test here skips with the reason; ``.ci/run`` builds the app and sets
``PMDESK_REQUIRE_FROZEN=1``, which turns a missing binary into a failure. Run locally with:

    rm -rf build dist && make dist
    PMDESK_FROZEN_BINARY=dist/pmdesk/pmdesk PMDESK_REQUIRE_FROZEN=1 \
        scripts/with-test-env .venv/bin/python -m pytest tests/e2e/test_frozen_app.py
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import pytest
import trustme

from pmdesk import __version__
from pmdesk.core import migrate
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.db import Database, sqlite_url
from pmdesk.core.security import SecurityService
from pmdesk.secrets import MemoryStore
from tests.helpers.cli import database_arg, sign_in_as, sign_out_all
from tests.helpers.smtp import SENDER, SmtpServer

ROOT = Path(__file__).resolve().parents[2]
SOURCE_MIGRATIONS = ROOT / "pmdesk" / "core" / "migrations"
# The whole folder; today about 146 MiB on Linux (a quarter of it ICU, which QtCore links).
# A new Qt module, plugin set or library big enough to cross this is a regression to look at.
SIZE_BUDGET_MIB = 185


def _skip_or_fail(reason: str) -> NoReturn:
    """Skip for ``reason``, or fail when ``PMDESK_REQUIRE_FROZEN=1`` makes these tests mandatory."""
    if os.environ.get("PMDESK_REQUIRE_FROZEN") == "1":
        pytest.fail(f"{reason}; PMDESK_REQUIRE_FROZEN=1 makes the packaged app tests mandatory")
    pytest.skip(reason)


def _frozen_binary() -> Path:
    value = os.environ.get("PMDESK_FROZEN_BINARY", "")
    if not value:
        reason = "PMDESK_FROZEN_BINARY is not set (build the app with `make dist` first)"
    elif not (Path(value).is_file() and os.access(value, os.X_OK)):
        reason = f"PMDESK_FROZEN_BINARY={value} is not a built executable (run `make dist`)"
    else:
        return Path(value).resolve()
    _skip_or_fail(reason)


@pytest.fixture(scope="module")
def frozen() -> Path:
    return _frozen_binary()


@pytest.fixture(scope="module")
def bundle(frozen: Path) -> Path:
    """Where the bundled files live (PyInstaller 6: ``_internal`` beside the executable)."""
    internal = frozen.parent / "_internal"
    return internal if internal.is_dir() else frozen.parent


def run_frozen(
    binary: Path,
    *args: str,
    stdin: str = "",
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


def _keyring_available() -> bool:
    return bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS") and os.environ.get("XDG_RUNTIME_DIR"))


def _require_test_keyring() -> None:
    if not _keyring_available():
        _skip_or_fail("no test keyring: run under scripts/with-test-env (D-Bus + gnome-keyring)")


# --- the bundle itself ------------------------------------------------------------------


def test_version_is_this_source_tree(frozen: Path) -> None:
    result = run_frozen(frozen, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"pmdesk {__version__}"


def test_migrations_ship_as_files_matching_the_source(bundle: Path) -> None:
    """Alembic reads env.py and the revisions from disk: a stale or partial copy fails at start."""
    shipped = bundle / "pmdesk" / "core" / "migrations"
    assert (shipped / "env.py").read_text() == (SOURCE_MIGRATIONS / "env.py").read_text()
    assert (shipped / "script.py.mako").is_file()
    source_versions = sorted(p.name for p in (SOURCE_MIGRATIONS / "versions").glob("*.py"))
    assert sorted(p.name for p in (shipped / "versions").glob("*.py")) == source_versions, (
        "the build is older than the source tree: rebuild with `make dist`"
    )


def test_every_pmdesk_module_is_frozen(frozen: Path) -> None:
    """The GUI imports pages lazily: each module of the source tree must be in the archive."""
    viewer = Path(sys.executable).with_name("pyi-archive_viewer")
    if not viewer.exists():
        _skip_or_fail("PyInstaller is not installed in this venv (make dist installs it)")
    listing = subprocess.run(
        [str(viewer), "--recursive", "--brief", str(frozen)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    frozen_modules = {line.strip() for line in listing.splitlines()}
    package = ROOT / "pmdesk"
    source_modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in package.rglob("*.py")
        if "migrations" not in path.relative_to(package).parts
    }
    missing = sorted(source_modules - frozen_modules)
    assert not missing, f"not in the frozen app (rebuild, or fix pmdesk.spec): {missing}"


def test_keyring_metadata_and_backends_are_bundled(bundle: Path) -> None:
    """keyring finds its backends through entry points in its dist-info."""
    entry_points = list(bundle.glob("keyring-*.dist-info/entry_points.txt"))
    assert entry_points, "keyring's metadata is missing: no backend would be found"
    assert "keyring.backends.SecretService" in entry_points[0].read_text()


def test_bundle_leaves_out_what_pmdesk_does_not_use(bundle: Path) -> None:
    names = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*")}
    unwanted = [
        r"(^|/)libQt6(Pdf|Qml|Quick|WebEngine\w*|3D\w*|Multimedia|Sql|Test|VirtualKeyboard)\.",
        r"(^|/)libgtk-3\.",
        r"^PySide6/Qt/translations/(?!qtbase_(nl|fr)\.qm$).+\.qm$",
        r"^PySide6/Qt/plugins/(egldeviceintegrations|generic|sqldrivers|qmltooling)/",
        r"^PySide6/Qt/plugins/platforms/libq(eglfs|linuxfb|vnc)",
        r"(^|/)(tkinter|_tkinter|pytest|_pytest|hypothesis|numpy)(/|\.|$)",
    ]
    found = sorted(n for n in names if any(re.search(p, n) for p in unwanted))
    assert not found, f"unwanted files in the bundle: {found[:10]}"
    # ... and what a Linux desktop needs is there.
    platforms_dir = bundle / "PySide6" / "Qt" / "plugins" / "platforms"
    assert platforms_dir.is_dir(), f"no Qt platform plugins in the bundle ({platforms_dir})"
    platforms = {p.name for p in platforms_dir.iterdir()}
    assert {"libqxcb.so", "libqwayland.so", "libqoffscreen.so"} <= platforms
    # pmdesk's own languages, and Qt's words for its standard buttons in them
    assert {
        "pmdesk/resources/i18n/pmdesk_nl_BE.qm",
        "pmdesk/resources/i18n/pmdesk_fr_BE.qm",
    } <= names
    assert {"PySide6/Qt/translations/qtbase_nl.qm", "PySide6/Qt/translations/qtbase_fr.qm"} <= names


def test_bundle_size_stays_within_budget(frozen: Path) -> None:
    folder = frozen.parent
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    mib = size / 2**20
    print(f"packaged app: {folder} is {mib:.1f} MiB")
    assert mib < SIZE_BUDGET_MIB, f"the bundle grew to {mib:.1f} MiB (budget {SIZE_BUDGET_MIB})"


# --- the command line ---------------------------------------------------------------------


def test_db_status_and_upgrade_on_the_embedded_database(frozen: Path, isolated_paths: Path) -> None:
    head = migrate.head_revision()
    before = run_frozen(frozen, "db", "status")
    assert before.returncode == 0, before.stderr
    assert "Engine:    sqlite" in before.stdout
    assert str(isolated_paths / "pmdesk-data" / "pmdesk.sqlite3") in before.stdout
    assert f"Newest:    {head}" in before.stdout
    assert "needs upgrade" in before.stdout

    upgraded = run_frozen(frozen, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"upgraded from empty to schema {head}" in upgraded.stdout
    after = run_frozen(frozen, "db", "status")
    assert "Status:    up to date" in after.stdout


def test_user_add_and_list_on_each_engine(frozen: Path, db: Database) -> None:
    """The bundled drivers: sqlite3, psycopg (binary) and PyMySQL, each against a real server."""
    url = database_arg(db)
    added = run_frozen(
        frozen,
        "--database",
        url,
        "user",
        "add",
        "frieda",
        "--email",
        "frieda@example.com",
        "--group",
        "Administrator",
        "--first-name",
        "Frieda",
        "--last-name",
        "Frost",
        "--password-stdin",
        stdin="a long secret\n",
    )
    assert added.returncode == 0, added.stderr
    assert "Added frieda (frieda@example.com) to Administrator." in added.stdout
    sign_in_as(db, "frieda")  # the first user could be added by anyone; listing needs a session
    listed = run_frozen(frozen, "--database", url, "user", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert ["frieda", "Frieda", "Frost", "frieda@example.com", "Administrator", "no"] in rows


def test_bad_input_is_one_line_without_traceback(frozen: Path) -> None:
    result = run_frozen(frozen, "--database", "postgresql://nobody@127.0.0.1:1/x", "user", "list")
    assert result.returncode == 1
    assert "Cannot reach the database" in result.stderr
    assert "Traceback" not in result.stderr


# --- the desktop app ----------------------------------------------------------------------


def test_self_test_shows_login_migrates_and_finds_the_keyring(
    frozen: Path, isolated_paths: Path
) -> None:
    _require_test_keyring()
    result = run_frozen(frozen, "--self-test", env={"QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stdout.splitlines()
    assert any(re.match(r"ok\s+login dialog shows \(offscreen", line) for line in lines), lines
    assert any(re.match(r"ok\s+database opens and is migrated", line) for line in lines), lines
    assert any(
        re.match(r"ok\s+keyring backend found \(keyring\.backends\.SecretService", line)
        for line in lines
    ), lines
    assert not [line for line in lines if line.startswith("FAIL")], lines
    # The embedded database was created and migrated by the frozen app.
    status = run_frozen(frozen, "db", "status")
    assert "Status:    up to date" in status.stdout, status.stdout + status.stderr


def test_the_real_start_enables_login_then_opens_the_database(
    frozen: Path, db: Database, isolated_paths: Path
) -> None:
    """The packaged GUI started as a user would (offscreen): the dialog paints, Login is enabled
    after the bundled driver's quick check (SQLite, PostgreSQL), then the database is opened
    fully. MariaDB's root here has no password in its URL, so the check steps aside (a password
    could be in the keyring) and Login waits for the full open."""
    from tests.helpers.login import add_user

    add_user(CoreContext(db, MemoryStore(), isolated_paths / "outbox"), "anne", "a long secret")
    started = run_frozen(
        frozen,
        "--database",
        database_arg(db),
        env={
            "QT_QPA_PLATFORM": "offscreen",
            "PMDESK_EXIT_AFTER_SHOWN": "opened",
            "PMDESK_STARTUP_TRACE": "1",
        },
    )
    assert started.returncode == 0, started.stderr
    events = [line.split()[1] for line in started.stderr.splitlines() if "pmdesk-trace" in line]
    assert events == ["dialog-shown", "database-ready", "database-opened"]
    log = (isolated_paths / "pmdesk-log" / "pmdesk.log").read_text(encoding="utf-8")
    expected = (
        "Login waits for the database to be opened"
        if db.backend == "mariadb"
        else "Login enabled: the database is at the newest schema and has users"
    )
    assert expected in log
    assert "Traceback" not in started.stderr


def test_self_test_fails_without_a_keyring(frozen: Path) -> None:
    """The keyring check is real: with no Secret Service reachable, the self-test says so."""
    env = {k: v for k, v in os.environ.items() if k != "DBUS_SESSION_BUS_ADDRESS"}
    env.update(QT_QPA_PLATFORM="offscreen", DBUS_SESSION_BUS_ADDRESS="unix:path=/nonexistent")
    result = subprocess.run(
        [str(frozen), "--self-test"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"^FAIL\s+keyring: No secure system keyring", result.stdout, re.M), (
        result.stdout
    )
    assert re.search(r"^ok\s+login dialog shows", result.stdout, re.M), result.stdout


# --- security codes by e-mail -------------------------------------------------------------


@pytest.fixture
def ca_file(test_ca: trustme.CA, tmp_path: Path) -> Path:
    """The test CA as a PEM file: the frozen app trusts it through SSL_CERT_FILE."""
    path = tmp_path / "test-ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return path


def test_mail_test_over_starttls_with_the_password_from_the_keyring(
    frozen: Path, smtp_auth_server: SmtpServer, ca_file: Path, isolated_paths: Path
) -> None:
    """Keyring (SecretService), TLS with certificate checks, SMTP AUTH — all from the bundle,
    signed in as the administrator it adds first (a command-line session in the keyring)."""
    _require_test_keyring()
    env = {"SSL_CERT_FILE": str(ca_file)}
    server = smtp_auth_server
    added = run_frozen(
        frozen,
        *("user", "add", "helpdesk", "--email", "helpdesk@example.com"),
        *("--group", "Administrator", "--password-stdin"),
        stdin="a long secret\n",
    )
    assert added.returncode == 0, added.stderr
    db = Database(sqlite_url(isolated_paths / "pmdesk-data" / "pmdesk.sqlite3"))
    try:
        sign_in_as(db, "helpdesk")
        _mail_test_over_starttls(frozen, server, env)
    finally:
        sign_out_all(db)
        db.dispose()


def _mail_test_over_starttls(frozen: Path, server: SmtpServer, env: dict[str, str]) -> None:
    configured = run_frozen(
        frozen,
        "mail",
        "configure",
        "--method",
        "smtp",
        "--host",
        server.host,
        "--port",
        str(server.port),
        "--security",
        "starttls",
        "--from",
        SENDER,
        "--username",
        server.username,
        "--password-stdin",
        stdin=server.password + "\n",
        env=env,
    )
    assert configured.returncode == 0, configured.stdout + configured.stderr
    assert "stored in this computer's keyring" in configured.stdout
    shown = run_frozen(frozen, "mail", "show", env=env)
    assert "password stored in this computer's keyring" in shown.stdout, shown.stdout

    sent = run_frozen(frozen, "mail", "test", "helpdesk@example.com", env=env)
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert len(server.received) == 1
    mail = server.received[0]
    assert mail.rcpt_tos == ["helpdesk@example.com"]
    assert mail.secure
    assert re.fullmatch(r"[0-9]{6}", mail.code)


def _type(process: subprocess.Popen[str], line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()


def test_login_with_a_mailed_code_on_the_embedded_database(
    frozen: Path, isolated_paths: Path, smtp_plain_server: SmtpServer
) -> None:
    """The whole helpdesk flow with nothing but the frozen binary and a local mail server: the
    first administrator added, signed in with the password alone, the mail configured, 2FA on,
    signed in again with the mailed code, whoami, logout."""
    password = "Cobalt-Harbour-19"
    server = smtp_plain_server
    added = run_frozen(
        frozen,
        *("user", "add", "alice", "--email", "alice@workshop.example"),
        *("--group", "Administrator", "--password-stdin"),
        stdin=password + "\n",
    )
    assert added.returncode == 0, added.stderr
    # The first sign-in: two-step authentication is still off, so the password alone.
    first = run_frozen(frozen, "login", "alice", "--password-stdin", stdin=password + "\n")
    assert first.returncode == 0, first.stderr
    assert "Signed in as alice\n" in first.stdout and "Security code" not in first.stdout
    configured = run_frozen(
        frozen,
        *("mail", "configure", "--method", "smtp", "--host", server.host),
        *("--port", str(server.port), "--security", "none", "--from", SENDER),
    )
    assert configured.returncode == 0, configured.stdout + configured.stderr
    # Two-step authentication on (the GUI's System → Security switch), on the embedded file.
    db = Database(sqlite_url(isolated_paths / "pmdesk-data" / "pmdesk.sqlite3"))
    try:
        ctx = CoreContext(db=db, secrets=MemoryStore(), outbox_default=isolated_paths / "outbox")
        security = SecurityService(ctx)
        view = security.get(Actor.command_line())
        security.set_two_factor(Actor.command_line(), True, expected_version=view.version)
    finally:
        db.dispose()

    process = subprocess.Popen(
        [str(frozen), "login", "alice", "--password-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        _type(process, password)
        deadline = time.monotonic() + 60
        while not server.received:
            if process.poll() is not None:
                out, err = process.communicate()
                pytest.fail(f"pmdesk login ended before the code was mailed:\n{out}\n{err}")
            assert time.monotonic() < deadline, "no code mail within 60 s"
            time.sleep(0.05)
        mail = server.received[0]
        assert mail.rcpt_tos == ["alice@workshop.example"]
        out, err = process.communicate(f"{mail.code}\nn\n", timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, out + err
    assert "A security code was sent to a***@workshop.example" in out
    assert "Signed in as alice\n" in out and "Commands run as alice until " in out
    assert mail.code not in out + err and password not in out + err
    whoami = run_frozen(frozen, "whoami")
    assert whoami.returncode == 0, whoami.stderr
    assert whoami.stdout.startswith("Signed in as alice (alice) until ")
    logout = run_frozen(frozen, "logout")
    assert (logout.returncode, logout.stdout.strip()) == (0, "Signed out."), logout.stderr
