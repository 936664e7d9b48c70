"""Security codes: six digits from ``secrets``, stored only as a salted scrypt hash.

A code is checked in three steps: the typed text must be exactly six ASCII digits (no
full-width or Arabic-Indic digits, no spaces, no NUL: ``str.isdigit`` would accept some of
those), then it is hashed with the challenge's own salt, then compared with
``hmac.compare_digest``. scrypt (4 MiB per guess) makes an offline guess of all 10^6 codes from
a copied table take about 2.5 CPU-hours, far longer than a code lives (10 minutes) unless spread
over dozens of cores; a stronger setting cost more than the rest of the login (see below).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

CODE_LENGTH = 6
#: A helpdesk one-time code (core.helpdesk): read out over the phone as 3 groups of 4. Here,
#: not there, so that the login dialog knows it without loading SQLAlchemy.
HELPDESK_CODE_DIGITS = 12
# The rules a login attempt's codes follow (auth.py and, on a hardened database, the server).
MAX_CODE_ATTEMPTS = 5
RESEND_INTERVAL = timedelta(seconds=30)
# A login attempt can be renewed with new codes, but not forever.
MAX_CHALLENGE_AGE = timedelta(hours=1)
CODE_RE = re.compile(r"\A[0-9]{6}\Z", re.ASCII)
DIGITS_RE = re.compile(r"\A[0-9]+\Z", re.ASCII)
CHALLENGE_ID_RE = re.compile(r"\A[A-Za-z0-9_-]{16,64}\Z", re.ASCII)

# scrypt: N = 2^12 with r = 8 is 4 MiB and ~9 ms per code (2^14, 16 MiB, took ~40 ms, twice per
# login: more than the rest of the two-step login together). A stored hash names its N, so
# changing it never breaks a code in flight; hashes without one were made with 2^14.
_SCRYPT_N = 2**12
_LEGACY_SCRYPT_N = 2**14
_MAX_SCRYPT_N = 2**20
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


def well_formed(code: object, length: int = CODE_LENGTH) -> bool:
    """Exactly ``length`` (six) ASCII digits; anything else (any type, any length) is False,
    never raises."""
    return (
        isinstance(code, str)
        and len(code) == length
        and code.isascii()
        and bool(DIGITS_RE.fullmatch(code))
    )


def well_formed_challenge_id(challenge_id: object) -> bool:
    return (
        isinstance(challenge_id, str)
        and len(challenge_id) <= 64
        and bool(CHALLENGE_ID_RE.fullmatch(challenge_id))
    )


def _digest(code: str, salt: bytes, n: int) -> bytes:
    return hashlib.scrypt(
        code.encode("ascii"),
        salt=salt,
        n=n,
        r=_SCRYPT_R,
        p=_SCRYPT_P,
        dklen=_HASH_BYTES,
        maxmem=64 * 1024 * 1024,
    )


def hash_code(code: str, length: int = CODE_LENGTH) -> str:
    """``n<N>$salt$hash`` (hex) with a fresh random salt; the code itself is never stored.
    ``length``: the digits of the code (six; a helpdesk code has more)."""
    if not well_formed(code, length):
        raise ValueError(f"a code here is {length} ASCII digits")
    salt = secrets.token_bytes(_SALT_BYTES)
    n = _SCRYPT_N
    return f"n{n}${salt.hex()}${_digest(code, salt, n).hex()}"


def code_matches(code: object, stored: str, length: int = CODE_LENGTH) -> bool:
    """Whether ``code`` is the code hashed in ``stored``. Malformed input is simply False."""
    if not well_formed(code, length):
        return False
    assert isinstance(code, str)
    parts = stored.split("$")
    n = _LEGACY_SCRYPT_N
    if len(parts) == 3 and parts[0].startswith("n") and parts[0][1:].isdigit():
        n = int(parts[0][1:])
        parts = parts[1:]
    if len(parts) != 2 or not 2 <= n <= _MAX_SCRYPT_N or n & (n - 1):
        return False
    try:
        salt = bytes.fromhex(parts[0])
        expected = bytes.fromhex(parts[1])
    except ValueError:
        return False
    if not salt or len(expected) != _HASH_BYTES:
        return False
    return hmac.compare_digest(_digest(code, salt, n), expected)
