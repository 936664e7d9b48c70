"""The client's half of a password check on a hardened database (level 2 and later).

Before the sign-in transaction: the salt and parameters for the login, then argon2id on this
workstation (tens of milliseconds, never inside a transaction). Inside it: one call that says
which proof matched. The server never sees the password, only proofs useless elsewhere.
"""

from __future__ import annotations

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


def prepare(db: Database, key: str, password: str) -> Proofs:
    """One round trip for the salt, then argon2id here. ``key`` is the login key (empty for a
    login that cannot exist: it still gets a salt, so that costs the same)."""
    with db.session() as s:
        salt, params = s.execute(
            text(f"SELECT salt, params FROM {SCHEMA}.password_salt(:key)"), {"key": key}
        ).one()
    normal = normalise(password)
    try:
        return Proofs(
            normal=proof(normal, str(salt), str(params)),
            typed=proof(password, str(salt), str(params)) if normal != password else None,
            params=str(params),
        )
    except ValueError:  # parameters this client will not spend: a proof that matches nothing
        return Proofs(normal="-", typed=None, params=str(params))


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
