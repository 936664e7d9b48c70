"""A keyring backend that behaves like a locked system keyring (the user has not unlocked their
session's keyring yet). Selected in a subprocess with
``PYTHON_KEYRING_BACKEND=tests.reliability.locked_keyring.LockedKeyring``."""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked


class LockedKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("the collection is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked("the collection is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("the collection is locked")
