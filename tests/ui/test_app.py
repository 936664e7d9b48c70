"""Start-up: the login dialog paints first, the database opens behind it, failures are dialogs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot
from sqlalchemy import text

from pmdesk.core import migrate
from pmdesk.core.context import CoreContext
from pmdesk.core.db import Database, sqlite_url
from pmdesk.secrets import KeyringStore, MemoryStore, SecretStoreError
from pmdesk.ui.app import Launcher
from pmdesk.ui.tasks import TaskManager
from tests.helpers.databases import servers_required
from tests.helpers.login import add_user

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.fixture
def database_file(tmp_path: Path) -> Path:
    """An empty database file: away from the default location pmdesk makes none (issue 12, 5i)."""
    path = tmp_path / "app.sqlite3"
    path.touch()
    return path


@pytest.fixture
def launcher_for(qtbot: QtBot, tasks: TaskManager) -> Iterator[object]:
    made: list[Launcher] = []

    def make(url: str, **kwargs: object) -> Launcher:
        launcher = Launcher(url, tasks=tasks, **kwargs)  # type: ignore[arg-type]
        qtbot.addWidget(launcher.login)
        made.append(launcher)
        return launcher

    yield make
    for launcher in made:
        tasks.cancel_all()
        tasks.wait()
        for widget in launcher.top_level_widgets():
            widget.close()
        if launcher.opened is not None:
            launcher.opened.app.db.dispose()


@pytest.fixture
def no_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Only keyring's "fail" backend, as on a machine without a keyring; restored afterwards
    (keyring caches its backend for the whole process)."""
    import keyring.core

    monkeypatch.setattr(keyring.core, "_keyring_backend", None)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    yield
    # monkeypatch puts the previous backend (or None: found again on next use) back.


def _keyring_in_a_fresh_process() -> bool:
    check = "from pmdesk.secrets import KeyringStore; KeyringStore().backend_name()"
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_KEYRING_BACKEND"}
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, timeout=60, check=False, env=env
    )
    return result.returncode == 0


def _problem_text(launcher: Launcher) -> str:
    box = launcher.problem_box
    assert isinstance(box, QMessageBox)
    return f"{box.text()}\n{box.informativeText()}"


def test_gui_modules_before_the_login_dialog_do_not_load_the_database_layer() -> None:
    """What is imported before the dialog paints: Qt and small modules, no SQLAlchemy. Of the
    core only its sentences' module (``pmdesk.core.i18n``, standard library only), which the
    screens need to show the core's messages in the chosen language."""
    check = (
        "import sys; import pmdesk.gui_entry, pmdesk.ui.app; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy', 'alembic', 'keyring', 'argon2'} or m.startswith('pmdesk.core') "
        "and m not in {'pmdesk.core', 'pmdesk.core.i18n'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPOSITORY,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_login_waits_for_the_database_then_first_run_asks_for_an_administrator(
    qtbot: QtBot, launcher_for: object, database_file: Path
) -> None:
    launcher = launcher_for(str(sqlite_url(database_file)), secrets=MemoryStore())  # type: ignore[operator]
    launcher.start()
    login = launcher.login
    assert login.isVisible()
    assert not login.login_button.isEnabled()
    assert login.busy.running and "Opening database" in login.busy.text
    qtbot.waitUntil(lambda: launcher.first_run is not None, timeout=20_000)
    assert login.ready
    assert launcher.opened is not None and launcher.opened.schema.up_to_date
    assert not launcher.opened.has_users
    assert launcher.first_run.isVisible()


def test_a_login_typed_the_moment_login_is_enabled_signs_in(
    qtbot: QtBot, launcher_for: object, database_file: Path, tmp_path: Path
) -> None:
    """Login is enabled once the database has answered, while it is still being opened; a
    login asked for at that very moment waits for the login service and signs in."""
    url = sqlite_url(database_file)
    db = Database(url)
    migrate.upgrade(db)
    add_user(CoreContext(db, MemoryStore(), tmp_path), "anne", "anne's long secret")
    db.dispose()
    launcher = launcher_for(str(url), secrets=MemoryStore(), check_keyring=False)  # type: ignore[operator]
    login = launcher.login
    still_opening: list[bool] = []

    def type_at_once() -> None:
        still_opening.append(launcher.opened is None)
        login.username_edit.setText("anne")
        login.password_edit.setText("anne's long secret")
        qtbot.mouseClick(login.login_button, Qt.MouseButton.LeftButton)

    launcher.database_ready.connect(type_at_once)
    launcher.start()
    qtbot.waitUntil(lambda: launcher.window is not None, timeout=20_000)
    assert still_opening == [True]
    assert launcher.opened is not None and launcher.opened.has_users
    assert launcher.first_run is None
    assert not login.isVisible()


def test_a_login_waiting_for_the_service_gets_its_answer_or_its_failure() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from pmdesk.core.errors import DatabaseUnavailable
    from pmdesk.ui.startup import PendingLogin

    class Service:
        def begin(self, login: str, password: str) -> str:
            return f"begun {login}"

    with ThreadPoolExecutor(2) as pool:
        pending = PendingLogin()
        waiting = pool.submit(pending.begin, "anne", "pw")
        assert not waiting.done()
        pending.settle(Service())  # type: ignore[arg-type]
        assert waiting.result(timeout=5) == "begun anne"

        failing = PendingLogin()
        waiting = pool.submit(failing.begin, "anne", "pw")
        failing.fail(DatabaseUnavailable("Cannot reach the database"))
        with pytest.raises(DatabaseUnavailable, match="Cannot reach"):
            waiting.result(timeout=5)


@pytest.mark.logs_errors
def test_database_newer_than_the_app_is_refused_with_a_clear_dialog(
    qtbot: QtBot, launcher_for: object, database_file: Path
) -> None:
    db = Database(sqlite_url(database_file))
    migrate.upgrade(db)
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeedbeef'"))
    db.dispose()
    launcher = launcher_for(str(sqlite_url(database_file)), secrets=MemoryStore())  # type: ignore[operator]
    finished: list[int] = []
    launcher.finished.connect(finished.append)
    launcher.start()
    qtbot.waitUntil(lambda: launcher.problem_box is not None, timeout=20_000)
    shown = _problem_text(launcher)
    assert "newer pmdesk" in shown
    assert "Install the newest pmdesk" in shown
    assert "Traceback" not in shown
    assert not launcher.login.login_button.isEnabled()
    assert launcher.failure is not None and launcher.failure.kind == "schema"
    box = launcher.problem_box
    assert box is not None
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: finished == [1])


@pytest.mark.logs_errors
def test_unreachable_database_says_what_to_check(qtbot: QtBot, launcher_for: object) -> None:
    launcher = launcher_for(  # type: ignore[operator]
        "postgresql://pmdesk:secret@127.0.0.1:1/pmdesk", secrets=MemoryStore()
    )
    launcher.start()
    qtbot.waitUntil(lambda: launcher.problem_box is not None, timeout=30_000)
    shown = _problem_text(launcher)
    assert "Cannot reach the database" in shown
    assert "127.0.0.1:1" in shown
    assert "secret" not in shown  # the password never shows
    assert "reachable from this workstation" in shown
    assert launcher.login.message.text() == "Cannot open the database"


@pytest.mark.logs_errors
def test_missing_keyring_with_a_server_database_is_a_keyring_dialog(
    qtbot: QtBot, launcher_for: object, no_keyring: None
) -> None:
    launcher = launcher_for("postgresql://pmdesk@127.0.0.1:1/pmdesk")  # type: ignore[operator]
    launcher.start()
    qtbot.waitUntil(lambda: launcher.problem_box is not None, timeout=30_000)
    shown = _problem_text(launcher)
    assert launcher.failure is not None and launcher.failure.kind == "keyring"
    assert "keyring" in shown.lower()
    assert "Install or unlock the system keyring" in shown


def test_missing_keyring_with_the_embedded_database_warns_and_goes_on(
    qtbot: QtBot, launcher_for: object, database_file: Path, no_keyring: None
) -> None:
    with pytest.raises(SecretStoreError):
        KeyringStore().backend_name()
    launcher = launcher_for(str(sqlite_url(database_file)))  # type: ignore[operator]
    launcher.start()
    qtbot.waitUntil(lambda: launcher.opened is not None, timeout=20_000)
    # Asked once Login works (keyring costs hundreds of milliseconds to load).
    qtbot.waitUntil(lambda: launcher.problem_box is not None, timeout=20_000)
    shown = _problem_text(launcher)
    assert "No secure system keyring" in shown
    assert "You can sign in" in shown
    assert launcher.login.ready


def _self_test(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pmdesk", "--self-test"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPOSITORY,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **env},
        stdin=subprocess.DEVNULL,
    )


def test_self_test_checks_dialog_database_and_keyring(database_file: Path) -> None:
    keyring_ok = _keyring_in_a_fresh_process()
    if servers_required():  # CI runs under scripts/with-test-env, which provides a keyring
        assert keyring_ok, "no keyring backend in a fresh process: the test keyring is missing"
    result = _self_test({"PMDESK_DATABASE_URL": str(sqlite_url(database_file))})
    lines = result.stdout.splitlines()
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("ok   login dialog shows"), result.stdout
    assert lines[1].startswith("ok   database opens and is migrated"), result.stdout
    assert lines[2].startswith("ok   keyring backend found" if keyring_ok else "FAIL keyring")
    assert result.returncode == (0 if keyring_ok else 1)
    assert database_file.exists()


def test_self_test_fails_without_keyring_and_with_a_dead_database() -> None:
    result = _self_test(
        {
            "PMDESK_DATABASE_URL": "postgresql://pmdesk:pw@127.0.0.1:1/pmdesk",
            "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        }
    )
    lines = result.stdout.splitlines()
    assert result.returncode == 1
    assert lines[0].startswith("ok   login dialog shows")
    assert lines[1].startswith("FAIL database: Cannot open the database")
    assert lines[2].startswith("FAIL keyring: No secure system keyring")
    assert "Traceback" not in result.stderr


def test_every_icon_and_the_style_sheet_load(qapp: object) -> None:
    from PySide6.QtCore import QSize

    from pmdesk.paths import resource_dir
    from pmdesk.ui.icons import ICON_NAMES, icon, icon_path, style_sheet

    for name in ICON_NAMES:
        assert icon_path(name).is_file(), name
        image = icon(name).pixmap(QSize(24, 24)).toImage()
        assert not image.isNull(), name
        assert any(  # something is drawn, not a blank square
            image.pixelColor(x, y).alpha() > 0 for x in range(24) for y in range(24)
        ), name
    sheet = style_sheet()
    assert "@ICONS@" not in sheet
    for url in sheet.split('url("')[1:]:
        path = Path(url.split('"', 1)[0])
        assert path.is_file(), path
        assert resource_dir() in path.parents


def _session_rows(db: Database) -> list[tuple[int, str]]:
    with db.session() as s:
        return [
            (int(r[0]), str(r[1]))
            for r in s.execute(text("SELECT person_id, kind FROM user_sessions")).all()
        ]


def test_a_desktop_session_ended_elsewhere_returns_to_the_login_dialog(
    qtbot: QtBot, launcher_for: object, database_file: Path, tmp_path: Path
) -> None:
    """Signing in records a desktop session; End sessions from another workstation brings this
    app back to the login dialog within its check interval, saying why."""
    from pmdesk.core.context import Actor
    from pmdesk.core.sessions import SessionService

    url = sqlite_url(database_file)
    db = Database(url)
    migrate.upgrade(db)
    ctx = CoreContext(db, MemoryStore(), tmp_path)
    anne = add_user(ctx, "anne", "anne's long secret")
    launcher = launcher_for(  # type: ignore[operator]
        str(url), secrets=MemoryStore(), check_keyring=False, session_check_interval_s=0.2
    )
    launcher.start()
    login = launcher.login
    qtbot.waitUntil(lambda: login.login_button.isEnabled(), timeout=20_000)
    login.username_edit.setText("anne")
    login.password_edit.setText("anne's long secret")
    qtbot.mouseClick(login.login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: launcher.window is not None, timeout=20_000)
    assert _session_rows(db) == [(anne, "desktop")]

    SessionService(ctx).end_for_person(Actor.system("helpdesk"), anne)
    qtbot.waitUntil(lambda: launcher.window is None and login.isVisible(), timeout=10_000)
    assert "You were signed out" in login.message.text()
    assert "ended" in login.message.text()
    db.dispose()


def test_signing_out_ends_the_desktop_session(
    qtbot: QtBot, launcher_for: object, database_file: Path, tmp_path: Path
) -> None:
    url = sqlite_url(database_file)
    db = Database(url)
    migrate.upgrade(db)
    add_user(CoreContext(db, MemoryStore(), tmp_path), "anne", "anne's long secret")
    launcher = launcher_for(str(url), secrets=MemoryStore(), check_keyring=False)  # type: ignore[operator]
    launcher.start()
    login = launcher.login
    qtbot.waitUntil(lambda: login.login_button.isEnabled(), timeout=20_000)
    login.username_edit.setText("anne")
    login.password_edit.setText("anne's long secret")
    qtbot.mouseClick(login.login_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: launcher.window is not None, timeout=20_000)
    assert len(_session_rows(db)) == 1
    launcher.window.request_sign_out()
    qtbot.waitUntil(lambda: login.isVisible() and not _session_rows(db), timeout=10_000)
    launcher.tasks.wait()
    with db.session() as s:
        ends = s.execute(
            text("SELECT event FROM audit_events WHERE event IN ('session.ended', 'signed_out')")
        ).scalars()
        assert list(ends) == ["session.ended"]  # one row for one sign-out
    db.dispose()
