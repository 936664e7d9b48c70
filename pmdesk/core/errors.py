"""Errors the core raises; each carries a message meant for the user."""

from __future__ import annotations

from collections.abc import Mapping


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


class SchemaTooNew(PmdeskError):
    """The database was migrated by a newer pmdesk."""


class ValidationError(PmdeskError):
    """One or more fields are invalid; ``errors`` maps field name to message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(self.errors.values()))


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
