"""Password hashing with argon2id; parameters upgraded transparently on login."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    @property
    def _dummy(self) -> str:
        """Compared against when the login is unknown, so timing does not reveal it.

        Made on first use: hashing costs ~0.5 s, too much to pay when a service is built.
        """
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash("pmdesk-dummy-password")
        return self._dummy_hash

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._dummy, password) and bool(stored_hash)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        except UnicodeEncodeError:
            # Lone surrogates (undecodable bytes from a terminal) match no stored password.
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True


def password_problem(password: str, confirm: str | None = None) -> str | None:
    """Why this password cannot be used, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"The password must have at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"The password must have at most {MAX_PASSWORD_LENGTH} characters."
    if "\x00" in password:
        return "The password cannot contain a NUL character."
    if any("\ud800" <= ch <= "\udfff" for ch in password):
        return "The password contains bytes that are not valid text (check the input encoding)."
    if confirm is not None and confirm != password:
        return "The passwords do not match."
    return None
