"""Password hashing with argon2id; parameters upgraded transparently on login.

Passwords are normalised to Unicode NFKC before they are hashed, checked or measured (NIST SP
800-63B §5.1.1.2): "é" typed as one character or as "e" and a combining accent is the same
password, and so are full-width and ordinary letters. Hashes made before normalisation (of the
password exactly as typed) still verify; ``needs_rehash(stored, password)`` then says to store
a hash of the normalised form.
"""

from __future__ import annotations

import base64
import re
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from argon2.low_level import Type, hash_secret_raw

from pmdesk.core.i18n import translate

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024

_DUMMY_PASSWORD = "pmdesk-dummy-password"
# A hash of _DUMMY_PASSWORD with argon2-cffi's default parameters (argon2id, m=64 MiB, t=3,
# p=4): made once, so that the very first unknown login costs one argon2 check, like a wrong
# password. A hasher with other parameters makes its own dummy hash when the Passwords is built.
_DEFAULT_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$7hGpc5kuH917incgFBDr6w$"
    "NYOO6ag3KwCFAbTwvMwt6ByQHsoxnDqCSDE6nqAJLBY"
)


def normalise(password: str) -> str:
    """The form a password is hashed and measured in: NFKC (NIST SP 800-63B §5.1.1.2)."""
    return unicodedata.normalize("NFKC", password)


class Passwords:
    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        # Compared against when the login is unknown, so timing does not tell it apart. Ready
        # before the first login: made lazily, the first unknown login cost a hash more.
        self._dummy = (
            _DEFAULT_DUMMY_HASH
            if not self._outdated(_DEFAULT_DUMMY_HASH)
            else self._hasher.hash(_DUMMY_PASSWORD)
        )

    @property
    def params_text(self) -> str:
        """This hasher's parameters as a PHC string writes them: ``m=65536,t=3,p=4``."""
        h = self._hasher
        return f"m={h.memory_cost},t={h.time_cost},p={h.parallelism}"

    def hash(self, password: str) -> str:
        return self._hasher.hash(normalise(password))

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` (normalised, or as typed for a hash made before
        normalisation) matches; an unknown login (None) costs the same and is False."""
        target = stored_hash or self._dummy
        normal = normalise(password)
        matched = self._matches(target, normal)
        if not matched and normal != password:
            matched = self._matches(target, password)
        return matched and bool(stored_hash)

    def needs_rehash(self, stored_hash: str, password: str | None = None) -> bool:
        """Whether a verified hash should be replaced: made with older parameters or, given
        the ``password`` that matched, of its form as typed rather than normalised."""
        if self._outdated(stored_hash):
            return True
        if password is None:
            return False
        normal = normalise(password)
        return normal != password and not self._matches(stored_hash, normal)

    def _outdated(self, stored_hash: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True

    def _matches(self, stored_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        except UnicodeEncodeError:
            # Lone surrogates (undecodable bytes from a terminal) match no stored password.
            return False


def proof(password: str, salt_b64: str, params: str) -> str:
    """The raw argon2id output for ``password`` with a served salt and parameters, as the last
    field of a PHC string holds it (unpadded base64): what a hardened server checks. Refuses
    parameters beyond what this client will spend (a hostile server must not exhaust memory)."""
    found = _PARAMS.fullmatch(params)
    if found is None:
        raise ValueError("unusable password parameters")
    memory, time, lanes = (int(v) for v in found.groups())
    if not (8 * lanes <= memory <= 1_048_576 and 1 <= time <= 10 and 1 <= lanes <= 8):
        raise ValueError("password parameters out of bounds")
    salt = base64.b64decode(salt_b64 + "=" * (-len(salt_b64) % 4))
    raw = hash_secret_raw(
        password.encode("utf-8"),
        salt,
        time_cost=time,
        memory_cost=memory,
        parallelism=lanes,
        hash_len=32,
        type=Type.ID,
        version=19,
    )
    return base64.b64encode(raw).decode("ascii").rstrip("=")


_PARAMS = re.compile(r"m=([0-9]{1,7}),t=([0-9]{1,2}),p=([0-9]{1,2})")


def password_problem(password: str, confirm: str | None = None) -> str | None:
    """Why this password cannot be used, or None. Lengths count the normalised password."""
    normal = normalise(password)
    if len(normal) < MIN_PASSWORD_LENGTH:
        return translate("passwords", "The password must have at least {count} characters.").format(
            count=MIN_PASSWORD_LENGTH
        )
    if len(normal) > MAX_PASSWORD_LENGTH:
        return translate("passwords", "The password must have at most {count} characters.").format(
            count=MAX_PASSWORD_LENGTH
        )
    if "\x00" in normal:
        return translate("passwords", "The password cannot contain a NUL character.")
    if any("\ud800" <= ch <= "\udfff" for ch in normal):
        return translate(
            "passwords",
            "The password contains bytes that are not valid text (check the input encoding).",
        )
    if confirm is not None and normalise(confirm) != normal:
        return translate("passwords", "The passwords do not match.")
    return None
