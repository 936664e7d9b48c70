"""Render screens off screen into PNG files, to look at them (docs/screenshots/).

``capture(widget, name)`` grabs a widget as it is painted. Where the files go:

- ``PMDESK_SCREENSHOTS=1``: ``docs/screenshots/`` in the repository (commit them when a screen
  changed on purpose);
- ``PMDESK_SCREENSHOTS=/some/folder``: that folder;
- unset: the test's temporary folder (the screens are still rendered and checked).

At a device pixel ratio other than 1 (``QT_SCALE_FACTOR=2``) the file name gets ``@2x``::

    QT_QPA_PLATFORM=offscreen PMDESK_SCREENSHOTS=1 pytest tests/ui/test_app_screenshots.py
    QT_SCALE_FACTOR=2 QT_QPA_PLATFORM=offscreen PMDESK_SCREENSHOTS=1 \\
        pytest tests/ui/test_app_screenshots.py

The English screens go in ``docs/screenshots/`` itself, the Dutch and French ones in its
``nl/`` and ``fr/`` folders (``language_dir``), made from the shipped translations by the
layout probe (tests/ui/layout_probe.py)::

    PMDESK_SCREENSHOTS=1 scripts/with-test-env .venv/bin/python -m tests.ui.layout_probe \\
        --languages nl-BE fr-BE
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QEventLoop, QTimer
from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from pmdesk.bootstrap import App
from pmdesk.core.auth import LoginService
from pmdesk.ui.login_dialog import LoginDialog
from pmdesk.ui.personnel.helpdesk_dialog import HelpdeskCodeDialog
from pmdesk.ui.personnel.view import PersonnelPage
from tests.helpers.login import CollectingDelivery, cheap_passwords, enable_two_factor

REPOSITORY = Path(__file__).resolve().parents[2]
DOCS_DIR = REPOSITORY / "docs" / "screenshots"


def screenshot_dir(default: Path) -> Path:
    value = os.environ.get("PMDESK_SCREENSHOTS", "").strip()
    if not value:
        folder = default
    elif value == "1":
        folder = DOCS_DIR
    else:
        folder = Path(value).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def language_dir(folder: Path, language: str) -> Path:
    """Where the screens in ``language`` go: ``folder`` for English, ``folder/nl`` for Dutch,
    ``folder/fr`` for French."""
    if language == "en-GB":
        return folder
    sub = folder / language.split("-")[0]
    sub.mkdir(parents=True, exist_ok=True)
    return sub


def settle(ms: int = 30) -> None:
    """Let pending layout and paint events run (an event loop, not a processEvents spin)."""
    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()
    QCoreApplication.sendPostedEvents()


def capture(widget: QWidget, name: str, folder: Path) -> Path:
    """Save ``widget`` as ``<name>.png`` (``<name>@2x.png`` at a device pixel ratio of 2)."""
    settle()
    image = widget.grab()
    ratio = image.devicePixelRatio()
    suffix = "" if ratio == 1 else f"@{ratio:g}x"
    path = folder / f"{name}{suffix}.png"
    if not image.save(str(path)):
        raise OSError(f"Could not write {path}")
    return path


def fill_in_login(dialog: LoginDialog, app: App) -> CollectingDelivery:
    """The login dialog as pictured: two-step sign-in on, the administrator's login and password
    typed (clicking Sign in then sends a code, collected in the returned delivery)."""
    delivery = CollectingDelivery()
    enable_two_factor(app.context)
    dialog.set_backend(
        LoginService(app.context, delivery_factory=delivery.factory, passwords=cheap_passwords())
    )
    dialog.username_edit.setText("jsmets")
    dialog.password_edit.setText("correct horse 42")
    return delivery


def open_helpdesk_code(qtbot: QtBot, page: PersonnelPage) -> HelpdeskCodeDialog:
    """Click "Issue helpdesk code" on the person open in ``page``; the dialog, shown."""
    row = page.editor.helpdesk_row
    qtbot.waitUntil(lambda: row.issue_button.isVisibleTo(page.editor))
    row.issue_button.click()
    qtbot.waitUntil(lambda: page.person_actions.code_dialog is not None)
    dialog = page.person_actions.code_dialog
    assert dialog is not None
    qtbot.waitExposed(dialog)
    return dialog
