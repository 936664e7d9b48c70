"""The sentence a screen shows when a call to the core fails.

Imports only Qt and the standard library: the login dialog, painted first at start-up, uses it,
and must not load the core (``pmdesk.core.errors`` is imported when an error is shown).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QCoreApplication

log = logging.getLogger(__name__)


def error_text(exc: BaseException | object, fallback: str) -> str:
    """The core's own sentence for a PmdeskError; a short generic line (logged) otherwise.

    The generic line is ``fallback`` with the error's type name: "{fallback} (Name).", or, when
    ``fallback`` holds ``{name}``, ``fallback`` with the name put in there.
    """
    from pmdesk.core.errors import PmdeskError

    if isinstance(exc, PmdeskError):
        return str(exc)
    name = type(exc).__name__
    if "{name}" in fallback:
        text = fallback.format(name=name)
    else:
        text = QCoreApplication.translate("errors", "{what} ({name}).").format(
            what=fallback, name=name
        )
    log.error("%s", text, exc_info=exc if isinstance(exc, BaseException) else None)
    return text
