"""Quick staff and group records for tests of the admin services (no argon2 cost)."""

from __future__ import annotations

from pmdesk.core.clock import DatabaseClock
from pmdesk.core.context import Actor
from pmdesk.core.db import Database
from pmdesk.core.models import GroupPermission, Person, UserGroup
from pmdesk.core.modules import MODULES
from pmdesk.core.types import search_text
from pmdesk.core.validation import login_key
from tests.helpers.databases import stage

ADMIN_GROUP_ID = 1  # the seeded Administrator group: every right
# A well-formed argon2id hash (cheap parameters) of a random password nobody knows: the person
# has a password, but no test can sign in with it. Well-formed, because a hardened database
# refuses anything else in password_hash.
FAKE_HASH = (
    "$argon2id$v=19$m=1024,t=1,p=1$x3MukCkoVSHa5W/czQiETA$"
    "bU8qBwFR9f03wtjDoEEGXgj6yhO/DxCNur21/hSgdMk"
)


def add_group(db: Database, name: str, rights: dict[str, str] | None = None) -> int:
    """A group; ``rights`` maps module key to any of 'r', 'e', 'd' (e.g. {'system': 're'})."""
    with stage(db) as s:
        group = UserGroup(name=name, name_key=name.lower())
        s.add(group)
        s.flush()
        for module in MODULES:
            granted = (rights or {}).get(module.key, "")
            s.add(
                GroupPermission(
                    group_id=group.id,
                    module_key=module.key,
                    can_read="r" in granted,
                    can_edit="e" in granted,
                    can_delete="d" in granted,
                )
            )
        return group.id


def add_person(
    db: Database,
    login: str | None,
    *,
    group_id: int | None = ADMIN_GROUP_ID,
    email: str | None = None,
    password: bool = True,
    first_name: str = "",
    last_name: str = "",
    phone: str = "",
    mobile: str = "",
) -> int:
    with stage(db) as s:
        now = DatabaseClock().now(s)
        person = Person(
            login=login,
            login_key=login_key(login) if login else None,
            password_hash=FAKE_HASH if password and login else None,
            group_id=group_id,
            email=f"{login}@example.com" if email is None and login else email or "",
            first_name=first_name,
            first_name_key=search_text(first_name),
            last_name=last_name or (login or "Nobody"),
            last_name_key=search_text(last_name or (login or "Nobody")),
            phone=phone,
            mobile=mobile,
            created_at=now,
            updated_at=now,
        )
        s.add(person)
        s.flush()
        return person.id


def actor(person_id: int, name: str = "", address: str | None = "10.0.0.9") -> Actor:
    return Actor(name=name or f"person {person_id}", person_id=person_id, address=address)
