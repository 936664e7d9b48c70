"""Small facts read straight off a person's row, shared by sign-in, lockout and sessions.

They live here so that those modules import one another in one direction only:
``auth`` → ``lockout`` → ``sessions`` → ``people``.
"""

from __future__ import annotations

from datetime import datetime

from pmdesk.core.models import Person


def display_name(person: Person) -> str:
    """The person's name as screens and messages show it: forename and lastname, else the login."""
    name = " ".join(p for p in (person.first_name, person.last_name) if p)
    return name or person.login or f"person #{person.id}"


def language_of(person: Person) -> str | None:
    """The person's Personnel language ("nl-BE"), or None when none is set (no query then)."""
    if person.language_id is None or person.language is None:
        return None
    return person.language.code


def is_locked(person: Person, now: datetime) -> bool:
    """Whether the person's account is locked at ``now`` (``pmdesk.core.lockout`` locks it)."""
    return person.locked_until is not None and person.locked_until > now
