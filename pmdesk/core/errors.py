"""Errors the core raises; each carries a message meant for the user."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pmdesk.core.i18n import Text, translate


class PmdeskError(Exception):
    """Base class: ``str(error)`` is a complete sentence for the user."""


class DatabaseUnavailable(PmdeskError):
    """The database cannot be reached or opened."""


class DatabaseBusy(DatabaseUnavailable):
    """The database is there but another program holds its write lock (SQLite)."""


class InvalidDatabaseUrl(PmdeskError):
    """The database URL cannot be used: malformed, an unsupported engine, or (SQLite) no file
    where one is expected."""


class DatabaseRefused(PmdeskError):
    """The database answered but refused the work: read-only, a number out of range, or no
    permission (see ``pmdesk.core.db.database_problem``). Nothing was saved."""


class NotSignedIn(PmdeskError):
    """No usable session: never signed in, or the session ended (signed out, ended by an
    administrator, expired, a lock or a new password). ``reason`` says why (for the log and
    the desktop app's message): "none", "ended", "expired", "address", "locked", "deleted" or
    "password"."""

    def __init__(self, message: str = "", reason: str = "none") -> None:
        super().__init__(message or NOT_SIGNED_IN)
        self.reason = reason


#: What a server that needs a session says when the connection presents none that holds.
NOT_SIGNED_IN = translate(
    "errors", "You are not signed in, or your session has ended: sign in again."
)


class SchemaTooNew(PmdeskError):
    """The database was migrated by a newer pmdesk."""


class ValidationError(PmdeskError):
    """One or more fields are invalid; ``errors`` maps field name to message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(joined(list(self.errors.values())))


class ConflictError(PmdeskError):
    """Someone else changed the record since it was read."""

    def __init__(self, message: str, current: object | None = None) -> None:
        super().__init__(message)
        self.current = current


class NotFound(PmdeskError):
    pass


class PermissionDenied(PmdeskError):
    pass


class LastAdministratorError(PermissionDenied):
    """The change would leave nobody able to administer security or permissions."""


def message_of(error: BaseException) -> str:
    """What ``error`` says, keeping a translatable :class:`Text` (``str(error)`` would copy it
    into a plain, English-only ``str``)."""
    if len(error.args) == 1 and isinstance(error.args[0], str):
        return error.args[0]
    return str(error)


def joined(messages: Sequence[str], separator: str = " ") -> str:
    """Texts one after another, as one text that still translates each of them (the same
    English as ``separator.join(messages)``)."""
    if len(messages) == 1:
        return messages[0]
    if not any(isinstance(m, Text) for m in messages):
        return separator.join(messages)
    fields = {f"m{i}": m for i, m in enumerate(messages)}
    pattern = separator.replace("{", "{{").replace("}", "}}").join("{" + f + "}" for f in fields)
    return Text("errors", pattern, fields)
