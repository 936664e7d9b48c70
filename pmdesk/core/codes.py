"""Security codes: six digits from ``secrets``, stored only as a salted scrypt hash.

A code is checked in three steps: the typed text must be exactly six ASCII digits (no
full-width or Arabic-Indic digits, no spaces, no NUL: ``str.isdigit`` would accept some of
those), then it is hashed with the challenge's own salt, then compared with
``hmac.compare_digest``. scrypt makes an offline guess of all 10^6 codes from a copied table take
hours, longer than any code lives.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

CODE_LENGTH = 6
CODE_RE = re.compile(r"\A[0-9]{6}\Z", re.ASCII)
CHALLENGE_ID_RE = re.compile(r"\A[A-Za-z0-9_-]{16,64}\Z", re.ASCII)

# scrypt: 16 MiB, ~30-50 ms per code. Changing these invalidates only codes in flight.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SALT_BYTES = 16
_HASH_BYTES = 32


def new_code() -> str:
    """Six digits, uniformly random, zero-padded ('004271')."""
    return f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"


def new_challenge_id() -> str:
    """43 URL-safe characters (256 bits): names one login attempt."""
    return secrets.token_urlsafe(32)


def well_formed(code: object) -> bool:
    """Exactly six ASCII digits; anything else (any type, any length) is False, never raises."""
    return isinstance(code, str) and len(code) == CODE_LENGTH and bool(CODE_RE.fullmatch(code))


def well_formed_challenge_id(challenge_id: object) -> bool:
    return (
        isinstance(challenge_id, str)
        and len(challenge_id) <= 64
        and bool(CHALLENGE_ID_RE.fullmatch(challenge_id))
    )


def _digest(code: str, salt: bytes) -> bytes:
    return hashlib.scrypt(
        code.encode("ascii"),
        salt=salt,
        n=_SCRYPT_N,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        dklen=_HASH_BYTES,
        maxmem=64 * 1024 * 1024,
    )


def hash_code(code: str) -> str:
    """``salt$hash`` (hex) with a fresh random salt; the code itself is never stored."""
    if not well_formed(code):
        raise ValueError("a security code is six ASCII digits")
    salt = secrets.token_bytes(_SALT_BYTES)
    return f"{salt.hex()}${_digest(code, salt).hex()}"


def code_matches(code: object, stored: str) -> bool:
    """Whether ``code`` is the code hashed in ``stored``. Malformed input is simply False."""
    if not well_formed(code):
        return False
    assert isinstance(code, str)
    salt_hex, sep, hash_hex = stored.partition("$")
    try:
        salt = bytes.fromhex(salt_hex)
        expected = bytes.fromhex(hash_hex)
    except ValueError:
        return False
    if not sep or not salt or len(expected) != _HASH_BYTES:
        return False
    return hmac.compare_digest(_digest(code, salt), expected)
