"""Start-up: the login dialog paints before the database work; that work imports no more than
it needs (no Alembic for an up-to-date database); PySide6's import scan is skipped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy.engine import URL

from pmdesk.core import migrate
from pmdesk.core.db import Database, sqlite_url
from pmdesk.core.revisions import head_from_files
from tests.helpers.login import add_user

REPOSITORY = Path(__file__).resolve().parents[2]


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPOSITORY,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **env},
        stdin=subprocess.DEVNULL,
    )


def _migrated(path: Path) -> URL:
    url = sqlite_url(path)
    db = Database(url)
    migrate.upgrade(db)
    db.dispose()
    return url


def test_the_login_dialog_paints_before_the_database_is_ready(tmp_path: Path) -> None:
    url = _migrated(tmp_path / "start.sqlite3")
    from pmdesk.core.context import CoreContext
    from pmdesk.secrets import MemoryStore

    db = Database(url)
    add_user(CoreContext(db, MemoryStore(), tmp_path / "outbox"), "jsmets", "correct horse 42")
    db.dispose()
    done = subprocess.run(
        [sys.executable, "-m", "pmdesk", "--database", str(url)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=REPOSITORY,
        env={
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "PMDESK_EXIT_AFTER_SHOWN": "opened",
            "PMDESK_STARTUP_TRACE": "1",
        },
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    events = {
        line.split()[1]: float(line.split()[2])
        for line in done.stderr.splitlines()
        if line.startswith("pmdesk-trace ")
    }
    assert set(events) == {"dialog-shown", "database-ready", "database-opened"}
    assert events["dialog-shown"] < events["database-ready"] < events["database-opened"]


def test_login_works_before_sqlalchemy_is_loaded(tmp_path: Path) -> None:
    """A database at the newest schema with users: Login is enabled once its driver has
    answered; SQLAlchemy, the ORM and the login service load behind the enabled button."""
    url = _migrated(tmp_path / "ready.sqlite3")
    from pmdesk.core.context import CoreContext
    from pmdesk.secrets import MemoryStore

    db = Database(url)
    add_user(CoreContext(db, MemoryStore(), tmp_path / "outbox"), "jsmets", "correct horse 42")
    db.dispose()
    code = (
        "import sys\n"
        "from PySide6.QtCore import QTimer\n"
        "from pmdesk.ui.app import Launcher, application, configure_application\n"
        "qt = application()\n"
        "configure_application(qt)\n"
        f"launcher = Launcher({str(url)!r}, check_keyring=False)\n"
        "def ready():\n"
        "    loaded = sorted(m for m in ('sqlalchemy', 'alembic', 'pmdesk.core.auth') "
        "if m in sys.modules)\n"
        "    print(launcher.login.login_button.isEnabled(), loaded, flush=True)\n"
        "launcher.database_ready.connect(ready)\n"
        "launcher.database_opened.connect(lambda: qt.exit(0))\n"
        "QTimer.singleShot(0, launcher.start)\n"
        "qt.exec()\n"
        "launcher.shutdown()\n"
        "print(launcher.opened is not None and launcher.opened.schema.up_to_date)\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True []", "True"]


def test_an_up_to_date_database_opens_without_alembic(tmp_path: Path) -> None:
    url = _migrated(tmp_path / "current.sqlite3")
    code = (
        "import sys\n"
        "from pmdesk.core import migrate\n"
        "from pmdesk.core.db import Database\n"
        f"state = migrate.upgrade(Database({str(url)!r}))\n"
        "print(state.up_to_date, 'alembic' in sys.modules)\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "False"]

    # A new database still gets every migration (Alembic is loaded when there is work).
    fresh = sqlite_url(tmp_path / "fresh.sqlite3")
    done = _python(code.replace(repr(str(url)), repr(str(fresh))))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]


def test_the_newest_revision_read_from_the_files_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(migrate._config()).get_current_head()
    assert head_from_files() == head
    assert migrate.head_revision() == head


def test_pyside_no_longer_reads_every_imported_module() -> None:
    code = (
        "import inspect\n"
        "calls = []\n"
        "original = inspect.getsource\n"
        "inspect.getsource = lambda *a, **k: calls.append(a) or original(*a, **k)\n"
        "from pmdesk.ui.imports import skip_pyside_source_scan\n"
        "assert skip_pyside_source_scan()\n"
        "before = len(calls)\n"
        "import sqlalchemy.orm, pmdesk.ui.login_dialog\n"
        "from PySide6.QtWidgets import QApplication, QLabel\n"
        "app = QApplication([])\n"
        "label = QLabel('still works')\n"
        "print(len(calls) - before, label.text())\n"
    )
    done = _python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0 still works"
