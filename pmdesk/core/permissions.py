"""Who may do what: the group × module × Read/Edit/Delete grid.

Every service that reads or changes protected data calls ``require`` itself; hiding a button
in the UI is a courtesy, not the check.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmdesk.core.context import Actor
from pmdesk.core.errors import PermissionDenied
from pmdesk.core.models import GroupPermission, Person
from pmdesk.core.modules import MODULES, Action, Module

_COLUMN = {
    Action.READ: GroupPermission.can_read,
    Action.EDIT: GroupPermission.can_edit,
    Action.DELETE: GroupPermission.can_delete,
}


def can(session: Session, actor: Actor, module: Module, action: Action) -> bool:
    if actor.is_system:
        return True
    granted = session.execute(
        select(_COLUMN[action])
        .join(Person, Person.group_id == GroupPermission.group_id)
        .where(Person.id == actor.person_id, GroupPermission.module_key == module.key)
    ).scalar()
    return bool(granted)


def require(session: Session, actor: Actor, module: Module, action: Action) -> None:
    if not can(session, actor, module, action):
        verb = {Action.READ: "see", Action.EDIT: "change", Action.DELETE: "delete in"}[action]
        raise PermissionDenied(
            f"Your user group may not {verb} {module.name}. Ask an administrator to grant "
            f"{module.name} {action.value.capitalize()} in System → Permissions."
        )


def rights_of(session: Session, person_id: int) -> dict[str, set[Action]]:
    """Every module key mapped to the actions this person's group has."""
    rows = session.execute(
        select(GroupPermission)
        .join(Person, Person.group_id == GroupPermission.group_id)
        .where(Person.id == person_id)
    ).scalars()
    rights: dict[str, set[Action]] = {m.key: set() for m in MODULES}
    for row in rows:
        granted = rights.setdefault(row.module_key, set())
        if row.can_read:
            granted.add(Action.READ)
        if row.can_edit:
            granted.add(Action.EDIT)
        if row.can_delete:
            granted.add(Action.DELETE)
    return rights
