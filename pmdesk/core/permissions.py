"""Who may do what: the group × module × Read/Edit/Delete grid.

Every service that reads or changes protected data calls ``require`` itself; hiding a button
in the UI is a courtesy, not the check.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    exists,
    false,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.orm import QueryableAttribute, Session, aliased

from pmdesk.core.context import Actor
from pmdesk.core.errors import LastAdministratorError, PermissionDenied, joined
from pmdesk.core.i18n import Text, translate
from pmdesk.core.models import GroupPermission, Person
from pmdesk.core.modules import MODULES, SYSTEM, SYSTEM_SECURITY, Action, Module

#: A right as the refusals name it (the grid's column titles).
ACTION_NAMES: dict[Action, Text] = {
    Action.READ: translate("permissions", "Read"),
    Action.EDIT: translate("permissions", "Edit"),
    Action.DELETE: translate("permissions", "Delete"),
}
_REFUSALS: dict[Action, Text] = {
    Action.READ: translate(
        "permissions",
        "Your user group may not see {module}. Ask an administrator to grant {module} {right} "
        "in System → Permissions.",
    ),
    Action.EDIT: translate(
        "permissions",
        "Your user group may not change {module}. Ask an administrator to grant {module} {right} "
        "in System → Permissions.",
    ),
    Action.DELETE: translate(
        "permissions",
        "Your user group may not delete in {module}. Ask an administrator to grant {module} "
        "{right} in System → Permissions.",
    ),
}

_COLUMN = {
    Action.READ: GroupPermission.can_read,
    Action.EDIT: GroupPermission.can_edit,
    Action.DELETE: GroupPermission.can_delete,
}


def can(session: Session | Connection, actor: Actor, module: Module, action: Action) -> bool:
    if actor.is_system:
        return True
    return bool(session.execute(select(granted_to(actor.person_id, module, action))).scalar())


def granted_to(person_id: Any, module: Module, action: Action) -> ColumnElement[bool]:
    """``can`` as a condition of the query that reads (``person_id``: a value or a bound
    parameter): the right is checked by the same statement, in one round trip. A query with
    this condition that finds nothing must call ``require`` to tell "nothing there" from "not
    allowed". (A system actor needs no condition: leave it out.)"""
    return exists(
        select(1)
        .select_from(GroupPermission)
        .join(Person, Person.group_id == GroupPermission.group_id)
        .where(
            Person.id == person_id,
            GroupPermission.module_key == module.key,
            _COLUMN[action],
        )
    )


def right_column(actor: Actor, module: Module, action: Action) -> ColumnElement[bool]:
    """Whether ``actor`` may do ``action`` in ``module``, as a column of a query that reads
    anyway (always true for a system actor); a false answer is confirmed with ``require``."""
    return true() if actor.is_system else granted_to(actor.person_id, module, action)


def within_rights(
    actor: Actor, group_id: ColumnElement[Any] | QueryableAttribute[Any]
) -> ColumnElement[bool]:
    """``require_within_own_rights`` as a condition of a query (``group_id``: a column): true
    when that group has no right the actor's group lacks, or is none. Only to decide in the
    same statement whether a short way may be taken: a false answer is told in words by
    ``require_within_own_rights`` (tests/core/test_permissions_rule_in_sql.py holds the two
    to the same answers)."""
    if actor.is_system:
        return true()
    theirs, mine = aliased(GroupPermission), aliased(GroupPermission)
    own_group = select(Person.group_id).where(Person.id == actor.person_id).scalar_subquery()
    lacking = or_(
        *(
            and_(getattr(theirs, column), ~func.coalesce(getattr(mine, column), false()))
            for column in ("can_read", "can_edit", "can_delete")
        )
    )
    beyond = exists(
        select(1)
        .select_from(theirs)
        .outerjoin(mine, and_(mine.group_id == own_group, mine.module_key == theirs.module_key))
        .where(theirs.group_id == group_id, lacking)
    )
    return or_(group_id.is_(None), ~beyond)


def require(session: Session | Connection, actor: Actor, module: Module, action: Action) -> None:
    if not can(session, actor, module, action):
        raise PermissionDenied(refusal(module, action))


def refusal(module: Module, action: Action) -> Text:
    """``require``'s sentence (the hardened server says the same words)."""
    return _REFUSALS[action].format(module=module.name, right=ACTION_NAMES[action])


def require_any(session: Session, actor: Actor, *alternatives: tuple[Module, Action]) -> None:
    """Pass when any one of the (module, action) pairs is granted; else refuse naming the first."""
    if any(can(session, actor, module, action) for module, action in alternatives):
        return
    module, action = alternatives[0]
    require(session, actor, module, action)


def rights_of(session: Session, person_id: int) -> dict[str, set[Action]]:
    """Every module key mapped to the actions this person's group has."""
    return _rights(
        session.execute(
            select(GroupPermission)
            .join(Person, Person.group_id == GroupPermission.group_id)
            .where(Person.id == person_id)
        ).scalars()
    )


#: The modules somebody must keep administering (Read and Edit), as the refusal names them:
#: System → Security, and System, whose Permissions screen gives every right.
ADMINISTERED: tuple[tuple[Module, str], ...] = (
    (SYSTEM_SECURITY, SYSTEM_SECURITY.name),
    (SYSTEM, translate("permissions", "Permissions (System)")),
)
#: LastAdministratorError's sentence, ``{}`` standing for the modules left without anyone
#: (the server's check says the same words: pmdesk/core/server/rules_sql.py).
LAST_ADMINISTRATOR_SENTENCE = (
    "This change would leave nobody able to administer {}. At least one person with a login "
    "and password must keep Read and Edit there; give another person that right first, then "
    "try again."
)


_LAST_ADMINISTRATOR = translate(
    "permissions",
    "This change would leave nobody able to administer {modules}. At least one person with a "
    "login and password must keep Read and Edit there; give another person that right first, "
    "then try again.",
)


def last_administrator_message(missing: Iterable[str]) -> str:
    names = list(missing)
    modules: str = names[0] if len(names) == 1 else " and ".join(names)
    if len(names) == 2:
        modules = translate("permissions", "{one} and {other}").format(one=names[0], other=names[1])
    return _LAST_ADMINISTRATOR.format(modules=modules)


def administrator_counts(session: Session) -> tuple[int, int]:
    """(people able to administer System → Security, people able to administer Permissions).

    Only accounts that can sign in count (a login and a password), and only when their group
    may both see (Read) and change (Edit) the module: Edit alone gives no screen to change it on.
    """

    def count(module_key: str) -> int:
        return int(
            session.execute(
                select(func.count(Person.id))
                .join(GroupPermission, GroupPermission.group_id == Person.group_id)
                .where(
                    GroupPermission.module_key == module_key,
                    GroupPermission.can_read.is_(True),
                    GroupPermission.can_edit.is_(True),
                    Person.login_key.is_not(None),
                    Person.password_hash.is_not(None),
                )
            ).scalar_one()
        )

    return count(SYSTEM_SECURITY.key), count(SYSTEM.key)


def guard_administrators(session: Session) -> None:
    """Raise LastAdministratorError when the pending changes leave no administrator.

    Call it after flushing the change, inside the same transaction, so the refusal rolls it back.
    """
    session.flush()
    counts = administrator_counts(session)
    missing = [label for (_, label), found in zip(ADMINISTERED, counts, strict=True) if found == 0]
    if missing:
        raise LastAdministratorError(last_administrator_message(missing))


def group_rights(session: Session, group_id: int | None) -> dict[str, set[Action]]:
    """The actions a group has per module key (empty for no group)."""
    if group_id is None:
        return _rights([])
    return _rights(
        session.execute(
            select(GroupPermission).where(GroupPermission.group_id == group_id)
        ).scalars()
    )


def _rights_of_both(
    session: Session, person_id: int, group_id: int
) -> tuple[dict[str, set[Action]], dict[str, set[Action]]]:
    """(what ``person_id``'s group may do, what group ``group_id`` may do): one statement."""
    rows = session.execute(rights_of_both_query(person_id, group_id)).all()
    mine = _rights(row for row, is_mine, _ in rows if is_mine)
    theirs = _rights(row for row, _, is_theirs in rows if is_theirs)
    return mine, theirs


def rights_of_both_query(person_id: int, group_id: int) -> Select[GroupPermission, bool, bool]:
    """The rights of ``person_id``'s group and of group ``group_id``, each row marked whose
    (``require_within_own_rights`` reads it; a unit may read it along: ``reads_along``)."""
    own_group = select(Person.group_id).where(Person.id == person_id).scalar_subquery()
    return select(
        GroupPermission,
        (GroupPermission.group_id == own_group).label("mine"),
        (GroupPermission.group_id == group_id).label("theirs"),
    ).where(or_(GroupPermission.group_id == own_group, GroupPermission.group_id == group_id))


def _rights(rows: Iterable[GroupPermission]) -> dict[str, set[Action]]:
    rights: dict[str, set[Action]] = {m.key: set() for m in MODULES}
    for row in rows:
        rights.setdefault(row.module_key, set()).update(
            action
            for action, allowed in (
                (Action.READ, row.can_read),
                (Action.EDIT, row.can_edit),
                (Action.DELETE, row.can_delete),
            )
            if allowed
        )
    return rights


def require_within_own_rights(
    session: Session, actor: Actor, group_id: int | None, *, doing: str
) -> None:
    """Refuse managing people whose Usergroup can do what the actor cannot.

    Without it Maintenance Edit alone could move oneself into Administrator, or reset an
    administrator's password and sign in as them.
    """
    if actor.is_system or group_id is None:
        return
    assert actor.person_id is not None
    mine, theirs = _rights_of_both(session, actor.person_id, group_id)
    names = {m.key: m.name for m in MODULES}
    beyond = [
        translate("permissions", "{module} {right}").format(
            module=names.get(key, key), right=ACTION_NAMES[action]
        )
        for key, actions in theirs.items()
        for action in Action
        if action in actions and action not in mine.get(key, set())
    ]
    if beyond:
        shown = joined(beyond[:3], ", ")
        if len(beyond) > 3:
            shown = translate("permissions", "{rights} and {count} more").format(
                rights=shown, count=len(beyond) - 3
            )
        raise PermissionDenied(
            translate(
                "permissions",
                "You cannot {doing}: that user group has rights your own group lacks ({rights}). "
                "Ask an administrator who has them.",
            ).format(doing=doing, rights=shown)
        )
