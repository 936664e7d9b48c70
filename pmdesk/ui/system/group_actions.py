"""System → Permissions' group actions: New group, Rename and Delete group.

Each asks what it needs (a name, a confirmation), runs the core's call as the page's
``Operation`` and reports back on the page; the page keeps the state (the groups, the grid).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol, cast

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QWidget

from pmdesk.core.groups import GroupSummary
from pmdesk.ui.message_boxes import ask


class PermissionsPage(Protocol):
    """What these actions use of System → Permissions (pmdesk.ui.system.permissions; named
    here, not imported: that page imports this module)."""

    actor: Any
    current_grid: Any
    delete_checking: Any
    deleting: Any
    grid: Any
    groups: Any
    message: Any
    selector: Any
    service: Any

    def forget_group(self, *args: Any, **kwargs: Any) -> Any: ...
    def load_groups(self, *args: Any, **kwargs: Any) -> Any: ...
    def reload_current(self, *args: Any, **kwargs: Any) -> Any: ...
    def update_buttons(self, *args: Any, **kwargs: Any) -> Any: ...


translate = QCoreApplication.translate


def new_group(page: PermissionsPage) -> None:
    """Ask for a name and create the group (without any right yet)."""
    service, actor = page.service, page.actor

    def create(name: str) -> Callable[[], GroupSummary]:
        return lambda: service.create(actor, name)

    def done(group: GroupSummary) -> None:
        page.message.show_success(
            translate(
                "PermissionsPage",
                "Group {group} created, without any right yet: tick what it may do, "
                "then Save Permissions.",
            ).format(group=group.name)
        )
        page.load_groups(group.id, keep_message=True)

    title = translate("PermissionsPage", "New user group")
    page.selector.ask_name(
        (title, translate("PermissionsPage", "Create"), ""), create, done, page.reload_current
    )


def rename_group(page: PermissionsPage) -> None:
    """Ask for the chosen group's new name; ticks not saved yet stay."""
    grid = page.current_grid
    if grid is None:
        return
    service, actor = page.service, page.actor
    group_id = grid.group_id

    def rename(name: str) -> Callable[[], GroupSummary]:
        version = page.current_grid.version if page.current_grid else grid.version
        return lambda: service.rename(actor, group_id, name, version)

    def done(group: GroupSummary) -> None:
        current = page.current_grid
        if current is not None and current.group_id == group.id:
            # Only the name changed: unsaved ticks stay and will save on the new version.
            page.current_grid = replace(current, group_name=group.name, version=group.version)
        page.groups = [group if g.id == group.id else g for g in page.groups]
        page.selector.renamed(group)
        page.message.show_success(
            translate("PermissionsPage", "Group renamed to {group}.").format(group=group.name)
        )
        page.update_buttons()

    texts = (
        translate("PermissionsPage", "Rename user group"),
        translate("PermissionsPage", "Rename"),
        grid.group_name,
    )
    page.selector.ask_name(texts, rename, done, page.reload_current)


def delete_group(page: PermissionsPage) -> None:
    """Refuse first (a group with people in it); ask only when it can be deleted."""
    grid = page.current_grid
    if grid is None:
        return
    service, actor = page.service, page.actor
    group_id, name = grid.group_id, grid.group_name

    def deleted(_none: object) -> None:
        page.current_grid = None
        page.grid.load(None)
        page.forget_group()
        page.message.show_success(
            translate("PermissionsPage", "Group {group} deleted.").format(group=name)
        )
        page.load_groups(keep_message=True)

    def confirmed() -> None:
        page.message.clear_message()
        page.deleting.run(lambda: service.delete(actor, group_id), deleted)

    def deletable(_none: object) -> None:
        ask(
            cast(QWidget, page),  # the page is a QWidget; the protocol cannot say so
            translate("PermissionsPage", "Delete user group"),
            translate("PermissionsPage", "Delete the group {group}?").format(group=name),
            translate("PermissionsPage", "Delete group"),
            confirmed,
            danger=True,
            informative=translate(
                "PermissionsPage", "Its permissions are removed with it. This cannot be undone."
            ),
        )

    page.message.clear_message()
    page.delete_checking.run(lambda: service.check_deletable(actor, group_id), deletable)
