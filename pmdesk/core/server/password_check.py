"""The client's half of a password check on a hardened database (level 2 and later).

Before the sign-in transaction: the salt and parameters for the login, then argon2id on this
workstation (tens of milliseconds, never inside a transaction). Inside it: one call that says
which proof matched. The server never sees the password, only proofs useless elsewhere.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from pmdesk.core.db import Database
from pmdesk.core.passwords import Passwords, normalise, proof
from pmdesk.core.server.roles import SCHEMA

NORMAL = "normal"  # the proof of the NFKC password matched
TYPED = "typed"  # the proof of the password as typed matched (a hash made before NFKC)


@dataclass(frozen=True)
class Proofs:
    normal: str
    typed: str | None  # only when NFKC changes the password
    params: str  # the parameters the stored credential was made with
    salt: str = ""  # the salt they were made with


#: The salt of a login and the parameters of its credential (``password_salt``).
Salt = tuple[str, str]

#: How long a salt fetched while the password is typed stays usable (``SaltsAhead``).
AHEAD_FOR_S = 120.0


class SaltsAhead:
    """Salts fetched while the password is typed (``LoginService.get_ready``): the sign-in is
    then its one call. Each is used once, within ``AHEAD_FOR_S``, and the call checks on the
    server that it is still the login's (``sign_in_if_salt``). Thread-safe: the dialog fetches
    on one worker thread and signs in on another."""

    def __init__(self) -> None:
        self._kept: dict[str, tuple[float, Salt]] = {}
        self._lock = threading.Lock()

    def fetch(self, db: Database, key: str) -> None:
        salt = read_salt(db, key)
        with self._lock:
            self._kept[key] = (time.monotonic(), salt)

    def take(self, key: str) -> Salt | None:
        with self._lock:
            found = self._kept.pop(key, None)
        if found is None or time.monotonic() - found[0] > AHEAD_FOR_S:
            return None
        return found[1]


def read_salt(db: Database, key: str) -> Salt:
    """One round trip (outside any transaction: the function only reads)."""
    with db.session() as s:
        salt, params = s.execute(
            text(f"SELECT salt, params FROM {SCHEMA}.password_salt(:key)"), {"key": key}
        ).one()
    return str(salt), str(params)


def prepare(db: Database, key: str, password: str, ahead: Salt | None = None) -> Proofs:
    """The salt (``ahead``: fetched while the password was typed; else one round trip), then
    argon2id here. ``key`` is the login key (empty for a login that cannot exist: it still
    gets a salt, so that costs the same)."""
    salt, params = ahead if ahead is not None else read_salt(db, key)
    normal = normalise(password)
    try:
        return Proofs(
            normal=proof(normal, salt, params),
            typed=proof(password, salt, params) if normal != password else None,
            params=params,
            salt=salt,
        )
    except ValueError:  # parameters this client will not spend: a proof that matches nothing
        return Proofs(normal="-", typed=None, params=params, salt=salt)


def check(s: Session, person_id: int | None, proofs: Proofs) -> str | None:
    """NORMAL, TYPED or None; costs the same bcrypt for an unknown person (``None``)."""
    found = s.execute(
        text(f"SELECT {SCHEMA}.check_password(:person, :proof, :alt)"),
        {"person": person_id, "proof": proofs.normal, "alt": proofs.typed},
    ).scalar()
    return str(found) if found is not None else None


def needs_new_hash(passwords: Passwords, proofs: Proofs) -> bool:
    """Whether a new hash may be needed once the password matches (made before NFKC, or with
    other parameters than this client's): made before the transaction, so argon2 runs
    outside it; ``stale`` then says whether to store it."""
    return proofs.typed is not None or proofs.params != passwords.params_text


def stale(passwords: Passwords, proofs: Proofs, matched: str | None) -> bool:
    """Whether the credential that ``matched`` should be replaced by a new hash."""
    return matched == TYPED or (matched == NORMAL and proofs.params != passwords.params_text)
