"""System → Permissions: the grid, groups, and the last-administrator guard."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from pmdesk.core.audit import Event
from pmdesk.core.context import Actor, CoreContext
from pmdesk.core.errors import (
    ConflictError,
    LastAdministratorError,
    PermissionDenied,
    ValidationError,
)
from pmdesk.core.groups import GridRow, GroupNotEmpty, GroupService
from pmdesk.core.models import AuditEvent, Person
from pmdesk.core.modules import MODULES
from pmdesk.core.permissions import administrator_counts
from pmdesk.core.personnel import PersonnelService
from tests.helpers.databases import stage
from tests.helpers.staff import ADMIN_GROUP_ID, actor, add_group, add_person


def audit_rows(ctx: CoreContext, event: Event) -> list[AuditEvent]:
    with stage(ctx.db) as s:
        return list(
            s.execute(
                select(AuditEvent).where(AuditEvent.event == event.value).order_by(AuditEvent.id)
            ).scalars()
        )


def without(rows: list[GridRow], key: str, **change: bool) -> list[GridRow]:
    """The rows with one module's rights changed (read=, edit=, delete=)."""
    return [
        GridRow(
            r.module_key,
            r.module_name,
            change.get("read", r.read),
            change.get("edit", r.edit),
            change.get("delete", r.delete),
        )
        if r.module_key == key
        else r
        for r in rows
    ]


@pytest.fixture
def root(ctx: CoreContext) -> Actor:
    return actor(add_person(ctx.db, "root"), "root")


def test_the_grid_lists_every_module_in_the_products_order(ctx: CoreContext, root: Actor) -> None:
    grid = GroupService(ctx).grid(root, ADMIN_GROUP_ID)
    assert grid.group_name == "Administrator"
    assert [r.module_name for r in grid.rows] == [m.name for m in MODULES]
    assert grid.rows[-1] == ("system.security", "System → Security", True, True, True)
    clerks = add_group(ctx.db, "Clerks", {"job": "r", "invoicing": "e"})
    rows = {r.module_key: r for r in GroupService(ctx).grid(root, clerks).rows}
    assert (rows["job"].read, rows["job"].edit) == (True, False)
    assert (rows["invoicing"].read, rows["invoicing"].edit) == (False, True)


def test_saving_the_grid_keeps_it_as_given_and_is_audited(ctx: CoreContext, root: Actor) -> None:
    service = GroupService(ctx)
    clerks = add_group(ctx.db, "Clerks")
    grid = service.grid(root, clerks)
    rows = without(grid.rows, "job", edit=True)  # Edit without Read gets Read (issue 19, 17)
    rows = without(rows, "system.log", read=True, delete=True)
    saved = service.save_grid(root, clerks, grid.version, rows)
    assert saved.version == grid.version + 1
    assert service.grid(root, clerks) == saved
    got = {r.module_key: r for r in saved.rows}
    assert (got["job"].read, got["job"].edit, got["job"].delete) == (True, True, False)
    assert (got["system.log"].read, got["system.log"].delete) == (True, True)
    (row,) = audit_rows(ctx, Event.PERMISSION_CHANGED)
    assert (row.actor, row.subject) == ("root", "Clerks")
    assert row.detail == "Job: none → read+edit; System → Log: none → read+delete"

    # A second admin who opened the grid before that save is told, and nothing is overwritten.
    with pytest.raises(ConflictError, match="changed on another workstation"):
        service.save_grid(root, clerks, grid.version, without(grid.rows, "report", read=True))
    assert service.grid(root, clerks) == saved
    with pytest.raises(ValidationError, match="Unknown module: nonsense"):
        service.save_grid(root, clerks, saved.version, [("nonsense", "", True, True, True)])


def test_the_grid_cannot_take_away_the_last_administrator(ctx: CoreContext, root: Actor) -> None:
    service = GroupService(ctx)
    grid = service.grid(root, ADMIN_GROUP_ID)
    for key, change in (
        ("system.security", {"edit": False}),
        ("system.security", {"read": False, "edit": False, "delete": False}),
        ("system", {"edit": False}),
    ):
        with pytest.raises(LastAdministratorError, match="nobody able to administer"):
            service.save_grid(root, ADMIN_GROUP_ID, grid.version, without(grid.rows, key, **change))
    assert service.grid(root, ADMIN_GROUP_ID) == grid
    assert audit_rows(ctx, Event.PERMISSION_CHANGED) == []

    # People who cannot sign in do not count as administrators.
    admins2 = add_group(ctx.db, "Admins 2", {"system": "re", "system.security": "re"})
    add_person(ctx.db, "nopassword", group_id=admins2, password=False)
    add_person(ctx.db, None, group_id=admins2)
    with pytest.raises(LastAdministratorError):
        service.save_grid(
            root, ADMIN_GROUP_ID, grid.version, without(grid.rows, "system", edit=False)
        )
    # Someone else who can sign in and administer: now it is allowed.
    add_person(ctx.db, "deputy", group_id=admins2)
    assert administrator_counts_now(ctx) == (2, 2)
    saved = service.save_grid(
        root, ADMIN_GROUP_ID, grid.version, without(grid.rows, "system", edit=False)
    )
    assert not {r.module_key: r for r in saved.rows}["system"].edit
    assert administrator_counts_now(ctx) == (2, 1)


def administrator_counts_now(ctx: CoreContext) -> tuple[int, int]:
    with stage(ctx.db) as s:
        return administrator_counts(s)


def test_moving_or_deleting_the_last_administrator_is_refused(ctx: CoreContext) -> None:
    root_id = add_person(ctx.db, "root", email="root@example.com")
    root = actor(root_id, "root")
    clerks = add_group(ctx.db, "Clerks", {"maintenance": "red"})
    helpdesk = actor(add_person(ctx.db, "helpdesk", group_id=clerks), "helpdesk")
    personnel = PersonnelService(ctx)

    record = personnel.get(root, root_id)
    with pytest.raises(LastAdministratorError, match="nobody able to administer"):
        personnel.update(root, root_id, record.version, replace(record.form, group_id=clerks))
    # Maintenance Delete alone may not remove someone with more rights than its own group...
    with pytest.raises(PermissionDenied, match="rights your own group lacks"):
        personnel.delete(helpdesk, root_id, record.version)
    # ...and even the command line may not remove the last administrator.
    with pytest.raises(LastAdministratorError):
        personnel.delete(Actor.command_line(), root_id, record.version)
    with stage(ctx.db) as s:
        person = s.get(Person, root_id)
        assert person is not None and person.group_id == ADMIN_GROUP_ID
    with pytest.raises(PermissionDenied, match="own account"):
        personnel.delete(root, root_id, record.version)


def test_groups_are_created_renamed_and_deleted(ctx: CoreContext, root: Actor) -> None:
    service = GroupService(ctx)
    for bad, message in (
        ("", "required"),
        ("   ", "required"),
        ("x" * 101, "at most 100"),
        ("tab\there", "control"),
        (" ADMINISTRATOR ", "already a group called 'Administrator'"),
    ):
        with pytest.raises(ValidationError, match=message) as refused:
            service.create(root, bad)
        assert set(refused.value.errors) == {"name"}

    created = service.create(root, "  Workshop staff ")
    assert (created.name, created.members) == ("Workshop staff", 0)
    grid = service.grid(root, created.id)
    assert not any(r.read or r.edit or r.delete for r in grid.rows), "a new group has no right"
    assert [g.name for g in service.list(root)] == ["Administrator", "Workshop staff"]

    renamed = service.rename(root, created.id, "Mechanics", created.version)
    assert renamed.name == "Mechanics" and renamed.version == created.version + 1
    with pytest.raises(ConflictError):
        service.rename(root, created.id, "Stale", created.version)
    with pytest.raises(ValidationError, match="already a group"):
        service.rename(root, created.id, "administrator", renamed.version)
    same = service.rename(root, created.id, "MECHANICS", renamed.version)  # case only: fine
    assert same.name == "MECHANICS"
    assert [r.detail for r in audit_rows(ctx, Event.GROUP_RENAMED)] == [
        "Workshop staff → Mechanics",
        "Mechanics → MECHANICS",
    ]

    add_person(ctx.db, "mech1", group_id=created.id)
    add_person(ctx.db, "mech2", group_id=created.id)
    with pytest.raises(GroupNotEmpty, match="2 people are still in it"):
        service.delete(root, created.id)
    with pytest.raises(GroupNotEmpty, match=r"Administrator.*1 person is still in it"):
        service.delete(root, ADMIN_GROUP_ID)
    empty = service.create(root, "Temporary")
    service.delete(root, empty.id)
    assert [g.name for g in service.list(root)] == ["Administrator", "MECHANICS"]
    assert [r.subject for r in audit_rows(ctx, Event.GROUP_CREATED)] == [
        "Workshop staff",
        "Temporary",
    ]
    assert [r.subject for r in audit_rows(ctx, Event.GROUP_DELETED)] == ["Temporary"]


def test_groups_need_system_rights(ctx: CoreContext, root: Actor) -> None:
    service = GroupService(ctx)
    nobody = actor(add_person(ctx.db, "nobody", group_id=add_group(ctx.db, "Nobody")))
    editor = actor(add_person(ctx.db, "editor", group_id=add_group(ctx.db, "Ed", {"system": "re"})))
    target = service.create(root, "Target")
    grid = service.grid(root, target.id)
    for call in (
        lambda a: service.list(a),
        lambda a: service.grid(a, target.id),
        lambda a: service.save_grid(a, target.id, grid.version, grid.rows),
        lambda a: service.create(a, "New"),
        lambda a: service.rename(a, target.id, "Other", target.version),
        lambda a: service.delete(a, target.id),
    ):
        with pytest.raises(PermissionDenied, match="System"):
            call(nobody)
    # System Edit may change the grid and names, but deleting a group needs System Delete.
    service.rename(editor, target.id, "Renamed", target.version)
    with pytest.raises(PermissionDenied, match="may not delete in System"):
        service.delete(editor, target.id)
    assert "Renamed" in [g.name for g in service.list(root)]
