"""How the background threads say a lost connection and wait before trying again.

Shared by the expiry sweep (``pmdesk.ui.sweep``) and the change listener
(``pmdesk.ui.change_listener``): the delays double from 1 s to 30 s, and the status texts are
the same for both, so the status bar tells one story.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds:.1f} s"


# How long a ``status`` message stays in the status bar (its second argument, milliseconds).
FOR_A_WHILE = -1  # the window's usual few seconds
UNTIL_NEXT_MESSAGE = 0  # "connection lost": the retries come up to 30 s apart


LOST_PREFIX = "Database connection lost"


def lost_message(delay_s: float) -> str:
    return f"{LOST_PREFIX} — reconnecting in {seconds_text(delay_s)}"


def is_lost_message(text: str) -> bool:
    """Whether a ``status`` text says the connection is (still) lost."""
    return text.startswith(LOST_PREFIX)
