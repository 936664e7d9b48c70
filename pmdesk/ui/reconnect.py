"""How the background threads say a lost connection and wait before trying again.

Shared by the expiry sweep (``pmdesk.ui.sweep``) and the change listener
(``pmdesk.ui.change_listener``): the delays double from 1 s to 30 s, and the status texts are
the same for both, so the status bar tells one story. The texts are in the app's language
(``QCoreApplication.translate`` may be called from the loops' threads).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QLocale

from pmdesk.core.db import first_line
from pmdesk.ui.translation import error_text

translate = QCoreApplication.translate


@dataclass
class Backoff:
    """Delays between reconnect attempts: ``initial_s`` doubling up to ``max_s``."""

    initial_s: float = 1.0
    max_s: float = 30.0

    def __post_init__(self) -> None:
        self._next = self.initial_s

    def next(self) -> float:
        delay = self._next
        self._next = min(self.max_s, self._next * 2)
        return delay

    def reset(self) -> None:
        self._next = self.initial_s


def seconds_text(seconds: float) -> str:
    """ "30 s", "0,5 s": the number written the app's language's way."""
    number = QLocale().toString(float(seconds), "f", 0 if seconds >= 1 else 1)
    return translate("Background", "{seconds} s").format(seconds=number)


# How long a ``status`` message stays in the status bar (its second argument, milliseconds).
FOR_A_WHILE = -1  # the window's usual few seconds
UNTIL_NEXT_MESSAGE = 0  # "connection lost": the retries come up to 30 s apart


LOST = str(QT_TRANSLATE_NOOP("Background", "Database connection lost — reconnecting in {delay}"))


def lost_message(delay_s: float) -> str:
    return translate("Background", LOST).format(delay=seconds_text(delay_s))


def is_lost_message(text: str) -> bool:
    """Whether a ``status`` text says the connection is (still) lost (in the app's language)."""
    return text.startswith(translate("Background", LOST).partition("{delay}")[0])


def failure_text(exc: BaseException) -> str:
    """The first line of what failed: the core's sentence in the app's language, else the
    driver's own words."""
    said = error_text(exc)
    if said == str(exc):
        return first_line(exc)
    return said.strip().splitlines()[0] if said.strip() else type(exc).__name__


def restored_message() -> str:
    return translate("Background", "Database connection restored")
