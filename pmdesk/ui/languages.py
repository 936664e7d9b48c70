"""Which language the app speaks (issue 15): the workstation's, remembered in its settings for
the login dialog, then the signed-in person's (their Personnel "Language"), and whatever the
header's language switch chooses, saved for both.

The core and the translator are imported when called: this module loads before the login
dialog paints, when nothing of ``pmdesk.core`` may be loaded yet (tests/ui/test_app.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from pmdesk.ui.query import Query
from pmdesk.ui.tasks import TaskManager

if TYPE_CHECKING:
    from pmdesk.bootstrap import App
    from pmdesk.core.context import Actor
    from pmdesk.core.login_results import SignedIn

log = logging.getLogger(__name__)


def workstation_language() -> str:
    """The language saved in this workstation's settings (English when none can be read)."""
    from pmdesk.config import ConfigError, load_settings
    from pmdesk.core.i18n import ENGLISH, language_code
    from pmdesk.paths import app_paths

    try:
        return language_code(load_settings(app_paths().config_file).language)
    except (ConfigError, OSError) as exc:
        log.warning("The workstation's language is not known: %s", exc)
        return ENGLISH


def start_in_workstation_language() -> str:
    """Show the app, the login dialog first, in the workstation's language; returns it."""
    from pmdesk.ui.translation import install_translation

    code = workstation_language()
    install_translation(code)  # English too: the system's locale must not write the dates
    return code


def remember_on_workstation(app: App, code: str) -> None:
    """``code`` becomes the workstation's language: the next login dialog's, and the one mail
    goes out in to people without a language of their own (``CoreContext.language``)."""
    from pmdesk.config import ConfigError, save_settings

    app.context.language = code
    if app.settings.language == code:
        return
    app.settings.language = code
    try:
        save_settings(app.paths.config_file, app.settings)
    except ConfigError as exc:
        log.warning("Settings not saved: %s", exc)


def follow_person(app: App, signed_in: SignedIn) -> None:
    """After a sign-in: the person's own language, when they have one, is shown at once and
    remembered on the workstation."""
    from pmdesk.core.i18n import language_code
    from pmdesk.ui.translation import current_language, install_translation

    app.context.language = language_code(app.settings.language)
    if not signed_in.language:
        return
    code = language_code(signed_in.language)
    if code != current_language():
        install_translation(code)
    remember_on_workstation(app, code)


def save_for_person(
    owner: QObject,
    tasks: TaskManager,
    app: App,
    actor: Actor,
    code: str,
    failed: Callable[[str], None],
) -> None:
    """Save ``code`` as the signed-in person's own language, on a worker thread; ``failed``
    gets the reason, in the app's language, when it could not be saved."""

    from pmdesk.ui.translation import error_text

    def save() -> str:
        from pmdesk.core.my_language import set_my_language

        return set_my_language(app.context, actor, code)

    Query(owner, tasks, label="save my language").run(
        save, failed=lambda exc: failed(error_text(exc))
    )
