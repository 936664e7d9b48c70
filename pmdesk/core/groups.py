"""User groups and their permission grid (System → Permissions).

Reading needs System Read; saving the grid, creating and renaming need System Edit; deleting a
group needs System Delete. No change may leave nobody able to administer System → Security and
Permissions (``guard_administrators``). Edit or Delete implies Read: a row saved with Edit or
Delete but without Read is saved with Read as well (``with_implied_read``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from pmdesk.core import audit
from pmdesk.core.audit import Event
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import ConflictError, NotFound, PmdeskError, ValidationError, message_of
from pmdesk.core.i18n import translate
from pmdesk.core.models import GroupPermission, Person, UserGroup
from pmdesk.core.modules import MODULES, SYSTEM, Action
from pmdesk.core.permissions import guard_administrators, require
from pmdesk.core.validation import FieldInvalid, clean_text

_MODULE_NAMES = {m.key: m.name for m in MODULES}


@dataclass(frozen=True)
class GroupSummary:
    id: int
    name: str
    members: int
    version: int = 0


class GridRow(NamedTuple):
    """One line of the grid: (module_key, module_name, read, edit, delete)."""

    module_key: str
    module_name: str
    read: bool
    edit: bool
    delete: bool


@dataclass(frozen=True)
class PermissionGrid:
    group_id: int
    group_name: str
    version: int
    rows: list[GridRow]


def with_implied_read(read: bool, edit: bool, delete: bool) -> tuple[bool, bool, bool]:
    """One module's rights as saved: Edit or Delete without Read gets Read too (a screen that
    cannot be seen cannot be changed)."""
    return (read or edit or delete, edit, delete)


class GroupNotEmpty(PmdeskError):
    """A group with people in it cannot be deleted."""

    def __init__(self, name: str, members: int) -> None:
        self.members = members
        if members == 1:
            message = translate(
                "groups",
                "The group '{name}' cannot be deleted: 1 person is still in it. Move them to "
                "another group in Maintenance → Personnel first.",
            )
        else:
            message = translate(
                "groups",
                "The group '{name}' cannot be deleted: {count} people are still in it. Move "
                "them to another group in Maintenance → Personnel first.",
            )
        super().__init__(message.format(name=name, count=members))


# ----- helpers usable in another transaction (CLI, first-run setup) ------------------------


def list_groups(s: Session) -> list[GroupSummary]:
    members = (
        select(Person.group_id, func.count(Person.id).label("n"))
        .group_by(Person.group_id)
        .subquery()
    )
    rows = s.execute(
        select(UserGroup.id, UserGroup.name, func.coalesce(members.c.n, 0), UserGroup.version)
        .outerjoin(members, members.c.group_id == UserGroup.id)
        .order_by(UserGroup.name_key, UserGroup.id)
    ).all()
    return [GroupSummary(r[0], r[1], int(r[2]), r[3]) for r in rows]


def find_group(s: Session, name: str) -> UserGroup | None:
    return s.execute(
        select(UserGroup).where(UserGroup.name_key == name_key(name))
    ).scalar_one_or_none()


def name_key(name: str) -> str:
    """The case-insensitive key, cut to its column: lower() can lengthen a name ('İ' becomes
    'i' + a combining dot), and PostgreSQL and MariaDB refuse a key longer than its column."""
    return name.strip().lower()[:_NAME_KEY_LENGTH]


_NAME_KEY_LENGTH = int(getattr(UserGroup.__table__.columns["name_key"].type, "length", 100))


def clean_group_name(name: str) -> str:
    """1–100 characters, no control characters; raises ValidationError on the 'name' field."""
    try:
        return clean_text(
            name, label=translate("groups", "The group name"), max_length=100, required=True
        )
    except FieldInvalid as exc:
        raise ValidationError({"name": message_of(exc)}) from exc


def grid_of(s: Session, group: UserGroup) -> PermissionGrid:
    granted = {p.module_key: p for p in group.permissions}
    rows = []
    for module in MODULES:
        p = granted.get(module.key)
        rows.append(
            GridRow(
                module.key,
                module.name,
                bool(p and p.can_read),
                bool(p and p.can_edit),
                bool(p and p.can_delete),
            )
        )
    return PermissionGrid(group.id, group.name, group.version, rows)


# ----- the service --------------------------------------------------------------------------


class GroupService:
    def __init__(self, ctx: CoreContext) -> None:
        self._ctx = ctx

    def list(self, actor: Actor) -> list[GroupSummary]:
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM, Action.READ)
            return list_groups(s)

    def grid(self, actor: Actor, group_id: int) -> PermissionGrid:
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM, Action.READ)
            return grid_of(s, _load(s, group_id))

    def save_grid(
        self,
        actor: Actor,
        group_id: int,
        expected_version: int,
        rows: Sequence[GridRow | tuple[str, str, bool, bool, bool]],
    ) -> PermissionGrid:
        """Save the grid as given ("Save Permissions"); modules left out keep their rights."""
        wanted: dict[str, tuple[bool, bool, bool]] = {}
        unknown = []
        for row in rows:
            key, _name, read, edit, delete = row
            if key not in _MODULE_NAMES:
                unknown.append(key)
            wanted[key] = with_implied_read(bool(read), bool(edit), bool(delete))
        if unknown:
            raise ValidationError(
                {
                    "rows": translate("groups", "Unknown module: {modules}.").format(
                        modules=", ".join(map(str, unknown))
                    )
                }
            )
        with self._writing(actor, Action.EDIT) as s:
            group = _load(s, group_id)
            _check_version(group, expected_version)
            current = {p.module_key: p for p in group.permissions}
            changes = []
            for module in MODULES:
                if module.key not in wanted:
                    continue
                read, edit, delete = wanted[module.key]
                p = current.get(module.key)
                before = (bool(p.can_read), bool(p.can_edit), bool(p.can_delete)) if p else None
                if before == (read, edit, delete):
                    continue
                if p is None:
                    p = GroupPermission(group_id=group.id, module_key=module.key)
                    group.permissions.append(p)
                p.can_read, p.can_edit, p.can_delete = read, edit, delete
                changes.append(
                    f"{module.name}: {_rights(before)} → {_rights((read, edit, delete))}"
                )
            if changes:
                flag_modified(group, "name")  # the grid belongs to the group: bump its version
                guard_administrators(s)
                audit.record(
                    s,
                    self._ctx.clock,
                    actor,
                    Event.PERMISSION_CHANGED,
                    subject=group.name,
                    detail="; ".join(changes),
                )
            s.flush()
            return grid_of(s, group)

    def create(self, actor: Actor, name: str) -> GroupSummary:
        """A new group without any right."""
        clean = clean_group_name(name)
        with self._writing(actor, Action.EDIT) as s:
            _check_free(s, clean, None)
            group = UserGroup(name=clean, name_key=name_key(clean))
            group.permissions = [GroupPermission(module_key=m.key) for m in MODULES]
            s.add(group)
            _flush_unique(s)
            audit.record(s, self._ctx.clock, actor, Event.GROUP_CREATED, subject=clean)
            return GroupSummary(group.id, group.name, 0, group.version)

    def rename(self, actor: Actor, group_id: int, name: str, expected_version: int) -> GroupSummary:
        clean = clean_group_name(name)
        with self._writing(actor, Action.EDIT) as s:
            group = _load(s, group_id)
            _check_version(group, expected_version)
            old = group.name
            if clean != old:
                _check_free(s, clean, group.id)
                group.name = clean
                group.name_key = name_key(clean)
                _flush_unique(s)
                audit.record(
                    s,
                    self._ctx.clock,
                    actor,
                    Event.GROUP_RENAMED,
                    subject=clean,
                    detail=f"{old} → {clean}",
                )
            return GroupSummary(group.id, group.name, _members(s, group.id), group.version)

    def check_deletable(self, actor: Actor, group_id: int) -> None:
        """Raise GroupNotEmpty (or NotFound) now, before the user is asked to confirm; ``delete``
        checks again in its own transaction."""
        with self._ctx.db.session() as s:
            require(s, actor, SYSTEM, Action.DELETE)
            group = _load(s, group_id)
            members = _members(s, group.id)
            if members:
                raise GroupNotEmpty(group.name, members)

    def delete(self, actor: Actor, group_id: int) -> None:
        """Delete an empty group (System Delete)."""
        with self._writing(actor, Action.DELETE) as s:
            group = _load(s, group_id, lock=True)
            members = _members(s, group.id)
            if members:
                raise GroupNotEmpty(group.name, members)
            name = group.name
            s.delete(group)
            guard_administrators(s)
            audit.record(s, self._ctx.clock, actor, Event.GROUP_DELETED, subject=name)

    # ----- internals -------------------------------------------------------------------------

    @contextmanager
    def _writing(self, actor: Actor, action: Action) -> Iterator[Session]:
        """A write transaction that needs System ``action``; a lost race becomes ConflictError."""
        try:
            with self._ctx.db.write_session() as s:
                require(s, actor, SYSTEM, action)
                yield s
        except StaleDataError as exc:
            raise ConflictError(
                translate(
                    "groups",
                    "This group was changed on another workstation at the same moment. "
                    "Reload it and make your change again.",
                )
            ) from exc


def _load(s: Session, group_id: int, *, lock: bool = False) -> UserGroup:
    group = s.get(UserGroup, group_id, with_for_update=lock or None)
    if group is None:
        raise NotFound(
            translate(
                "groups", "This user group no longer exists (another workstation deleted it)."
            )
        )
    return group


def _check_version(group: UserGroup, expected_version: int) -> None:
    if group.version != expected_version:
        raise ConflictError(
            translate(
                "groups",
                "The group '{name}' was changed on another workstation since you opened it. "
                "Reload it to see the current permissions, then make your change again.",
            ).format(name=group.name),
            current=group.version,
        )


def _check_free(s: Session, name: str, own_id: int | None) -> None:
    other = find_group(s, name)
    if other is not None and other.id != own_id:
        raise ValidationError(
            {
                "name": translate("groups", "There is already a group called '{name}'.").format(
                    name=other.name
                )
            }
        )


def _flush_unique(s: Session) -> None:
    try:
        with s.begin_nested():
            s.flush()
    except IntegrityError as exc:
        raise ValidationError(
            {
                "name": translate(
                    "groups", "There is already a group with this name (just created elsewhere)."
                )
            }
        ) from exc


def _members(s: Session, group_id: int) -> int:
    return int(
        s.execute(select(func.count(Person.id)).where(Person.group_id == group_id)).scalar_one()
    )


def _rights(value: tuple[bool, bool, bool] | None) -> str:
    if not value or not any(value):
        return "none"
    return "+".join(n for n, on in zip(("read", "edit", "delete"), value, strict=True) if on)
