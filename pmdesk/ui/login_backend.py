"""What the login dialog talks to, and how it reads the times of a security code.

``LoginBackend`` is the part of ``pmdesk.core.auth.LoginService`` the dialog calls (on worker
threads); ``PendingLogin`` (pmdesk.ui.startup) stands in for it while the database opens.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QCoreApplication

if TYPE_CHECKING:
    from pmdesk.core.login_results import CodeNeeded, Refused, SignedIn

translate = QCoreApplication.translate


class LoginBackend(Protocol):
    """What the dialog needs from ``pmdesk.core.auth.LoginService`` (blocking calls, made on
    a worker thread). ``delivery_warning`` is asked once the backend is set: the sentence it
    returns (recent security codes did not go out) is shown above the form. ``get_ready`` is
    called while the password is typed (the Login then costs one round trip less on a
    hardened database)."""

    def get_ready(self, login: str) -> None: ...

    def begin(self, login: str, password: str) -> SignedIn | CodeNeeded | Refused: ...

    def verify(self, challenge_id: str, code: str, trust_this_ip: bool) -> SignedIn | Refused: ...

    def resend(self, challenge_id: str) -> CodeNeeded | Refused: ...

    def delivery_warning(self) -> str | None: ...


def seconds_from(value: object, reference: datetime | None) -> float | None:
    """Seconds from now for a number of seconds, a timedelta, or a time on the server clock."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime) and reference is not None:
        return (value - reference).total_seconds()
    return None


def format_duration(seconds: float) -> str:
    """Minutes and seconds left, "4:05", as the app's language writes a time span."""
    seconds = max(int(seconds + 0.999), 0)
    return translate("LoginCodePage", "{minutes}:{seconds}").format(
        minutes=seconds // 60, seconds=f"{seconds % 60:02d}"
    )
