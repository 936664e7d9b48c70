"""User groups and their permission grid (System → Permissions)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pmdesk.core.models import Person, UserGroup


@dataclass(frozen=True)
class GroupSummary:
    id: int
    name: str
    members: int


def list_groups(s: Session) -> list[GroupSummary]:
    members = (
        select(Person.group_id, func.count(Person.id).label("n"))
        .group_by(Person.group_id)
        .subquery()
    )
    rows = s.execute(
        select(UserGroup.id, UserGroup.name, func.coalesce(members.c.n, 0))
        .outerjoin(members, members.c.group_id == UserGroup.id)
        .order_by(UserGroup.name)
    ).all()
    return [GroupSummary(r[0], r[1], int(r[2])) for r in rows]


def find_group(s: Session, name: str) -> UserGroup | None:
    return s.execute(
        select(UserGroup).where(UserGroup.name_key == name.strip().lower())
    ).scalar_one_or_none()
