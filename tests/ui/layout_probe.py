"""The layout probe: every screen and dialog of pmdesk, in each language, checked for texts that
do not fit (tests/helpers/text_fit.py), on a 1024 × 768 screen (issue 15, point 5).

Qt's scale factor is fixed when the QApplication is made, so the probe runs in a process of its
own for each scale; tests/ui/test_layout_languages.py starts it and reads its report::

    scripts/with-test-env .venv/bin/python -m tests.ui.layout_probe --scale 2 --report DIR

writes ``DIR/<language>.json``: the language and its problems, one readable line each. Without
``--report`` a problem fails the probe's test (pytest's output lists them).

The probe also captures the main screens (tests/ui/screenshots.py); with ``PMDESK_SCREENSHOTS=1``
the Dutch and French ones land in docs/screenshots/nl/ and docs/screenshots/fr/ (the English
ones are the screenshot tour's, tests/ui/test_app_screenshots.py)::

    PMDESK_SCREENSHOTS=1 scripts/with-test-env .venv/bin/python -m tests.ui.layout_probe \\
        --languages nl-BE fr-BE

This file is no test module of its own (its name does not start with ``test_``): pytest runs it
only when it is named, as above.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from PySide6.QtCore import QRect
from PySide6.QtWidgets import QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.context import Actor
from pmdesk.core.i18n import ENGLISH, SUPPORTED_LANGUAGES
from pmdesk.core.models import Person
from pmdesk.core.personnel import PersonForm, PersonnelService
from pmdesk.core.security import ShutOutPerson
from pmdesk.core.trusted_ips import TrustedIpService
from pmdesk.ui import window_geometry
from pmdesk.ui.first_run import FirstRunDialog
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.main_window import MainWindow
from pmdesk.ui.page_context import Session
from pmdesk.ui.personnel.address import AddressDialog
from pmdesk.ui.personnel.view import PersonnelPage
from pmdesk.ui.system.log import LogPage
from pmdesk.ui.system.permission_grid import GroupNameDialog
from pmdesk.ui.system.permissions import PermissionsPage
from pmdesk.ui.system.readiness import ReadinessDialog
from pmdesk.ui.system.security import SecurityPage
from pmdesk.ui.system.trace_dialog import TraceDialog
from pmdesk.ui.tasks import TaskManager
from pmdesk.ui.translation import install_translation
from tests.helpers.login import cheap_passwords
from tests.helpers.qt import log_idle, permissions_idle, personnel_idle, security_idle
from tests.helpers.text_fit import text_problems
from tests.ui.conftest import add_login
from tests.ui.screenshots import (
    DOCS_DIR,
    capture,
    fill_in_login,
    language_dir,
    open_helpdesk_code,
    screenshot_dir,
    settle,
)
from tests.ui.system_pages import open_page

#: The screen the probe plays, in logical pixels (at 200% a 2048 × 1536 one).
SCREEN = QRect(0, 0, 1024, 768)
LANGUAGES_ENV = "PMDESK_LAYOUT_LANGUAGES"
REPORT_ENV = "PMDESK_LAYOUT_REPORT"
HOME = "83.134.100.157"
SYSTEM = Actor.system("layout probe")
PEOPLE = [
    ("Peeters", "Sofie", "speeters", "sofie.peeters@garage-peeters.be"),
    ("Janssens", "Luc", "ljanssens", "luc@janssens.be"),
    ("Dubois", "Camille", "", "camille.dubois@example.be"),
    ("Vandenberghe-Van Damme", "Marie-Christine", "", "mc.vandenberghe@example.be"),
]


def _languages() -> list[str]:
    chosen = os.environ.get(LANGUAGES_ENV, "").split()
    return chosen or list(SUPPORTED_LANGUAGES)


class Probe:
    """The problems found so far in one language, and the screenshots taken."""

    def __init__(self, qtbot: QtBot, language: str, folder: Path) -> None:
        self.qtbot = qtbot
        self.language = language
        self.folder = language_dir(folder, language)
        self.problems: list[str] = []

    def check(self, screen: str, window: QWidget, shot: str = "") -> None:
        """Every text of ``window`` fits; ``shot``: also saved as that screenshot (in
        docs/screenshots/ only the Dutch and French ones: the English are the tour's)."""
        settle(40)
        self.problems += [f"[{screen}] {line}" for line in text_problems(window)]
        if shot and not (self.language == ENGLISH and self.folder == DOCS_DIR):
            capture(window, shot, self.folder)

    def show(self, dialog: QWidget) -> None:
        self.qtbot.addWidget(dialog)
        dialog.show()
        self.qtbot.waitExposed(dialog)


@pytest.fixture
def small_screen(monkeypatch: pytest.MonkeyPatch) -> None:
    """The main window sizes itself for a 1024 × 768 screen, whatever the platform's."""
    monkeypatch.setattr(window_geometry, "available_area", lambda _widget: QRect(SCREEN))


@pytest.fixture
def translated(language: str) -> Iterator[str]:
    assert install_translation(language), f"no catalogue for {language}"
    yield language
    install_translation(ENGLISH)


@pytest.mark.parametrize("language", _languages())
@pytest.mark.usefixtures("small_screen", "translated")
def test_probe(
    qtbot: QtBot,
    language: str,
    ui_app: App,
    admin_id: int,
    admin_session: Session,
    tasks: TaskManager,
    tmp_path: Path,
) -> None:
    probe = Probe(qtbot, language, screenshot_dir(tmp_path / "screenshots"))
    people = _seed(ui_app, admin_id)
    _login(probe, ui_app, tasks)
    _first_run(probe, ui_app, tasks)
    window = MainWindow(ui_app, admin_session, tasks, passwords=cheap_passwords())
    probe.show(window)
    size = window.frameGeometry().size()
    if size.width() > SCREEN.width() or size.height() > SCREEN.height():
        probe.problems.append(f"[main window] {size.toTuple()} is larger than the screen")
    _pages(probe, window, people)
    _personnel_dialogs(probe, window, ui_app, people)
    _other_dialogs(probe, ui_app, admin_id, tasks)
    tasks.cancel_all()
    report(language, probe.problems, window.devicePixelRatioF())


def report(language: str, problems: list[str], ratio: float) -> None:
    """Into ``$PMDESK_LAYOUT_REPORT/<language>.json`` when the test asks (with the device pixel
    ratio the screens had, so the caller knows the scale took); else fail here."""
    folder = os.environ.get(REPORT_ENV)
    if folder:
        path = Path(folder) / f"{language}.json"
        found = {"language": language, "ratio": ratio, "problems": problems}
        path.write_text(json.dumps(found), "utf-8")
        return
    assert not problems, f"{len(problems)} texts do not fit in {language}:\n" + "\n".join(problems)


# ----- the data the screens show -----------------------------------------------------------------


def _seed(app: App, admin_id: int) -> dict[str, int]:
    """People (two with a login, one of them locked out), trusted addresses and so a log with
    rows."""
    service = PersonnelService(app.context)
    found = {"jsmets": admin_id}
    for number, (last, first, login, email) in enumerate(PEOPLE, start=2):
        if login:
            found[login] = add_login(
                app, login, "correct horse 42", first_name=first, last_name=last, email=email
            )
            continue
        form = PersonForm(last_name=last, first_name=first, number=f"E{number:04}", email=email)
        found[last] = service.create(SYSTEM, form).id
    trusted = TrustedIpService(app.context)
    for who, address in (("speeters", HOME), ("ljanssens", HOME), ("ljanssens", "192.0.2.44")):
        trusted.trust_by_admin(SYSTEM, found[who], address)
    with app.db.session() as s:  # locked out, as the sign-in locks: Security's "Locked now"
        person = s.get(Person, found["ljanssens"])
        assert person is not None
        person.locked_until = app.context.clock.now(s) + timedelta(minutes=4)
        person.failed_logins = 10
    return found


# ----- the screens -------------------------------------------------------------------------------


def _login(probe: Probe, app: App, tasks: TaskManager) -> None:
    """The login dialog: its password page, then its code page (a code sent)."""
    dialog = LoginDialog(tasks)
    probe.show(dialog)
    fill_in_login(dialog, app)
    probe.check("login", dialog, "login")
    dialog.login_button.click()
    probe.qtbot.waitUntil(lambda: dialog.step == dialog.CODE and not dialog.busy.running)
    dialog.code_edit.setText("123")
    probe.check("login code", dialog, "login-code")
    dialog.reject()


def _first_run(probe: Probe, app: App, tasks: TaskManager) -> None:
    """The first-run dialog, empty and with its messages."""
    dialog = FirstRunDialog(app.context, 1, tasks, passwords=cheap_passwords())
    probe.show(dialog)
    probe.check("first run", dialog, "first-run")
    dialog.editor("login").setText("jsmets")
    dialog.editor("email").setText("jm@insypro")
    dialog.editor("password").setText("short")
    dialog.editor("password_confirm").setText("shorter")
    dialog.submit()
    probe.check("first run, errors", dialog)
    dialog.reject()


def _loaded(window: MainWindow, page: QWidget) -> bool:
    """A page has nothing running, and its list has rows where it shows one."""
    if isinstance(page, PersonnelPage):
        return personnel_idle(page)
    if isinstance(page, PermissionsPage):
        return permissions_idle(page)
    if isinstance(page, SecurityPage):
        return security_idle(page) and page.model.rowCount() > 0
    if isinstance(page, LogPage):
        return log_idle(page) and page.model.rowCount() > 0
    return window.tasks.is_idle()


_SHOTS = {
    "personnel": "main-window-personnel",
    "permissions": "permissions",
    "security": "security",
    "log": "log",
}


def _pages(probe: Probe, window: MainWindow, people: dict[str, int]) -> None:
    """Every page of the main window, each loaded (Personnel with a person open)."""
    for key in window.pages:
        page = open_page(probe.qtbot, window, key)
        probe.qtbot.waitUntil(partial(_loaded, window, page), timeout=10_000)
        if isinstance(page, PersonnelPage):
            page.open_person(people["speeters"])
            probe.qtbot.waitUntil(partial(_person_open, page))
        probe.check(key, window, _SHOTS.get(key, ""))


def _person_open(page: PersonnelPage) -> bool:
    return page.editor.record is not None and personnel_idle(page)


def _visible_box(window: QWidget) -> QMessageBox:
    boxes = [box for box in window.findChildren(QMessageBox) if box.isVisible()]
    assert boxes, "no message box shown"
    return boxes[-1]


def _personnel_dialogs(probe: Probe, window: MainWindow, app: App, people: dict[str, int]) -> None:
    """Personnel's dialogs: the helpdesk code, the address, deleting, a conflict, and the
    main window's question about unsaved changes."""
    qtbot = probe.qtbot
    page = open_page(qtbot, window, "personnel")
    assert isinstance(page, PersonnelPage)
    page.open_person(people["speeters"])
    qtbot.waitUntil(partial(_person_open, page))
    code = open_helpdesk_code(qtbot, page)
    probe.check("helpdesk code", code)
    code.issue_button.click()
    qtbot.waitUntil(lambda: code.boxes["reason"].error.isVisible())
    probe.check("helpdesk code, no reason", code)
    code.reason_edit.setText("Ticket 4711: phone lost on a customer visit")
    code.issue_button.click()
    qtbot.waitUntil(lambda: code.pages.currentIndex() == 1)
    probe.check("helpdesk code, issued", code, "personnel-helpdesk-code")
    code.close_button.click()
    qtbot.waitUntil(lambda: personnel_idle(page))

    page.editor.edit_address()
    address = page.editor.findChild(AddressDialog)
    assert address is not None
    qtbot.waitExposed(address)
    probe.check("address", address)
    address.reject()

    page.person_actions.delete()
    box = _visible_box(window)
    probe.check("delete question", box)
    box.reject()

    _conflict(probe, window, page, app, people["speeters"])
    window.request_sign_out()  # the form keeps unsaved changes: asks first
    box = _visible_box(window)
    probe.check("unsaved changes question", box)
    box.reject()


def _conflict(
    probe: Probe, window: MainWindow, page: PersonnelPage, app: App, person_id: int
) -> None:
    """Saving over a change made on another workstation: the conflict dialog."""
    page.editor.edits["phone"].setText("+32 9 234 56 78")
    page.editor.edits["number"].setText("A-17")
    service = PersonnelService(app.context)
    other = Actor.system("other workstation")
    theirs = service.get(other, person_id)
    form = PersonForm(**{**theirs.form.__dict__, "number": "B-99", "mobile": "+32 470 12 34 56"})
    service.update(other, person_id, theirs.version, form)
    page.editor.changed.emit()
    page.save()
    probe.qtbot.waitUntil(lambda: page.conflict_dialog is not None)
    dialog = page.conflict_dialog
    assert dialog is not None
    probe.qtbot.waitExposed(dialog)
    probe.check("conflict", dialog, "personnel-conflict")
    dialog.reject()


def _other_dialogs(probe: Probe, app: App, admin_id: int, tasks: TaskManager) -> None:
    """The trace of an address, the two-step readiness list and a group's name."""
    actor = Actor("jsmets", person_id=admin_id, address="192.0.2.10")
    trace = TraceDialog(app.context, actor, tasks, HOME)
    probe.show(trace)
    probe.qtbot.waitUntil(lambda: trace.trace is not None or trace.message.isVisible())
    probe.check("trace", trace, "security-trace")
    trace.reject()
    shut_out = [ShutOutPerson(i, f"user{i}", f"Person {i}", "no e-mail address") for i in range(12)]
    dialogs: list[tuple[str, QWidget]] = [
        ("two-step readiness", ReadinessDialog(shut_out, "E-mail")),
        ("group name", GroupNameDialog("New user group", "Create")),
    ]
    for name, dialog in dialogs:
        probe.show(dialog)
        probe.check(name, dialog)
        dialog.close()


# ----- run as a program: one scale, in a process of its own ---------------------------------


def _screen_config(scale: float) -> str:
    """An offscreen screen of 1024 × 768 logical pixels at ``scale``."""
    screen = {
        "screens": [
            {
                "name": "probe",
                "x": 0,
                "y": 0,
                "width": round(SCREEN.width() * scale),
                "height": round(SCREEN.height() * scale),
                "dpr": 1,
            }
        ]
    }
    config = Path(tempfile.mkdtemp(prefix="pmdesk-probe-")) / "screen.json"
    config.write_text(json.dumps(screen), encoding="utf-8")
    return f"offscreen:configfile={config}"


def command(
    scale: float, languages: list[str], report: str = "", more: tuple[str, ...] = ()
) -> tuple[list[str], dict[str, str]]:
    """The pytest run of this file at ``scale`` (a fresh process: Qt reads its scale factor and
    screen once), and its environment."""
    env = {**os.environ, "QT_QPA_PLATFORM": _screen_config(scale)}
    env[LANGUAGES_ENV] = " ".join(languages)
    env.pop("QT_SCALE_FACTOR", None)
    if scale != 1:
        env["QT_SCALE_FACTOR"] = f"{scale:g}"
    if "--pg-hardened" not in more:
        # The screens run on the embedded database: no server databases made and migrated for
        # the run (a closed port answers at once).
        env["PMDESK_TEST_POSTGRES_URL"] = "postgresql+psycopg://postgres@127.0.0.1:9/postgres"
        env["PMDESK_TEST_MARIADB_URL"] = "mysql+pymysql://root@127.0.0.1:9/mysql"
    env.pop(REPORT_ENV, None)
    if report:
        env[REPORT_ENV] = report
    options = ["-q", "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:xdist"]
    return [sys.executable, "-m", "pytest", *options, *more, __file__], env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.ui.layout_probe", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="Qt's scale factor (2: 200%%)")
    parser.add_argument("--languages", nargs="+", default=list(SUPPORTED_LANGUAGES))
    parser.add_argument("--report", default="", help="a folder: <language>.json there, no fail")
    parser.add_argument("pytest_args", nargs="*", help="more for pytest (after --)")
    args = parser.parse_args(argv)
    argv_, env = command(args.scale, args.languages, args.report, tuple(args.pytest_args))
    return subprocess.run(argv_, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
