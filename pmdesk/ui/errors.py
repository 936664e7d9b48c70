"""The sentence a screen shows when a call to the core fails.

Imports only Qt, the standard library and the stdlib-only ``pmdesk.core.i18n``: the login
dialog, painted first at start-up, uses it, and must not load the rest of the core
(``pmdesk.core.errors`` is imported when an error is shown).
"""

from __future__ import annotations

import logging
import sys

from PySide6.QtCore import QCoreApplication

from pmdesk.ui.translation import error_text as core_sentence
from pmdesk.ui.translation import localize

log = logging.getLogger(__name__)
translate = QCoreApplication.translate


def error_text(exc: BaseException | object, fallback: str) -> str:
    """The core's own sentence for a PmdeskError (in the app's language); a short generic line
    (logged) otherwise.

    The generic line is ``fallback`` with the error's type name: "{fallback} (Name).", or, when
    ``fallback`` holds ``{name}``, ``fallback`` with the name put in there.
    """
    from pmdesk.core.errors import PmdeskError

    if isinstance(exc, PmdeskError):
        return core_sentence(exc)
    problem = _database_problem(exc)
    if problem is not None:
        log.warning("%s", problem, exc_info=exc if isinstance(exc, BaseException) else None)
        return localize(problem)
    name = type(exc).__name__
    if "{name}" in fallback:
        text = fallback.format(name=name)
    else:
        text = translate("errors", "{what} ({name}).").format(what=fallback, name=name)
    log.error("%s", text, exc_info=exc if isinstance(exc, BaseException) else None)
    return text


def _database_problem(exc: object) -> str | None:
    """The core's own sentence for a database refusal (read-only, a number out of range, no
    permission) that reached a screen as a driver error; None for anything else."""
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")  # never loaded here just to ask
    if sqlalchemy_exc is None or not isinstance(exc, sqlalchemy_exc.DBAPIError):
        return None
    from pmdesk.core.db import database_problem

    return database_problem(exc)
